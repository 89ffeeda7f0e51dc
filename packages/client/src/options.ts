import { DEFAULT_MAX_DATA_BYTES } from '@zabkit/protocol';

/** Where the client reports what it cannot throw (undecodable frames, dropped connections). */
export interface Logger {
  debug?(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
}

/**
 * Backoff between connection attempts (passed to p-retry). One attempt tries
 * every server in the list once; the delay comes only between passes.
 */
export interface RetryOptions {
  /**
   * Passes over the server list after the first one for the INITIAL connect before `connect()` rejects.
   * Reconnecting an established session never gives up on its own: it stops when a
   * server says the session expired or when you call `close()`.
   * Default: 10. Example: `{ retries: 3 }`.
   */
  retries?: number;
  /** Delay before the second pass, in ms (short: an election is over in a few hundred ms). Default: 30. Example: `{ minTimeout: 100 }`. */
  minTimeout?: number;
  /** Upper bound of the delay between attempts, in ms. Default: 2000. Example: `{ maxTimeout: 5000 }`. */
  maxTimeout?: number;
  /** Exponential factor of the backoff. Default: 2. */
  factor?: number;
  /** Randomize each delay by a factor between 1 and 2. Default: true. */
  randomize?: boolean;
}

export interface ConnectOptions {
  /**
   * Session timeout requested from the server, in ms; the server clamps it
   * (ZooKeeper style: between 2 and 20 ticks) and `client.sessionTimeoutMs`
   * holds the negotiated value.
   * Default: 30000. Example: `{ sessionTimeoutMs: 10_000 }`.
   */
  sessionTimeoutMs?: number;
  /**
   * Default time limit of every request, in ms, including time spent waiting
   * for a reconnection. Exceeding it rejects with OperationTimeout (the request
   * may still be applied). Each call can override it with `timeoutMs`.
   * Default: 10000. Example: `{ requestTimeoutMs: 2_000 }`.
   */
  requestTimeoutMs?: number;
  /**
   * Limit of one connection attempt (socket open and handshake), in ms.
   * Default: 5000. Example: `{ connectTimeoutMs: 1_000 }`.
   */
  connectTimeoutMs?: number;
  /**
   * Backoff between connection attempts (p-retry options).
   * Default: `{ retries: 10, minTimeout: 30, maxTimeout: 2000, factor: 2, randomize: true }`.
   * Example: `{ retry: { retries: 2, minTimeout: 10 } }`.
   */
  retry?: RetryOptions;
  /**
   * Aborts the initial connect: `connect()` rejects with an Aborted error.
   * Has no effect once connected. Example: `{ signal: AbortSignal.timeout(5_000) }`.
   */
  signal?: AbortSignal;
  /**
   * Largest data (znode data, or the sum over a multi) the client sends; bigger
   * requests fail with RequestTooLarge without a round trip. Once connected the
   * server's advertised limit is used.
   * Default: 1 MiB (1048576). Example: `{ maxDataBytes: 512 * 1024 }`.
   */
  maxDataBytes?: number;
  /**
   * Shuffle the server list once before connecting (spreads clients over the
   * ensemble). Default: true. Example: `{ shuffle: false }` to try servers in order.
   */
  shuffle?: boolean;
  /** Receives warnings the client cannot throw. Default: none (silent). Example: `{ logger: console }`. */
  logger?: Logger;
}

export interface ResolvedOptions {
  sessionTimeoutMs: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  retry: Required<RetryOptions>;
  maxDataBytes: number;
  shuffle: boolean;
  logger: Logger | undefined;
}

/** Per-call options every method accepts. */
export interface CallOptions {
  /** Aborts the call: it rejects with an Aborted error (a write may still be applied). */
  signal?: AbortSignal;
  /** Overrides the client's `requestTimeoutMs` for this call. */
  timeoutMs?: number;
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TypeError(`${name} must be a positive number`);
  return v;
}

export function resolveOptions(o: ConnectOptions = {}): ResolvedOptions {
  return {
    sessionTimeoutMs: positive('sessionTimeoutMs', o.sessionTimeoutMs, 30_000),
    requestTimeoutMs: positive('requestTimeoutMs', o.requestTimeoutMs, 10_000),
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs, 5_000),
    retry: {
      retries: o.retry?.retries ?? 10,
      minTimeout: o.retry?.minTimeout ?? 30,
      maxTimeout: o.retry?.maxTimeout ?? 2_000,
      factor: o.retry?.factor ?? 2,
      randomize: o.retry?.randomize ?? true,
    },
    maxDataBytes: positive('maxDataBytes', o.maxDataBytes, DEFAULT_MAX_DATA_BYTES),
    shuffle: o.shuffle ?? true,
    logger: o.logger,
  };
}
