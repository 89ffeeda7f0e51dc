/**
 * Error codes by the names ZooKeeper users know. The wire carries the name
 * (a string), so logs and captures read naturally; `ERROR_NUMBERS` keeps the
 * numeric values ZooKeeper uses, for users who map between the two.
 */
export const ERROR_NUMBERS = {
  Ok: 0,
  SystemError: -1,
  RuntimeInconsistency: -2,
  DataInconsistency: -3,
  ConnectionLoss: -4,
  MarshallingError: -5,
  Unimplemented: -6,
  OperationTimeout: -7,
  BadArguments: -8,
  UnknownSession: -12,
  APIError: -100,
  NoNode: -101,
  NoAuth: -102,
  BadVersion: -103,
  NoChildrenForEphemerals: -108,
  NodeExists: -110,
  NotEmpty: -111,
  SessionExpired: -112,
  InvalidCallback: -113,
  InvalidACL: -114,
  AuthFailed: -115,
  SessionMoved: -118,
  NotReadOnly: -119,
  NoWatcher: -121,
  RequestTimeout: -122,
  QuotaExceeded: -125,
  ThrottledOp: -127,
  // zabkit beyond ZooKeeper: a request over the size limit gets its own code
  // instead of a dropped connection.
  RequestTooLarge: -1001,
  // The server is not serving (electing, syncing, or shutting down).
  NotServing: -1002,
  // The request was aborted by the caller's AbortSignal.
  Aborted: -1003,
  // The client handle was closed before the request completed.
  Closed: -1004,
  // A read asked for a watch past the session's cap (maxWatchesPerSession); nothing was registered.
  TooManyWatches: -1005,
  // The reply would exceed the frame limit (e.g. getChildren of a huge node); the connection stays up.
  ResponseTooLarge: -1006,
} as const;

export type ErrorCode = keyof typeof ERROR_NUMBERS;

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ERROR_NUMBERS, v);
}

/**
 * Codes whose operation may be retried safely by a policy (the request may or
 * may not have been applied for ConnectionLoss/OperationTimeout: callers of
 * non-idempotent writes decide).
 */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ConnectionLoss',
  'OperationTimeout',
  'NotServing',
  'SessionMoved',
  'ThrottledOp',
  'RequestTimeout',
]);
