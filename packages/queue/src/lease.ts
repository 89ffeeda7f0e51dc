import { hasCode, isRetryable, mkdirp, zabError, type CallOptions, type Stat, type ZabClient } from '@zabkit/client';

/** Where a leased item stands. */
export type LeaseState = 'held' | 'acked' | 'released' | 'lost';

/**
 * An item taken with `take({ lease: true })`: it stays in the queue, hidden from
 * other consumers by an ephemeral `<item>.lock` node of this session, until
 * `ack()` removes both (atomically) or `release()` / the end of the session
 * gives it back.
 */
export class Lease<T> {
  private current: LeaseState = 'held';
  private readonly lostController = new AbortController();
  private readonly onExpired = (): void => this.lose('the session expired');
  private readonly onClosed = (): void => this.lose('the client was closed');

  /** @internal created by FifoQueue */
  constructor(
    private readonly client: ZabClient,
    /** The item's value, decoded. */
    readonly value: T,
    /** Path of the item node. */
    readonly path: string,
    /** Path of this lease's lock node. */
    readonly lockPath: string,
    /** Stat of the item node when it was read. */
    readonly stat: Stat,
    private readonly onEnd: (lease: Lease<T>) => void,
  ) {
    client.on('expired', this.onExpired);
    client.on('closed', this.onClosed);
  }

  /**
   * Aborts when this consumer stops holding the item without having acked it:
   * the session expired, the client or the queue handle was closed. The item
   * may then be delivered to someone else; stop working on it.
   */
  get signal(): AbortSignal {
    return this.lostController.signal;
  }

  get state(): LeaseState {
    return this.current;
  }

  /**
   * Removes the item and the lock in one transaction: the item is done. After a
   * lost reply it retries, and a lock found gone means the earlier attempt went
   * through (only this live session can delete it). Rejects when the lease is
   * lost (SessionExpired, Closed): the item will be redelivered. Idempotent.
   */
  async ack(options: CallOptions = {}): Promise<void> {
    if (this.current === 'acked') return;
    if (this.current === 'lost') throw this.lostController.signal.reason;
    if (this.current !== 'held') throw zabError('NoNode', `lease on ${this.path} is ${this.current}`, { path: this.path });
    await removeClaimed(this.client, this.path, this.lockPath, options);
    this.end('acked');
  }

  /** Gives the item back to the queue (deletes the lock). Idempotent; a no-op once acked or lost. */
  async release(options: CallOptions = {}): Promise<void> {
    if (this.current !== 'held') return;
    await deleteLock(this.client, this.lockPath, options);
    this.end('released');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /** @internal the queue handle closes: give the item back, tell the holder. */
  async abandon(): Promise<void> {
    if (this.current !== 'held') return;
    this.lose('the queue was closed');
    // one attempt: if it fails, the lock still goes with the session
    await this.client.delete(this.lockPath, { timeoutMs: 5_000 }).catch(() => {});
  }

  private lose(why: string): void {
    if (this.current !== 'held') return;
    this.end('lost');
    this.lostController.abort(zabError(why.includes('expired') ? 'SessionExpired' : 'Closed', `lease on ${this.path} lost: ${why}`, { path: this.path }));
  }

  private end(state: LeaseState): void {
    this.current = state;
    this.client.off('expired', this.onExpired);
    this.client.off('closed', this.onClosed);
    this.onEnd(this);
  }
}

const MAX_ATTEMPTS = 30;

/** Consumed items' GUIDs are kept this long (a TTL node), for producers whose put reply was lost. */
export const TOMBSTONE_TTL_MS = 10 * 60_000;
const GUID_RE = /^_c_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/;

/** `<queue>-consumed`: where a queue remembers the GUIDs of items it delivered. */
export function tombstoneDir(queuePath: string): string {
  return `${queuePath}-consumed`;
}

/** The tombstone path for an item node (null when its name carries no GUID). */
export function tombstoneOf(item: string): string | null {
  const slash = item.lastIndexOf('/');
  const m = GUID_RE.exec(item.slice(slash + 1));
  return m ? `${tombstoneDir(item.slice(0, slash))}/${m[1]}` : null;
}

/** @internal deletes item + lock atomically, retrying retryable failures (see Lease.ack). */
export async function removeClaimed(client: ZabClient, item: string, lock: string, options: CallOptions): Promise<void> {
  const tombstone = tombstoneOf(item);
  for (let attempt = 0; ; attempt++) {
    try {
      // The tombstone (the item's name as data) is made in the same transaction that
      // removes the item, so a producer that lost its put reply can tell "consumed" from "never made".
      await client.multi(
        [
          { type: 'delete', path: lock },
          { type: 'delete', path: item },
          ...(tombstone ? [{ type: 'create' as const, path: tombstone, data: item, mode: 'ttl' as const, ttlMs: TOMBSTONE_TTL_MS }] : []),
        ],
        options,
      );
      return;
    } catch (err) {
      if (attempt > 0 && hasCode(err, 'NoNode') && err.failedOpIndex === 0) return;
      if (tombstone && hasCode(err, 'NoNode') && err.failedOpIndex === 2) {
        await mkdirp(client, tombstone.slice(0, tombstone.lastIndexOf('/')), options); // a queue made before tombstones
        continue;
      }
      if (!isRetryable(err) || attempt >= MAX_ATTEMPTS || options.signal?.aborted) throw err;
      await sleep(Math.min(500, 25 * 2 ** attempt));
    }
  }
}

/** @internal deletes a lock node (gone already is fine), retrying retryable failures. */
export async function deleteLock(client: ZabClient, lock: string, options: CallOptions): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.delete(lock, options);
      return;
    } catch (err) {
      if (hasCode(err, 'NoNode')) return;
      if (!isRetryable(err) || attempt >= MAX_ATTEMPTS || options.signal?.aborted) throw err;
      await sleep(Math.min(500, 25 * 2 ** attempt));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
