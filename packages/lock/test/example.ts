import type { ZabClient } from '@zabkit/client';
import { Mutex } from '@zabkit/lock';

/** Stands for your database: it remembers the highest fencing token and refuses older ones. */
export class FencedStore {
  private highest = -1n;
  readonly writes: string[] = [];

  write(token: bigint, value: string): void {
    if (token < this.highest) throw new Error(`stale fencing token ${token} (store has seen ${this.highest})`);
    this.highest = token;
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
      store.write(lease.fencingToken, `${jobId} done by session 0x${client.sessionId.toString(16)}`);
    },
    { timeoutMs: 10_000 },
  );
}
