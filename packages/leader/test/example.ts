import type { ZabClient } from '@zabkit/client';
import { LeaderLatch } from '@zabkit/leader';

/** A scheduler that ticks only on the elected leader; every tick carries the term's fencing token. */
export async function startScheduler(client: ZabClient, id: string, tick: (token: bigint, id: string) => void): Promise<LeaderLatch> {
  const latch = new LeaderLatch(client, '/election/scheduler', { id });
  latch.on('isLeader', (term) => {
    const timer = setInterval(() => tick(term.fencingToken, id), 20);
    term.signal.addEventListener('abort', () => clearInterval(timer), { once: true }); // the term ended: stop at once
  });
  await latch.start();
  return latch; // step down gracefully with: await latch.close({ handOn: true })
}
