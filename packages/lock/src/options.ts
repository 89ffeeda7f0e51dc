import type { CallOptions, DataInput } from '@zabkit/client';

/** Options of `Mutex`, `ReadWriteLock` and `Semaphore`. */
export interface LockOptions {
  /**
   * How long the client may stay `suspended` (disconnected, session possibly
   * still alive) before a lease counts as lost: its `signal` aborts with a
   * ConnectionLoss reason and the lock node is deleted once the client is back.
   * A lease is always lost at once when the session expires, when the client
   * closes, or when someone deletes the lock node.
   *
   * Default: `undefined` = the negotiated session timeout
   * (`client.sessionTimeoutMs`), like Curator's LOST state: by then the
   * ensemble has certainly expired the session and another holder may exist.
   * Use `0` to treat any suspension as loss (safest, more churn) or `Infinity`
   * to wait for the ensemble's verdict (expiry) only; fence your writes in any
   * case, since the ensemble can expire the session before the client knows.
   * Example: `{ lostAfterSuspendedMs: 0 }`.
   */
  lostAfterSuspendedMs?: number;
  /**
   * Data stored in each lock node (visible to other contenders, e.g. a host
   * name for debugging). Default: none (`null`). Example: `{ data: os.hostname() }`.
   */
  data?: DataInput;
}

/** Options of every blocking call: `acquire`, `withLock`, `close`. */
export interface AcquireOptions extends CallOptions {
  /**
   * Aborts the wait: the call rejects with an `Aborted` ZabError and leaves no
   * node behind. Default: none. Example: `{ signal: AbortSignal.timeout(5_000) }`.
   */
  signal?: AbortSignal;
  /**
   * Gives up after this many ms: the call rejects with an `OperationTimeout`
   * ZabError and leaves no node behind. Default: wait forever.
   * Example: `{ timeoutMs: 2_000 }`.
   */
  timeoutMs?: number;
}

/** What `acquire()` resolves to: proof of ownership until released or lost. */
export interface Lease {
  /**
   * Monotonic across holders: the zxid that created the lock node (its czxid).
   * A later holder always has a larger token, so storage that remembers the
   * highest token it has seen can refuse writes from a stale holder.
   */
  readonly fencingToken: bigint;
  /**
   * Aborts when ownership is lost (session expired, suspended past
   * `lostAfterSuspendedMs`, client closed, lock node deleted). `signal.reason`
   * is a ZabError (SessionExpired, ConnectionLoss, Closed or NoNode). Not
   * aborted by a normal `release()`.
   */
  readonly signal: AbortSignal;
  /** Full path of the lock node that proves ownership. */
  readonly node: string;
  /** Releases this lease (once; later calls do nothing). */
  release(): Promise<void>;
  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
