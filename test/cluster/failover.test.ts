import { afterEach, describe, expect, it } from 'vitest';
import { checkServer, ClusterHarness, pollUntil, runWrites, text } from './harness.js';

// Real `zabkit server` processes on loopback, tickTime 200 ms (syncLimit 5 ticks = 1 s).
describe('leader failover (3 real processes)', () => {
  let h: ClusterHarness | null = null;

  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  it('kill -9 of the leader under load: a new leader serves, acknowledged writes are everywhere, nothing half-applied', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const { cluster } = h;
    const oldLeader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const setup = await h.client();
    await setup.create('/ft');

    const writers = await Promise.all([1, 2, 3].map(() => h!.client(cluster.connectString, { requestTimeoutMs: 8_000 })));
    const KILL_AFTER = 300; // acknowledged writes before the kill
    const AFTER_KILL = 150; // writes issued after the kill that must be acknowledged before the load stops
    let killAt = 0;
    let killed: Promise<void> | null = null;
    const load = await runWrites({
      clients: writers,
      lanes: 4,
      parent: '/ft',
      maxWrites: 4_000,
      maxMs: 40_000,
      onAck: (l) => {
        if (!killed && l.acked.length >= KILL_AFTER) {
          killAt = Date.now();
          killed = cluster.kill(oldLeader);
        }
      },
      until: (l) => killAt > 0 && l.acked.filter((a) => a.issuedAt > killAt).length >= AFTER_KILL,
    });
    expect(killed).not.toBeNull();
    await killed;

    const afterKill = load.acked.filter((a) => a.issuedAt > killAt);
    expect(afterKill.length, `writes acknowledged after the kill\n${h.tail()}`).toBeGreaterThanOrEqual(AFTER_KILL);
    const failoverMs = Math.min(...afterKill.map((a) => a.ackedAt)) - killAt;
    console.log(`[cluster] failover after kill -9 of leader ${oldLeader}: ${failoverMs} ms to the first write acknowledged after it (${load.acked.length} acknowledged, ${load.unknown.length} failed)`);

    const newLeader = await cluster.waitForLeader({ exclude: [oldLeader], minFollowers: 1, timeoutMs: 20_000 });
    expect(newLeader).not.toBe(oldLeader);

    // The old leader comes back as a follower and catches up; then every server has every acked write.
    await cluster.startNode(oldLeader);
    await pollUntil('old leader to follow', 20_000, async () => ((await cluster.status(oldLeader)).role === 'follower' ? true : undefined));
    const trees = [];
    for (const id of [1, 2, 3]) trees.push(await checkServer(h, id, '/ft', load));
    expect(trees[1]).toEqual(trees[0]);
    expect(trees[2]).toEqual(trees[0]);
    // Unacknowledged writes: each is either entirely there (checked above) or absent — on every server alike.
    expect(trees[0]!.length).toBeGreaterThanOrEqual(load.acked.length);
    expect(trees[0]!.length).toBeLessThanOrEqual(load.acked.length + load.unknown.length);
  }, 90_000);

  it('SIGSTOP of the leader beyond syncLimit: the others elect and serve; after SIGCONT the old leader follows and converges', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const { cluster } = h;
    const oldLeader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const others = [1, 2, 3].filter((id) => id !== oldLeader);
    const before = await h.client();
    await before.create('/paused', 'before');
    const epochBefore = (await cluster.status(others[0]!)).epoch;

    const pausedAt = Date.now();
    cluster.pause(oldLeader);
    // syncLimit * tickTime = 1 s; the followers must notice and elect one of themselves.
    const newLeader = await cluster.waitForLeader({ exclude: [oldLeader], minFollowers: 1, timeoutMs: 20_000 });
    expect(others).toContain(newLeader);
    expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(1_000 - 100); // not before syncLimit elapsed (100 ms poll slack)
    const newStatus = await cluster.status(newLeader);
    expect(newStatus.epoch).toBeGreaterThan(epochBefore);

    const survivor = await h.client(others.map((id) => cluster.address(id)).join(','), { requestTimeoutMs: 10_000 });
    await survivor.create('/paused/during', 'written while the old leader was frozen');
    for (let i = 0; i < 20; i++) await survivor.create(`/paused/n${i}`, `v${i}`);

    cluster.resume(oldLeader);
    const rejoined = await pollUntil('the old leader to step down and follow', 20_000, async () => {
      const s = await cluster.status(oldLeader);
      return s.role === 'follower' ? s : undefined;
    });
    expect(rejoined.epoch).toBe(newStatus.epoch);

    // Its tree converges: the write made while it was frozen is readable there after sync,
    // and it reports the same zxid and znode count as the others.
    const onOld = await h.clientOn(oldLeader);
    await onOld.sync('/');
    expect(text((await onOld.getData('/paused/during')).data)).toBe('written while the old leader was frozen');
    expect((await onOld.getChildren('/paused')).length).toBe(21);
    const converged = await pollUntil('all three servers at the same zxid and znode count', 10_000, async () => {
      const all = await Promise.all([1, 2, 3].map((id) => cluster.status(id)));
      const same = all.every((s) => s.zxid === all[0]!.zxid && s.znodes === all[0]!.znodes);
      return same ? all : undefined;
    });
    expect(converged.filter((s) => s.role === 'leader').map((s) => s.serverId)).toEqual([newLeader]);
    // The leader lists both others as synced followers.
    expect((await cluster.status(newLeader)).followers).toEqual(expect.arrayContaining([oldLeader]));
  }, 60_000);

  it('three successive leader kills (each restarted) and a rolling SIGTERM restart under load lose no acknowledged write', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const { cluster } = h;
    await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const setup = await h.client();
    await setup.create('/roll');
    const writers = await Promise.all([1, 2].map(() => h!.client(cluster.connectString, { requestTimeoutMs: 8_000 })));

    const ROUNDS = 3;
    let done = false;
    let acked = 0;
    const epochs: number[] = [];
    // Between two faults the load must make progress (so every fault hits a cluster under writes).
    const progress = async (n: number) => {
      const target = acked + n;
      await pollUntil(`${n} more acknowledged writes`, 20_000, async () => (acked >= target ? true : undefined));
    };
    const faults = (async () => {
      try {
        for (let round = 0; round < ROUNDS; round++) {
          await progress(30);
          const leader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 20_000 });
          epochs.push((await cluster.status(leader)).epoch);
          await cluster.kill(leader);
          await cluster.waitForLeader({ exclude: [leader], minFollowers: 1, timeoutMs: 20_000 });
          await cluster.startNode(leader);
        }
        // Rolling restart: each server in turn, gracefully, waiting for it to serve again.
        for (const id of [1, 2, 3]) {
          await progress(30);
          await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 20_000 });
          await cluster.restartNode(id);
        }
        await progress(30);
        epochs.push((await cluster.status(await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 20_000 }))).epoch);
      } finally {
        done = true;
      }
    })();
    const load = await runWrites({
      clients: writers,
      lanes: 3,
      parent: '/roll',
      maxWrites: 20_000,
      maxMs: 60_000,
      until: () => done,
      onAck: () => void acked++,
    });
    await faults;
    // Each kill made a new epoch; every change of leader moves the epoch forward.
    for (let i = 1; i < epochs.length; i++) expect(epochs[i]!).toBeGreaterThan(epochs[i - 1]!);
    expect(load.acked.length).toBeGreaterThanOrEqual(30 * (ROUNDS + 4));
    const trees = [];
    for (const id of [1, 2, 3]) trees.push(await checkServer(h, id, '/roll', load));
    expect(trees[1]).toEqual(trees[0]);
    expect(trees[2]).toEqual(trees[0]);
  }, 90_000);
});
