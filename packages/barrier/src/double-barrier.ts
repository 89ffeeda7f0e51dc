import { randomUUID } from 'node:crypto';
import { hasCode, isRetryable, mkdirp, zabError, type ZabClient } from '@zabkit/client';
import type { DoubleBarrierOptions, WaitOptions } from './options.js';
import { CallScope, trigger } from '@zabkit/client';

/** Name of the node the n-th participant creates to let everyone in. */
export const READY_NODE = 'ready';

/**
 * A double barrier for `n` participants (the ZooKeeper recipe, like Curator's
 * DistributedDoubleBarrier): each participant owns an ephemeral node
 * `<path>/<id>`; `enter()` returns once n participants have entered, `leave()`
 * once every participant has left. Every event (and every reconnect) only
 * triggers a re-check of the nodes, so spurious or replayed events cannot
 * let anyone through early.
 *
 * ```ts
 * const b = new DoubleBarrier(client, '/barriers/step-1', 5);
 * await b.enter({ timeoutMs: 60_000 });
 * // ... compute with the other four ...
 * await b.leave({ timeoutMs: 60_000 });
 * ```
 */
export class DoubleBarrier {
  /** This participant's node name. */
  readonly id: string;
  /** This participant's node path. */
  readonly memberPath: string;
  private readonly readyPath: string;
  private readonly closed = new AbortController();

  constructor(
    readonly client: ZabClient,
    readonly path: string,
    readonly n: number,
    options: DoubleBarrierOptions = {},
  ) {
    if (!path.startsWith('/') || path === '/' || path.endsWith('/')) throw new TypeError(`barrier path must be an absolute node path, got ${JSON.stringify(path)}`);
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`n must be a positive integer, got ${n}`);
    this.id = options.id ?? randomUUID();
    if (this.id === '' || this.id.includes('/') || this.id === READY_NODE || this.id === '.' || this.id === '..') {
      throw new TypeError(`invalid participant id ${JSON.stringify(this.id)}`);
    }
    this.memberPath = `${path}/${this.id}`;
    this.readyPath = `${path}/${READY_NODE}`;
  }

  /**
   * Joins (creates the ephemeral participant node) and resolves once n
   * participants have joined: the one that sees n creates the `ready` node,
   * which everyone else watches. Aborting or timing out withdraws this
   * participant (its node is deleted) and rejects with Aborted /
   * OperationTimeout; SessionExpired or Closed otherwise.
   */
  async enter(options: WaitOptions = {}): Promise<void> {
    const scope = this.scope('enter', options);
    try {
      await this.retrying(scope, () => mkdirp(this.client, this.path, { signal: scope.signal }));
      await this.join(scope);
      for (;;) {
        const t = trigger();
        const ready = await this.retrying(scope, () => this.client.exists(this.readyPath, { signal: scope.signal, watch: t.fire }));
        if (ready) return;
        const members = await this.members(scope);
        if (!members.includes(this.id)) await this.join(scope); // removed by hand while the session lives: join again
        else if (members.length >= this.n) {
          await this.retrying(scope, () => this.createReady(scope.signal));
          return;
        }
        await scope.until(t.fired);
      }
    } catch (err) {
      const reported = scope.error(err);
      if (scope.signal.aborted && !hasCode(reported, 'SessionExpired')) void this.withdraw();
      throw reported;
    } finally {
      scope.dispose();
    }
  }

  /**
   * Leaves and resolves once every participant has left (the ZooKeeper leave
   * protocol: the lowest participant waits for the highest, the others delete
   * their node and wait for the lowest; the last one also deletes `ready`).
   * Rejects with Aborted, OperationTimeout, SessionExpired or Closed.
   */
  async leave(options: WaitOptions = {}): Promise<void> {
    const scope = this.scope('leave', options);
    try {
      for (;;) {
        const members = (await this.members(scope)).sort();
        if (members.length === 0) return;
        const mine = members.includes(this.id);
        if (mine && members.length === 1) {
          await this.retrying(scope, () => this.deleteLast(scope.signal));
          return;
        }
        const lowest = members[0]!;
        const highest = members[members.length - 1]!;
        let watchOn: string;
        if (mine && this.id === lowest) watchOn = highest;
        else {
          if (mine) await this.retrying(scope, () => this.deleteOwn(scope.signal));
          watchOn = lowest;
        }
        const t = trigger();
        const stat = await this.retrying(scope, () => this.client.exists(`${this.path}/${watchOn}`, { signal: scope.signal, watch: t.fire }));
        if (stat) await scope.until(t.fired);
      }
    } catch (err) {
      throw scope.error(err);
    } finally {
      scope.dispose();
    }
  }

  /** Makes pending calls reject with Closed and withdraws this participant (deletes its node). Does not close the client. */
  async close(): Promise<void> {
    this.closed.abort();
    await this.withdraw();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----------------------------------------------------------------

  private scope(what: string, options: WaitOptions): CallScope {
    if (this.closed.signal.aborted) throw zabError('Closed', `double barrier ${this.path} is closed`, { path: this.path });
    return new CallScope(this.client, `DoubleBarrier.${what}`, options, this.closed.signal);
  }

  /** Creates our ephemeral node; one left by an earlier attempt of this session (a lost reply) is ours. */
  private async join(scope: CallScope): Promise<void> {
    await this.retrying(scope, async () => {
      try {
        await this.client.create(this.memberPath, null, { signal: scope.signal, mode: 'ephemeral' });
      } catch (err) {
        if (!hasCode(err, 'NodeExists')) throw err;
        const stat = await this.client.exists(this.memberPath, { signal: scope.signal });
        if (stat === null) throw err; // gone again: retry
        if (stat.ephemeralOwner !== this.client.sessionId) {
          throw zabError('NodeExists', `participant id ${this.id} is already used by another session`, { path: this.memberPath });
        }
      }
    });
  }

  private async members(scope: CallScope): Promise<string[]> {
    const children = await this.retrying(scope, () => this.client.getChildren(this.path, { signal: scope.signal }));
    return children.filter((c) => c !== READY_NODE);
  }

  private async createReady(signal: AbortSignal): Promise<void> {
    try {
      await this.client.create(this.readyPath, null, { signal, mode: 'persistent' });
    } catch (err) {
      if (!hasCode(err, 'NodeExists')) throw err;
    }
  }

  /** Our node goes (gone already is fine: an earlier attempt whose reply was lost). */
  private async deleteOwn(signal: AbortSignal): Promise<void> {
    try {
      await this.client.delete(this.memberPath, { signal });
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
    }
  }

  /** The last participant out removes `ready` and its own node together, so the barrier can be used again. */
  private async deleteLast(signal: AbortSignal): Promise<void> {
    try {
      await this.client.multi(
        [
          { type: 'delete', path: this.readyPath },
          { type: 'delete', path: this.memberPath },
        ],
        { signal },
      );
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
      if (err.failedOpIndex === 0) await this.deleteOwn(signal); // no ready node (never created, or gone)
    }
  }

  private async withdraw(): Promise<void> {
    try {
      await this.client.delete(this.memberPath, { timeoutMs: 5_000 });
    } catch {
      /* gone already, or the session is (and the node with it) */
    }
  }

  private async retrying<R>(scope: CallScope, fn: () => Promise<R>): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        scope.check();
        if (!isRetryable(err) || attempt >= 50) throw err;
        await scope.pause(Math.min(500, 25 * 2 ** attempt));
      }
    }
  }
}
