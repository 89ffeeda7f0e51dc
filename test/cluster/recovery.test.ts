import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterHarness, createMany, pollUntil } from './harness.js';

// A follower whose data dir lost part of its history (snapshots deleted after autopurge removed the
// old log, a deleted middle segment) must refuse to start instead of rejoining with part of the tree,
// and `zabkit server --rejoin-empty` must bring it back whole, by SNAP.

const hexName = (prefix: string) => (n: string) => n.startsWith(prefix) && /^[a-z]+\.[0-9a-f]{16}$/.test(n);
const zxidOf = (name: string) => BigInt(`0x${name.slice(name.indexOf('.') + 1)}`);
const files = async (dir: string, prefix: string) => (await readdir(dir)).filter(hexName(prefix)).sort();

describe('a follower with an incomplete history (3 real processes, snapCount 100, snapRetainCount 3)', () => {
  let h: ClusterHarness | null = null;

  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  /** A cluster where `follower` has snapshotted and purged old log segments; the writer avoids it. */
  async function clusterWithPurgedFollower() {
    h = await ClusterHarness.start({ nodes: 3, extraConfig: { snapCount: 100, 'autopurge.snapRetainCount': 3 } });
    const { cluster } = h;
    const leader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const writer = await h.client([1, 2, 3].filter((id) => id !== follower).map((id) => cluster.address(id)).join(','));
    await writer.create('/r');
    await createMany(writer, '/r', 900);
    const onFollower = await h.clientOn(follower);
    await onFollower.sync('/');
    expect((await onFollower.getChildren('/r')).length).toBe(900);
    await onFollower.close();
    await pollUntil('the follower to purge log segments', 10_000, async () => h!.linesMatching(/purged \d+ log segment/, follower)[0]);
    const dataDir = cluster.node(follower).dataDir;
    return { cluster, leader, follower, writer, dataDir, snapDir: join(dataDir, 'snap') };
  }

  /** Starts `id` and expects it to exit, refused; returns its refusal line. */
  async function expectRefused(id: number): Promise<string> {
    const since = Date.now();
    await expect(h!.cluster.startNode(id)).rejects.toThrow(/exited before it was ready \(code 1/);
    const line = h!.linesMatching(/refuses to start/, id, since)[0];
    expect(line, h!.tail(20)).toBeDefined();
    expect(line).toContain('--rejoin-empty');
    expect(h!.linesMatching(/ ready on /, id, since)).toEqual([]);
    expect(h!.linesMatching(/^\s+at /, id, since), 'no stack trace').toEqual([]);
    return line!;
  }

  it('every snapshot deleted: the restart is refused naming the gap; --rejoin-empty brings it back by SNAP with exactly the cluster’s znodes', async () => {
    const { cluster, leader, follower, writer, dataDir, snapDir } = await clusterWithPurgedFollower();
    await cluster.kill(follower);
    const segments = await files(dataDir, 'log.');
    for (const s of await files(snapDir, 'snapshot.')) await unlink(join(snapDir, s));

    const line = await expectRefused(follower);
    expect(line).toContain('no snapshot');
    expect(line).toContain(join(dataDir, segments[0]!));
    expect(await files(dataDir, 'log.')).toEqual(segments); // refusing changed nothing

    // more writes while it is away, then the way out
    await writer.create('/later');
    await createMany(writer, '/later', 50);
    const since = Date.now();
    await cluster.startNode(follower, { serverArgs: ['--rejoin-empty'] });
    const moved = h!.linesMatching(/--rejoin-empty: moved \d+ file\(s\) aside/, follower, since)[0];
    expect(moved, h!.tail(20)).toBeDefined();
    const snap = await pollUntil('the leader to sync the follower', 10_000, async () =>
      h!.linesMatching(new RegExp(`sync ${follower}: (DIFF|TRUNC|SNAP)`), leader, since)[0],
    );
    expect(snap).toMatch(new RegExp(`sync ${follower}: SNAP at 0x`));
    // the damaged files are kept, aside
    const damaged = (await readdir(dataDir)).filter((n) => n.startsWith('damaged-'));
    expect(damaged).toHaveLength(1);
    expect(moved).toContain(join(dataDir, damaged[0]!, 'log'));
    expect(await files(join(dataDir, damaged[0]!, 'log'), 'log.')).toEqual(segments);
    expect((await stat(join(dataDir, damaged[0]!, 'snap', 'currentEpoch'))).isFile()).toBe(true);

    const onFollower = await h!.clientOn(follower);
    await onFollower.sync('/');
    expect((await onFollower.getChildren('/r')).length).toBe(900);
    expect((await onFollower.getChildren('/later')).length).toBe(50);
    const counts = await pollUntil('the follower and the leader to count the same znodes', 10_000, async () => {
      const [f, l] = await Promise.all([cluster.status(follower), cluster.status(leader)]);
      return f.zxid === l.zxid && f.znodes === l.znodes ? { f: f.znodes, l: l.znodes } : undefined;
    });
    expect(counts.f).toBeGreaterThanOrEqual(900 + 50 + 2);
    await onFollower.close();
  });

  it('a deleted middle log segment: the restart is refused naming the segments around the gap', async () => {
    const { cluster, follower, writer, dataDir, snapDir } = await clusterWithPurgedFollower();
    // fewer than snapCount more: the segment after the newest snapshot holds records
    await writer.create('/tail');
    await createMany(writer, '/tail', 50);
    const onFollower = await h!.clientOn(follower);
    await onFollower.sync('/');
    expect((await onFollower.getChildren('/tail')).length).toBe(50);
    await onFollower.close();
    await cluster.kill(follower);
    // (3 retained, or 4 when the kill came between a new snapshot and its purge)
    const snaps = await files(snapDir, 'snapshot.');
    expect(snaps.length).toBeGreaterThanOrEqual(2);
    for (const s of snaps.slice(1)) await unlink(join(snapDir, s)); // the oldest kept is now the newest
    const base = zxidOf(snaps[0]!);
    const after = (await files(dataDir, 'log.')).filter((n) => zxidOf(n) > base);
    expect(after.length).toBeGreaterThanOrEqual(3);
    await unlink(join(dataDir, after[1]!));

    const line = await expectRefused(follower);
    expect(line).toContain(`a log segment is missing between ${join(dataDir, after[0]!)}`);
    expect(line).toContain(join(dataDir, after[2]!));
  });
});
