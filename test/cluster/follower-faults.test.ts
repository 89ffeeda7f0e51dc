import { afterEach, describe, expect, it } from 'vitest';
import { checkServer, ClusterHarness, pollUntil, runWrites } from './harness.js';

describe('follower faults under load (3 real processes)', () => {
  let h: ClusterHarness | null = null;

  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  it('a follower frozen past syncLimit during writes is dropped, writes go on, and after SIGCONT it catches up', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const { cluster } = h;
    const leader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const frozen = [1, 2, 3].find((id) => id !== leader)!;
    const setup = await h.client();
    await setup.create('/ff');
    // Writers avoid the frozen server so their progress measures the cluster, not client failover.
    const healthy = [1, 2, 3].filter((id) => id !== frozen).map((id) => cluster.address(id)).join(',');
    const writers = await Promise.all([1, 2].map(() => h!.client(healthy, { requestTimeoutMs: 8_000 })));

    let phase: 'before' | 'frozen' | 'thawed' = 'before';
    let frozenAt = 0;
    let ackedWhileFrozen = 0;
    const load = runWrites({
      clients: writers,
      lanes: 3,
      parent: '/ff',
      maxWrites: 10_000,
      maxMs: 40_000,
      onAck: (l) => {
        if (phase === 'before' && l.acked.length >= 100) {
          phase = 'frozen';
          frozenAt = Date.now();
          cluster.pause(frozen);
        } else if (phase === 'frozen') ackedWhileFrozen++;
      },
      until: () => phase === 'thawed',
    });
    // The leader drops the silent follower after syncLimit (1 s) and keeps committing with the other one.
    await pollUntil('the leader to drop the frozen follower', 15_000, async () => {
      if (phase !== 'frozen') return undefined;
      const s = await cluster.status(leader);
      return s.followers && !s.followers.includes(frozen) ? true : undefined;
    });
    const droppedAfterMs = Date.now() - frozenAt;
    const ackedAtDrop = ackedWhileFrozen;
    await pollUntil('writes to go on without the frozen follower', 15_000, async () => (ackedWhileFrozen >= ackedAtDrop + 100 ? true : undefined));
    expect(droppedAfterMs).toBeGreaterThanOrEqual(900);
    expect((await cluster.status(leader)).role).toBe('leader');

    cluster.resume(frozen);
    // Its socket buffers hold stale traffic from before the drop; it must resync, not apply garbage.
    await pollUntil('the thawed follower to follow again', 20_000, async () => ((await cluster.status(frozen)).role === 'follower' ? true : undefined));
    await pollUntil('the leader to list it again', 10_000, async () => ((await cluster.status(leader)).followers?.includes(frozen) ? true : undefined));
    phase = 'thawed';
    const result = await load;
    expect(result.acked.length).toBeGreaterThan(200);
    const trees = [];
    for (const id of [1, 2, 3]) trees.push(await checkServer(h, id, '/ff', result));
    expect(trees[1]).toEqual(trees[0]);
    expect(trees[2]).toEqual(trees[0]);
    const statuses = await Promise.all([1, 2, 3].map((id) => cluster.status(id)));
    expect(statuses.filter((s) => s.role === 'leader').map((s) => s.serverId)).toEqual([leader]);
  }, 60_000);
});
