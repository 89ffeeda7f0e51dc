import type { Codec } from './codec.js';

/** Options of `ConfigWatcher` (and of each key of a `ConfigDirectoryWatcher`). */
export interface ConfigWatcherOptions<T> {
  /**
   * How node data becomes a value.
   * Default: JSON (`jsonCodec()`). Example: `{ codec: stringCodec }`.
   */
  codec?: Codec<unknown>;
  /**
   * Checks (and may convert) a decoded value; throw to reject it. A rejected
   * value never replaces the last good one: the watcher emits `invalid` with a
   * `ConfigValidationError` instead.
   * Default: none (every decoded value is accepted as `T`).
   * Example: `{ validate: (v) => MySchema.parse(v) }` (zod), or a hand-written type guard that throws.
   */
  validate?: (value: unknown) => T;
  /**
   * Pause before a read is retried after a retryable error (ConnectionLoss,
   * OperationTimeout ...), in ms; doubles up to 1 s.
   * Default: 50. Example: `{ retryDelayMs: 200 }`.
   */
  retryDelayMs?: number;
}

/** Options of every call that can wait. */
export interface WaitOptions {
  /** Aborts the wait (rejects with an Aborted error). Example: `{ signal: AbortSignal.timeout(5_000) }`. */
  signal?: AbortSignal;
  /** Rejects with OperationTimeout after this many ms. Default: no limit (the client's request timeout per request). Example: `{ timeoutMs: 2_000 }`. */
  timeoutMs?: number;
}

/** Options of `publish` / `ConfigPublisher.publish`. */
export interface PublishOptions extends WaitOptions {
  /**
   * Compare-and-set: the data version the node must have now. A mismatch
   * rejects with `BadVersionError` (code 'BadVersion') and writes nothing.
   * `null` means "the node must not exist yet" (create only).
   * Default: undefined (write whatever the current version, creating the node if missing).
   * Example: `{ expectedVersion: watcher.version }`.
   */
  expectedVersion?: number | null;
  /**
   * Create missing parent nodes (persistent, no data) when the node itself is created.
   * Default: true. Example: `{ createParents: false }`.
   */
  createParents?: boolean;
}
