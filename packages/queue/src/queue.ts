import { randomUUID } from 'node:crypto';
import {
  createProtected,
  hasCode,
  isRetryable,
  mkdirp,
  settleBriefly,
  sleep,
  sortSequential,
  zabError,
  type CallOptions,
  type Stat,
  type ZabClient,
} from '@zabkit/client';
import { jsonCodec, type Codec } from './codec.js';
import { Lease, deleteLock, removeClaimed, tombstoneDir } from './lease.js';
import type { FifoQueueOptions, TakeOptions } from './options.js';
import { CallScope, trigger } from '@zabkit/client';

/** Suffix of the ephemeral node that leases an item: `<item>.lock`. */
export const LOCK_SUFFIX = '.lock';

interface Claimed<T> {
  item: string;
  lock: string;
  value: T;
  stat: Stat;
}

/**
 * A distributed FIFO queue under `path`. Items are persistent-sequential nodes
 * (`<path>/_c_<guid>-item-0000000042`), so they survive restarts; consumers take
 * the lowest sequence not leased by someone else. See the README for the
 * ordering and delivery guarantees.
 *
 * ```ts
 * const queue = new FifoQueue<{ to: string }>(client, '/queues/mail');
 * await queue.put({ to: 'a@example.com' });
 * const job = await queue.take({ timeoutMs: 5_000 });
 * ```
 */
export class FifoQueue<T = unknown> {
  readonly path: string;
  private readonly codec: Codec<T>;
  private readonly prefix: string;
  private readonly closed = new AbortController();
  private readonly leases = new Set<Lease<T>>();
  private dirReady: Promise<void> | undefined;

  constructor(
    readonly client: ZabClient,
    path: string,
    options: FifoQueueOptions<T> = {},
  ) {
    if (!path.startsWith('/') || path === '/' || path.endsWith('/')) throw new TypeError(`queue path must be an absolute node path, got ${JSON.stringify(path)}`);
    this.path = path;
    this.codec = options.codec ?? (jsonCodec as Codec<T>);
    this.prefix = options.prefix ?? 'item-';
    if (this.prefix.includes('/')) throw new TypeError('prefix must not contain "/"');
  }

  /**
   * Appends an item; resolves with its node path. The create is GUID-protected:
   * after a lost reply it finds its node again instead of adding a duplicate.
   */
  async put(item: T, options: CallOptions = {}): Promise<string> {
    this.checkOpen();
    const data = this.codec.encode(item);
    await this.ensureDir(options);
    // A put whose reply was lost finds its item again, or its tombstone if a consumer already took it:
    // either way the item is not created twice.
    const protectedOptions = { ...options, alreadyConsumed: (guid: string) => this.consumedPath(guid) };
    try {
      return await createProtected(this.client, `${this.path}/${this.prefix}`, data, 'persistent-sequential', protectedOptions);
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
      this.dirReady = undefined; // the queue node was removed under us: make it again, once
      await this.ensureDir(options);
      return await createProtected(this.client, `${this.path}/${this.prefix}`, data, 'persistent-sequential', protectedOptions);
    }
  }

  /** The item path a tombstone records for this GUID, or null when no consumer took such an item. */
  private async consumedPath(guid: string): Promise<string | null> {
    try {
      const { data } = await this.client.getData(`${tombstoneDir(this.path)}/${guid}`);
      return data ? Buffer.from(data).toString('utf8') : null;
    } catch (err) {
      if (hasCode(err, 'NoNode')) return null;
      throw err;
    }
  }

  /**
   * Takes the head item, waiting (on a children watch, re-armed on every event
   * and after reconnects) until there is one. Plain: the item is removed before
   * this resolves and no other consumer gets it. `{ lease: true }`: resolves
   * with a `Lease`; the item stays until `ack()`.
   * Rejects with Aborted, OperationTimeout, SessionExpired or Closed.
   */
  take(options?: TakeOptions & { lease?: false }): Promise<T>;
  take(options: TakeOptions & { lease: true }): Promise<Lease<T>>;
  take(options?: TakeOptions): Promise<T | Lease<T>>;
  async take(options: TakeOptions = {}): Promise<T | Lease<T>> {
    return (await this.takeInternal(options, true)) as T | Lease<T>;
  }

  /** Like `take`, but resolves with undefined at once when no item is available. */
  tryTake(options?: TakeOptions & { lease?: false }): Promise<T | undefined>;
  tryTake(options: TakeOptions & { lease: true }): Promise<Lease<T> | undefined>;
  tryTake(options?: TakeOptions): Promise<T | Lease<T> | undefined>;
  async tryTake(options: TakeOptions = {}): Promise<T | Lease<T> | undefined> {
    return this.takeInternal(options, false);
  }

  /** The head item's value without taking it (leased items are skipped), or undefined when there is none. */
  async peek(options: CallOptions = {}): Promise<T | undefined> {
    const children = await this.listOrEmpty(options);
    for (const name of this.available(children)) {
      try {
        const { data } = await this.client.getData(`${this.path}/${name}`, options);
        return this.decode(data, `${this.path}/${name}`);
      } catch (err) {
        if (!hasCode(err, 'NoNode')) throw err;
      }
    }
    return undefined;
  }

  /** Number of items in the queue, leased ones included (they are not done until acked). */
  async size(options: CallOptions = {}): Promise<number> {
    return sortSequential(await this.listOrEmpty(options), this.prefix).length;
  }

  /**
   * Makes pending `take`s reject with Closed and gives this handle's unacked
   * leases back to the queue (their `signal` aborts). Does not close the client.
   */
  async close(): Promise<void> {
    if (!this.closed.signal.aborted) this.closed.abort();
    await Promise.all([...this.leases].map((l) => l.abandon()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----------------------------------------------------------------

  private async takeInternal(options: TakeOptions, block: boolean): Promise<T | Lease<T> | undefined> {
    this.checkOpen();
    const scope = new CallScope(this.client, 'take', options, this.closed.signal);
    try {
      await this.ensureDir({ signal: scope.signal });
      let synced = false;
      for (;;) {
        const changed = trigger();
        let children: string[];
        try {
          // Once per take: a release acknowledged through another server must be visible here, or
          // the released item (which goes back first in line) would be passed over for a later one.
          if (!synced) {
            await this.client.sync(this.path, { signal: scope.signal });
            synced = true;
          }
          const opts: { signal: AbortSignal; watch?: () => void } = { signal: scope.signal };
          if (block) opts.watch = changed.fire;
          children = await this.client.getChildren(this.path, opts);
        } catch (err) {
          scope.check();
          if (hasCode(err, 'NoNode')) {
            this.dirReady = undefined;
            await this.ensureDir({ signal: scope.signal });
            continue;
          }
          if (!isRetryable(err)) throw err;
          await scope.pause(100);
          continue;
        }
        for (const name of this.available(children)) {
          const got = await this.claim(name, scope);
          if (!got) continue;
          if (options.lease) {
            const lease = new Lease(this.client, got.value, got.item, got.lock, got.stat, (l) => this.leases.delete(l));
            this.leases.add(lease);
            return lease;
          }
          // Claimed: finish removing it even if the caller aborts now, so the item is not lost.
          await removeClaimed(this.client, got.item, got.lock, {});
          return got.value;
        }
        if (!block) return undefined;
        await scope.until(changed.fired);
      }
    } catch (err) {
      throw scope.error(err);
    } finally {
      scope.dispose();
    }
  }

  /**
   * Leases `name`: creates its ephemeral lock (only if the item still exists, in
   * one transaction) and reads it. Null when someone else has it or it is gone.
   */
  private async claim(name: string, scope: CallScope): Promise<Claimed<T> | null> {
    const item = `${this.path}/${name}`;
    const lock = item + LOCK_SUFFIX;
    const token = `${this.client.sessionId.toString(16)}:${randomUUID()}`;
    let unknown = false;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.client.multi(
            [
              { type: 'check', path: item, version: -1 },
              { type: 'create', path: lock, data: token, mode: 'ephemeral' },
            ],
            { signal: scope.signal },
          );
          break;
        } catch (err) {
          if (hasCode(err, 'NoNode')) return null; // taken and acked by someone else
          if (hasCode(err, 'NodeExists')) {
            if (unknown && (await this.ownsLock(lock, token, scope))) break;
            return null;
          }
          // Any other answer leaves the outcome open: an abort or timeout while the multi is on the
          // wire does not stop the ensemble from applying it.
          unknown = true;
          scope.check();
          if (!isRetryable(err) || attempt >= 30) throw err;
          await scope.pause(Math.min(500, 25 * 2 ** attempt));
        }
      }
    } catch (err) {
      // Given up after a create whose outcome is unknown: do not leave our lock behind. The check runs on
      // this session, so it is answered after the multi in flight (if any) and sees its outcome.
      if (unknown) await settleBriefly(this.dropLockIfOurs(lock, token));
      throw err;
    }
    try {
      const { data, stat } = await this.readClaimed(item, scope);
      return { item, lock, value: this.decode(data, item), stat };
    } catch (err) {
      await deleteLock(this.client, lock, {}).catch(() => {});
      throw err;
    }
  }

  private async readClaimed(item: string, scope: CallScope): Promise<{ data: Uint8Array | null; stat: Stat }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.getData(item, { signal: scope.signal });
      } catch (err) {
        scope.check();
        if (!isRetryable(err) || attempt >= 30) throw err;
        await scope.pause(100);
      }
    }
  }

  private async ownsLock(lock: string, token: string, scope: CallScope): Promise<boolean> {
    try {
      const { data } = await this.client.getString(lock, { signal: scope.signal });
      return data === token;
    } catch (err) {
      if (hasCode(err, 'NoNode')) return false;
      throw err;
    }
  }

  /** Deletes `lock` if it carries our token; retried while disconnected, until the session ends. */
  private async dropLockIfOurs(lock: string, token: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (this.client.state === 'expired' || this.client.state === 'closed') return; // the lock went with the session
      try {
        const { data, stat } = await this.client.getString(lock);
        if (data === token) await this.client.delete(lock, { version: stat.version });
        return;
      } catch (err) {
        if (!isRetryable(err)) return; // NoNode: never created, or gone already
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
  }

  /** Item names in queue order, without those that have a lock node. */
  private available(children: readonly string[]): string[] {
    const names = new Set(children);
    return sortSequential(children, this.prefix).filter((n) => !names.has(n + LOCK_SUFFIX));
  }

  private decode(data: Uint8Array | null, path: string): T {
    try {
      return this.codec.decode(data ?? new Uint8Array(0));
    } catch (err) {
      throw zabError('MarshallingError', `cannot decode queue item ${path}: ${String(err)}`, { path, cause: err });
    }
  }

  private async listOrEmpty(options: CallOptions): Promise<string[]> {
    try {
      return await this.client.getChildren(this.path, options);
    } catch (err) {
      if (hasCode(err, 'NoNode')) return [];
      throw err;
    }
  }

  private ensureDir(options: CallOptions): Promise<void> {
    if (!this.dirReady) {
      const p = mkdirp(this.client, this.path, options);
      this.dirReady = p;
      p.catch(() => {
        if (this.dirReady === p) this.dirReady = undefined;
      });
    }
    return this.dirReady;
  }

  private checkOpen(): void {
    if (this.closed.signal.aborted) throw zabError('Closed', `queue ${this.path} is closed`, { path: this.path });
  }
}

