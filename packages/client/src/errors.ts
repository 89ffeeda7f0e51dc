import { RETRYABLE_CODES, isErrorCode, type ErrorCode } from '@zabkit/protocol';
import type { OpResult } from './ops.js';

export interface ZabErrorOptions {
  path?: string;
  cause?: unknown;
  /** For a failed multi: the per-op outcome (Ok ops, the failing op's code, RuntimeInconsistency after it). */
  results?: OpResult[];
  /** For a failed multi: index of the op that failed. */
  failedOpIndex?: number;
}

/**
 * Every error the client reports. `code` is the stable ZooKeeper-style name,
 * `retryable` tells a retry policy (p-retry's `shouldRetry`) whether trying
 * again can help.
 */
export class ZabError extends Error {
  override name = 'ZabError';
  readonly code: ErrorCode;
  readonly path?: string;
  readonly retryable: boolean;
  readonly results?: OpResult[];
  readonly failedOpIndex?: number;

  constructor(code: ErrorCode, message: string, options: ZabErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = RETRYABLE_CODES.has(code);
    if (options.path !== undefined) this.path = options.path;
    if (options.results !== undefined) this.results = options.results;
    if (options.failedOpIndex !== undefined) this.failedOpIndex = options.failedOpIndex;
  }

  /** Builds the most specific subclass for a code. */
  static from(code: ErrorCode | string, message?: string, path?: string, options: Omit<ZabErrorOptions, 'path'> = {}): ZabError {
    const c: ErrorCode = isErrorCode(code) ? code : 'SystemError';
    const text = message && message.length > 0 ? message : path !== undefined ? `${c}: ${path}` : c;
    const Ctor = SUBCLASSES[c] ?? ZabError;
    const opts: ZabErrorOptions = { ...options };
    if (path !== undefined) opts.path = path;
    return Ctor === ZabError ? new ZabError(c, text, opts) : new (Ctor as SubclassCtor)(text, opts);
  }
}

type SubclassCtor = new (message: string, options?: ZabErrorOptions) => ZabError;

function sub<C extends ErrorCode>(code: C, name: string): SubclassCtor {
  const cls = class extends ZabError {
    constructor(message: string = code, options: ZabErrorOptions = {}) {
      super(code, message, options);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const NoNodeError = sub('NoNode', 'NoNodeError');
export const NodeExistsError = sub('NodeExists', 'NodeExistsError');
export const BadVersionError = sub('BadVersion', 'BadVersionError');
export const NotEmptyError = sub('NotEmpty', 'NotEmptyError');
export const NoChildrenForEphemeralsError = sub('NoChildrenForEphemerals', 'NoChildrenForEphemeralsError');
export const SessionExpiredError = sub('SessionExpired', 'SessionExpiredError');
export const ConnectionLossError = sub('ConnectionLoss', 'ConnectionLossError');
export const OperationTimeoutError = sub('OperationTimeout', 'OperationTimeoutError');
export const BadArgumentsError = sub('BadArguments', 'BadArgumentsError');
export const RequestTooLargeError = sub('RequestTooLarge', 'RequestTooLargeError');
export const NotServingError = sub('NotServing', 'NotServingError');
export const AbortedError = sub('Aborted', 'AbortedError');
export const ClosedError = sub('Closed', 'ClosedError');
export const NoAuthError = sub('NoAuth', 'NoAuthError');
export const SessionMovedError = sub('SessionMoved', 'SessionMovedError');
export const UnimplementedError = sub('Unimplemented', 'UnimplementedError');
export const TooManyWatchesError = sub('TooManyWatches', 'TooManyWatchesError');
export const ResponseTooLargeError = sub('ResponseTooLarge', 'ResponseTooLargeError');

const SUBCLASSES: Partial<Record<ErrorCode, SubclassCtor>> = {
  NoNode: NoNodeError,
  NodeExists: NodeExistsError,
  BadVersion: BadVersionError,
  NotEmpty: NotEmptyError,
  NoChildrenForEphemerals: NoChildrenForEphemeralsError,
  SessionExpired: SessionExpiredError,
  ConnectionLoss: ConnectionLossError,
  OperationTimeout: OperationTimeoutError,
  BadArguments: BadArgumentsError,
  RequestTooLarge: RequestTooLargeError,
  NotServing: NotServingError,
  Aborted: AbortedError,
  Closed: ClosedError,
  NoAuth: NoAuthError,
  SessionMoved: SessionMovedError,
  Unimplemented: UnimplementedError,
  TooManyWatches: TooManyWatchesError,
  ResponseTooLarge: ResponseTooLargeError,
};

/** True for a ZabError whose code may succeed when tried again; use as p-retry's `shouldRetry`. */
export function isRetryable(err: unknown): boolean {
  const e = err !== null && typeof err === 'object' && 'error' in err && !(err instanceof Error) ? (err as { error: unknown }).error : err;
  return e instanceof ZabError && e.retryable;
}

/** True when `err` is a ZabError with the given code. */
export function hasCode(err: unknown, code: ErrorCode): err is ZabError {
  return err instanceof ZabError && err.code === code;
}

/** Internal: the most specific error class for `code`, with full options. */
export function zabError(code: ErrorCode, message: string, options: ZabErrorOptions = {}): ZabError {
  const { path, ...rest } = options;
  return ZabError.from(code, message, path, rest);
}
