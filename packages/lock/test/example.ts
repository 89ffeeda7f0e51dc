import type { ZabClient } from '@zabkit/client';
import { Mutex } from '@zabkit/lock';

/** Stands for your database: per key, it remembers the highest fencing token and refuses older ones. */
export class FencedStore {
  private readonly highest = new Map<string, bigint>();
  readonly writes: string[] = [];

  write(key: string, token: bigint, value: string): void {
    const seen = this.highest.get(key) ?? -1n;
    if (token < seen) throw new Error(`stale fencing token ${token} for ${key} (store has seen ${seen})`);
    this.highest.set(key, token);
    this.writes.push(value);
  }
}

/** A job runner: one lock per job, and every write carries the lease's fencing token. */
export async function runJob(client: ZabClient, jobId: string, store: FencedStore): Promise<void> {
  await using mutex = new Mutex(client, `/locks/jobs/${jobId}`);
  await mutex.withLock(
    async (lease) => {
      // ... the job's work; if ownership is lost, lease.signal aborts: stop writing.
      lease.signal.throwIfAborted();
      store.write(jobId, lease.fencingToken, `${jobId} done by session 0x${client.sessionId.toString(16)}`);
    },
    { timeoutMs: 10_000 },
  );
}
