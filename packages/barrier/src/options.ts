import type { CallOptions } from '@zabkit/client';

/** Options of every blocking barrier call. */
export interface WaitOptions extends CallOptions {
  /**
   * Aborts the wait: the call rejects with an Aborted error.
   * Example: `{ signal: AbortSignal.timeout(10_000) }`.
   */
  signal?: AbortSignal;
  /**
   * Gives up after this many ms: the call rejects with OperationTimeout.
   * Default: wait forever. Example: `{ timeoutMs: 30_000 }`.
   */
  timeoutMs?: number;
}

export interface DoubleBarrierOptions {
  /**
   * Name of this participant's ephemeral node under the barrier path. Must be
   * unique among the participants of one round, must not contain '/', and must
   * not be `ready` (the barrier's own node).
   * Default: a random UUID. Example: `{ id: 'worker-3' }`.
   */
  id?: string;
}
