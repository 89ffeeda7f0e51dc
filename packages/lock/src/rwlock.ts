import { sortSequential, zabError, type ZabClient } from '@zabkit/client';
import type { LockOptions } from './options.js';
import type { OwnNode } from './internal/node.js';
import { enterQueue, firstInLine, type Verdict } from './internal/queue.js';
import { ReentrantLock } from './reentrant.js';

const KINDS = /(?:^|-)(read|write)-\d{10}$/;
const sortRw = (children: string[]): string[] => sortSequential(children).filter((n) => KINDS.test(n));
const isWrite = (name: string): boolean => /write-\d{10}$/.test(name);

class ReadLock extends ReentrantLock {
  constructor(
    client: ZabClient,
    path: string,
    options: LockOptions,
    private readonly ownWriteNode: () => string | undefined,
  ) {
    super(client, path, options);
  }
  protected enter(signal: AbortSignal, wait: boolean): Promise<OwnNode | null> {
    const verdict = (sorted: readonly string[], index: number): Verdict => {
      const mine = this.ownWriteNode();
      // Wait for the nearest earlier writer that is not this handle's own held write lock.
      for (let i = index - 1; i >= 0; i--) {
        const name = sorted[i]!;
        if (isWrite(name) && `${this.path}/${name}` !== mine) return { hold: false, watch: name };
      }
      return { hold: true };
    };
    return enterQueue(this.client, { dir: this.path, prefix: 'read-', data: this.options.data ?? null, sort: sortRw, verdict }, signal, wait);
  }
}

class WriteLock extends ReentrantLock {
  constructor(
    client: ZabClient,
    path: string,
    options: LockOptions,
    private readonly readHeld: () => boolean,
  ) {
    super(client, path, options);
  }
  protected override check(): void {
    if (this.readHeld()) {
      throw zabError('BadArguments', `upgrading a read lock to a write lock is not supported (it would deadlock): release the read lock of ${this.path} first`, {
        path: this.path,
      });
    }
  }
  protected enter(signal: AbortSignal, wait: boolean): Promise<OwnNode | null> {
    return enterQueue(this.client, { dir: this.path, prefix: 'write-', data: this.options.data ?? null, sort: sortRw, verdict: firstInLine }, signal, wait);
  }
}

/**
 * Readers share, writers are exclusive; FIFO across both kinds (a waiting
 * writer holds back later readers). The handle that holds the write lock may
 * also take the read lock (and keep it after releasing the write lock: a
 * downgrade); taking the write lock while holding only the read lock is
 * refused (BadArguments), since it would wait for itself.
 *
 * ```ts
 * const rw = new ReadWriteLock(client, '/locks/catalog');
 * await rw.readLock.withLock(() => readCatalog());
 * await rw.writeLock.withLock((lease) => writeCatalog(lease.fencingToken));
 * ```
 */
export class ReadWriteLock {
  readonly readLock: ReentrantLock;
  readonly writeLock: ReentrantLock;

  constructor(client: ZabClient, readonly path: string, options: LockOptions = {}) {
    const write: WriteLock = new WriteLock(client, path, options, () => this.readLock.isHeld);
    this.writeLock = write;
    this.readLock = new ReadLock(client, path, options, () => write.heldNode);
  }

  /** Releases both locks held by this handle and refuses further acquisitions. */
  async close(): Promise<void> {
    await Promise.all([this.readLock.close(), this.writeLock.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
