import { CallScope, trigger, zabError, type CallOptions, type ZabClient } from '@zabkit/client';
import type { AcquireOptions, Lease, LockOptions } from './options.js';
import { reasonOr } from './internal/async.js';
import { createOwnNode, dropNode, removeNode, retrying } from './internal/node.js';
import { Ownership } from './internal/ownership.js';
import { Mutex } from './mutex.js';

class SemaphoreLease implements Lease {
  constructor(
    private readonly own: Ownership,
    private readonly onRelease: (l: SemaphoreLease) => void,
  ) {}
  get fencingToken(): bigint {
    return this.own.stat.czxid;
  }
  get signal(): AbortSignal {
    return this.own.signal;
  }
  get node(): string {
    return this.own.path;
  }
  async release(): Promise<void> {
    this.onRelease(this);
    await this.own.release();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * A counting semaphore: at most `max` leases at once across all sessions.
 * Lease nodes live under `<path>/leases`; acquirers line up on a fair mutex at
 * `<path>/lock`, so only the head of that line watches the lease count (no
 * herd) and leases are granted in FIFO order. Not reentrant: every `acquire()`
 * takes one more lease. `fencingToken` is the lease node's czxid.
 *
 * ```ts
 * const sem = new Semaphore(client, '/semaphores/db', 3);
 * const lease = await sem.acquire({ timeoutMs: 5_000 });
 * try { await query(); } finally { await lease.release(); }
 * ```
 */
export class Semaphore {
  private readonly leases = new Set<SemaphoreLease>();
  private closed = false;
  private readonly closing = new AbortController();

  constructor(
    private readonly client: ZabClient,
    readonly path: string,
    readonly max: number,
    private readonly options: LockOptions = {},
  ) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('Semaphore max must be a positive integer');
  }

  /** Leases this handle holds (not released, not lost). */
  get heldCount(): number {
    return [...this.leases].filter((l) => !l.signal.aborted).length;
  }

  /** Waits for a lease. Rejects with OperationTimeout, Aborted, SessionExpired or Closed, leaving no node behind. */
  acquire(opts: AcquireOptions = {}): Promise<Lease> {
    return this.take(opts, true) as Promise<Lease>;
  }

  /** A lease if one is free right now (and no other acquirer is mid-way), else null. */
  tryAcquire(opts: CallOptions = {}): Promise<Lease | null> {
    return this.take(opts, false);
  }

  /** Releases every lease of this handle, aborts its pending acquisitions (Closed) and refuses further ones. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await Promise.all([...this.leases].map((l) => l.release()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async take(opts: CallOptions, wait: boolean): Promise<Lease | null> {
    if (this.closed) throw zabError('Closed', `semaphore handle for ${this.path} is closed`, { path: this.path });
    const scope = new CallScope(this.client, `acquiring a lease of ${this.path}`, opts, this.closing.signal);
    const gate = new Mutex(this.client, `${this.path}/lock`);
    try {
      const gateLease = wait ? await gate.acquire({ signal: scope.signal }) : await gate.tryAcquire({ signal: scope.signal });
      if (gateLease === null) return null;
      try {
        return await this.lease(scope, wait);
      } finally {
        await gateLease.release().catch(() => {});
      }
    } catch (err) {
      throw scope.error(err);
    } finally {
      scope.dispose();
    }
  }

  /** Holding the gate: create our lease node, then wait until at most `max` lease nodes exist. */
  private async lease(scope: CallScope, wait: boolean): Promise<Lease | null> {
    const signal = scope.signal;
    const dir = `${this.path}/leases`;
    const own = await createOwnNode(this.client, dir, 'lease-', this.options.data ?? null, signal);
    try {
      for (;;) {
        const changed = trigger();
        const children = await retrying(signal, () => this.client.getChildren(dir, { signal, watch: changed.fire }));
        if (!children.includes(own.name)) throw zabError('NoNode', `lease node ${own.path} disappeared`, { path: own.path });
        if (children.length <= this.max) break;
        if (!wait) {
          await removeNode(this.client, own.path);
          return null;
        }
        await scope.until(changed.fired);
      }
    } catch (err) {
      await dropNode(this.client, own.path);
      throw reasonOr(signal, err);
    }
    const ownership = new Ownership(this.client, own.path, own.stat, this.options.lostAfterSuspendedMs, () => this.dropLost());
    const lease = new SemaphoreLease(ownership, (l) => this.leases.delete(l));
    this.leases.add(lease);
    return lease;
  }

  private dropLost(): void {
    for (const l of this.leases) if (l.signal.aborted) this.leases.delete(l);
  }
}
