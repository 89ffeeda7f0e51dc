import { epochOf } from '@zabkit/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterHarness, pollUntil, text } from './harness.js';

// A sync after an election must not wait for the new epoch's first write (it used to wait for
// zxid (newEpoch, 0), which no txn has, holding that session's later replies too).
describe('sync() right after an election (3 real processes)', () => {
  let h: ClusterHarness | null = null;

  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  it('after kill -9 of the leader, with no write in the new epoch, sync and the read after it answer on every survivor', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const { cluster } = h;
    const oldLeader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const survivors = [1, 2, 3].filter((id) => id !== oldLeader);
    const setup = await h.clientOn(survivors[0]!);
    await setup.create('/synced', 'before');
    // Sessions are created before the kill: a session created afterwards would be a write of the new epoch.
    const clients = await Promise.all(survivors.map((id) => h!.clientOn(id)));
    for (const c of clients) await c.sync('/');

    await cluster.kill(oldLeader);
    const newLeader = await cluster.waitForLeader({ exclude: [oldLeader], minFollowers: 1, timeoutMs: 20_000 });
    expect(survivors).toContain(newLeader);
    await pollUntil('both clients to be back on their servers', 20_000, async () =>
      clients.every((c) => c.state === 'connected') ? true : undefined,
    );

    // The sync and a read issued right behind it (not awaited in between): both answer, within
    // the client's request timeout (10 s; before the fix both hung until some write came).
    const answers = await Promise.all(clients.map((c) => Promise.all([c.sync('/synced'), c.getData('/synced')])));
    for (const [, read] of answers) expect(text(read.data)).toBe('before');

    // Nothing was written in the new epoch: what the sync waited for was only what was already there.
    const status = await cluster.status(newLeader);
    expect(status.role).toBe('leader');
    expect(epochOf(status.zxid), `zxid 0x${status.zxid.toString(16)} in epoch ${status.epoch}\n${h.tail()}`).toBeLessThan(status.epoch);
  }, 90_000);
});
