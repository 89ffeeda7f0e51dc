import { sortSequential, type ZabClient } from '@zabkit/client';
import type { LockOptions } from './options.js';
import type { OwnNode } from './internal/node.js';
import { enterQueue, firstInLine } from './internal/queue.js';
import { ReentrantLock } from './reentrant.js';

/**
 * A fair (FIFO by sequence), reentrant, distributed mutex: each contender
 * creates an ephemeral-sequential node under `path` and watches only its
 * predecessor.
 *
 * ```ts
 * const mutex = new Mutex(client, '/locks/jobs');
 * await mutex.withLock(async (lease) => write(lease.fencingToken), { timeoutMs: 5_000 });
 * ```
 */
export class Mutex extends ReentrantLock {
  constructor(client: ZabClient, path: string, options: LockOptions = {}) {
    super(client, path, options);
  }

  protected enter(signal: AbortSignal, wait: boolean): Promise<OwnNode | null> {
    return enterQueue(
      this.client,
      { dir: this.path, prefix: 'lock-', data: this.options.data ?? null, sort: (c) => sortSequential(c, 'lock-'), verdict: firstInLine },
      signal,
      wait,
    );
  }
}
