import { hasCode, isRetryable, mkdirp, waitForDeletion, zabError, type ZabClient } from '@zabkit/client';
import { parentOf } from '@zabkit/protocol';
import type { WaitOptions } from './options.js';
import { CallScope } from '@zabkit/client';

/**
 * A single barrier: while the node at `path` exists, `wait()` blocks; removing
 * it releases every waiter. Typically a coordinator `set()`s it before work may
 * start and `remove()`s it when the workers may go.
 *
 * ```ts
 * const gate = new Barrier(client, '/barriers/deploy');
 * await gate.set();                       // coordinator
 * await gate.wait({ timeoutMs: 60_000 }); // workers (any session)
 * await gate.remove();                    // coordinator: everyone proceeds
 * ```
 */
export class Barrier {
  private readonly closed = new AbortController();

  constructor(
    readonly client: ZabClient,
    readonly path: string,
  ) {
    if (!path.startsWith('/') || path === '/' || path.endsWith('/')) throw new TypeError(`barrier path must be an absolute node path, got ${JSON.stringify(path)}`);
  }

  /** Raises the barrier (a persistent node; ancestors are created). Already set is fine. Retries lost replies. */
  async set(options: WaitOptions = {}): Promise<void> {
    await this.retrying('set', options, async (signal) => {
      await mkdirp(this.client, parentOf(this.path), { signal });
      try {
        await this.client.create(this.path, null, { signal, mode: 'persistent' });
      } catch (err) {
        if (!hasCode(err, 'NodeExists')) throw err;
      }
    });
  }

  /** Lowers the barrier: every `wait()` returns. Not set is fine. Retries lost replies. */
  async remove(options: WaitOptions = {}): Promise<void> {
    await this.retrying('remove', options, async (signal) => {
      try {
        await this.client.delete(this.path, { signal });
      } catch (err) {
        if (!hasCode(err, 'NoNode')) throw err;
      }
    });
  }

  /** Whether the barrier is currently set. */
  async isSet(options: WaitOptions = {}): Promise<boolean> {
    return (await this.client.exists(this.path, options)) !== null;
  }

  /**
   * Resolves once the barrier node does not exist (at once if it is not set),
   * on an exists watch re-armed after every event and reconnect. Rejects with
   * Aborted, OperationTimeout, SessionExpired or Closed (this handle closed).
   */
  async wait(options: WaitOptions = {}): Promise<void> {
    this.checkOpen();
    const scope = new CallScope(this.client, 'Barrier.wait', options, this.closed.signal);
    try {
      await waitForDeletion(this.client, this.path, { signal: scope.signal });
    } catch (err) {
      throw scope.error(err);
    } finally {
      scope.dispose();
    }
  }

  /** Makes pending `wait`s reject with Closed. Leaves the barrier node as it is; does not close the client. */
  async close(): Promise<void> {
    this.closed.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async retrying(what: string, options: WaitOptions, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    this.checkOpen();
    const scope = new CallScope(this.client, `Barrier.${what}`, options, this.closed.signal);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await fn(scope.signal);
        } catch (err) {
          scope.check();
          if (!isRetryable(err) || attempt >= 30) throw err;
          await scope.pause(Math.min(500, 25 * 2 ** attempt));
        }
      }
    } catch (err) {
      throw scope.error(err);
    } finally {
      scope.dispose();
    }
  }

  private checkOpen(): void {
    if (this.closed.signal.aborted) throw zabError('Closed', `barrier ${this.path} is closed`, { path: this.path });
  }
}
