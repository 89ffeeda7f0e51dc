import type { CallOptions } from '@zabkit/client';
import type { Codec } from './codec.js';

export interface FifoQueueOptions<T> {
  /**
   * How items become node data and back.
   * Default: `jsonCodec` (JSON text). Example: `{ codec: bytesCodec }` for raw
   * `Uint8Array` items, `{ codec: stringCodec }` for UTF-8 strings.
   */
  codec?: Codec<T>;
  /**
   * Name prefix of the item nodes under the queue path (before the GUID
   * protection and the 10-digit sequence). Producers and consumers of one
   * queue must agree on it.
   * Default: `'item-'`. Example: `{ prefix: 'mail-' }`.
   */
  prefix?: string;
}

export interface TakeOptions extends CallOptions {
  /**
   * Lease the item instead of removing it (at-least-once delivery): `take`
   * resolves with a `Lease` whose `ack()` removes the item; if the consumer's
   * session ends first, or it calls `release()`, the item goes back to the queue.
   * Default: `false` (the item is removed before `take` resolves: delivered once).
   * Example: `await queue.take({ lease: true, timeoutMs: 5_000 })`.
   */
  lease?: boolean;
  /**
   * Aborts the wait: `take` rejects with an Aborted error. Once an item has been
   * claimed, a plain take still finishes removing it and resolves with it (so the
   * item is not lost). Example: `{ signal: AbortSignal.timeout(1_000) }`.
   */
  signal?: AbortSignal;
  /**
   * Gives up after this many ms without an item: `take` rejects with
   * OperationTimeout. Default: wait forever. Example: `{ timeoutMs: 30_000 }`.
   */
  timeoutMs?: number;
}
