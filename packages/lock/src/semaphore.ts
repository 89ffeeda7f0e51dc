import { zabError, type CallOptions, type ZabClient } from '@zabkit/client';
import type { AcquireOptions, Lease, LockOptions } from './options.js';
import { deadline, reasonOr } from './internal/deadline.js';
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

  /** Releases every lease of this handle and refuses further acquisitions. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.leases].map((l) => l.release()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async take(opts: CallOptions, wait: boolean): Promise<Lease | null> {
    if (this.closed) throw zabError('Closed', `semaphore handle for ${this.path} is closed`, { path: this.path });
    const d = deadline(opts, `acquiring a lease of ${this.path}`);
    const gate = new Mutex(this.client, `${this.path}/lock`);
    try {
      const gateLease = wait ? await gate.acquire({ signal: d.signal }) : await gate.tryAcquire({ signal: d.signal });
      if (gateLease === null) return null;
      try {
        return await this.lease(d.signal, wait);
      } finally {
        await gateLease.release().catch(() => {});
      }
    } catch (err) {
      throw reasonOr(d.signal, err);
    } finally {
      d.dispose();
    }
  }

  /** Holding the gate: create our lease node, then wait until at most `max` lease nodes exist. */
  private async lease(signal: AbortSignal, wait: boolean): Promise<Lease | null> {
    const dir = `${this.path}/leases`;
    const own = await createOwnNode(this.client, dir, 'lease-', this.options.data ?? null, signal);
    try {
      for (;;) {
        let changed!: () => void;
        const fired = new Promise<void>((r) => (changed = r));
        const children = await retrying(signal, () => this.client.getChildren(dir, { signal, watch: () => changed() }));
        if (!children.includes(own.name)) throw zabError('NoNode', `lease node ${own.path} disappeared`, { path: own.path });
        if (children.length <= this.max) break;
        if (!wait) {
          await removeNode(this.client, own.path);
          return null;
        }
        await this.untilChanged(fired, signal);
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

  /** Resolves when the children watch fires; rejects on abort, expiry or close (a watch would never fire then). */
  private untilChanged(fired: Promise<void>, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const client = this.client;
      const finish = (err?: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        client.off('expired', onEnd);
        client.off('closed', onEnd);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = (): void => finish(signal.reason);
      const onEnd = (): void => finish(zabError(client.state === 'closed' ? 'Closed' : 'SessionExpired', `session ended while waiting for a lease of ${this.path}`));
      signal.addEventListener('abort', onAbort, { once: true });
      client.on('expired', onEnd);
      client.on('closed', onEnd);
      void fired.then(() => finish());
    });
  }

  private dropLost(): void {
    for (const l of this.leases) if (l.signal.aborted) this.leases.delete(l);
  }
}
