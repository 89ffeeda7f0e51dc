import { CallScope, zabError, type CallOptions, type ZabClient } from '@zabkit/client';
import type { AcquireOptions, Lease, LockOptions } from './options.js';
import { raceSignal } from './internal/async.js';
import type { OwnNode } from './internal/node.js';
import { Ownership } from './internal/ownership.js';

interface Held {
  own: Ownership;
  leases: LeaseImpl[];
}

class LeaseImpl implements Lease {
  private released = false;
  constructor(
    private readonly owner: ReentrantLock,
    private readonly held: Held,
  ) {}
  get fencingToken(): bigint {
    return this.held.own.stat.czxid;
  }
  get signal(): AbortSignal {
    return this.held.own.signal;
  }
  get node(): string {
    return this.held.own.path;
  }
  get isReleased(): boolean {
    return this.released;
  }
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.owner.drop(this.held, this);
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * A lock held by this handle, reentrant by count: every `acquire()` on a
 * handle that already holds returns another lease on the same node (same
 * token, same signal); the node goes when the last lease is released.
 * One handle = one owner: give each concurrent task its own handle.
 */
export abstract class ReentrantLock {
  private held: Held | undefined;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly closing = new AbortController();

  protected constructor(
    protected readonly client: ZabClient,
    /** The lock's directory. */
    readonly path: string,
    protected readonly options: LockOptions,
  ) {}

  /** Joins the queue; resolves with our node once held, or null when `wait` is false and it is not free. */
  protected abstract enter(signal: AbortSignal, wait: boolean): Promise<OwnNode | null>;
  /** Called before an acquisition; throws to refuse it (e.g. no upgrade). */
  protected check(): void {}

  /** True while this handle holds the lock (and has not lost it). */
  get isHeld(): boolean {
    return this.held !== undefined && this.held.own.active;
  }
  /** Number of unreleased leases on this handle (the reentrancy count). */
  get holdCount(): number {
    return this.isHeld ? this.held!.leases.length : 0;
  }
  /** @internal the node this handle holds, if any. */
  get heldNode(): string | undefined {
    return this.isHeld ? this.held!.own.path : undefined;
  }

  /**
   * Waits until the lock is ours. Rejects with OperationTimeout (after
   * `timeoutMs`), Aborted (`signal`), SessionExpired or Closed; a failed wait
   * leaves no node behind.
   */
  acquire(opts: AcquireOptions = {}): Promise<Lease> {
    return this.take(opts, true) as Promise<Lease>;
  }

  /** Takes the lock if it is free right now; null otherwise (never waits for other holders). */
  tryAcquire(opts: CallOptions = {}): Promise<Lease | null> {
    return this.take(opts, false);
  }

  /** Releases the most recent unreleased lease of this handle. Does nothing when not held. */
  async release(): Promise<void> {
    await this.held?.leases.at(-1)?.release();
  }

  /** Runs `fn` holding the lock and releases it afterwards, even when `fn` throws. */
  async withLock<T>(fn: (lease: Lease) => Promise<T> | T, opts: AcquireOptions = {}): Promise<T> {
    const lease = await this.acquire(opts);
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  /** Releases every lease of this handle, aborts its pending acquisitions (Closed) and refuses further ones. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    const held = this.held;
    this.held = undefined;
    if (held?.own.active) await held.own.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal */
  async drop(held: Held, lease: LeaseImpl): Promise<void> {
    const i = held.leases.indexOf(lease);
    if (i !== -1) held.leases.splice(i, 1);
    if (held.leases.length > 0) return;
    if (this.held === held) this.held = undefined;
    await held.own.release();
  }

  private async take(opts: CallOptions, wait: boolean): Promise<Lease | null> {
    if (this.closed) throw zabError('Closed', `lock handle for ${this.path} is closed`, { path: this.path });
    const scope = new CallScope(this.client, `acquiring ${this.path}`, opts, this.closing.signal);
    // One acquisition at a time per handle; a later one reuses what the earlier got.
    const prev = this.tail;
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    this.tail = prev.then(() => mine);
    try {
      await raceSignal(prev, scope.signal);
      if (this.closed) throw zabError('Closed', `lock handle for ${this.path} is closed`, { path: this.path });
      if (this.isHeld) return this.addLease(this.held!);
      this.check();
      const node = await this.enter(scope.signal, wait);
      if (node === null) return null;
      let held: Held | undefined;
      const own = new Ownership(this.client, node.path, node.stat, this.options.lostAfterSuspendedMs, () => {
        if (held !== undefined && this.held === held) this.held = undefined;
      });
      held = { own, leases: [] };
      if (this.closed) {
        await held.own.release();
        throw zabError('Closed', `lock handle for ${this.path} is closed`, { path: this.path });
      }
      this.held = held;
      return this.addLease(held);
    } catch (err) {
      throw scope.error(err);
    } finally {
      scope.dispose();
      done();
    }
  }

  private addLease(held: Held): Lease {
    const lease = new LeaseImpl(this, held);
    held.leases.push(lease);
    return lease;
  }
}
