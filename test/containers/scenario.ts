/**
 * One scenario for both runtimes of @zabkit/testing: a 3-node cluster, writes and reads through the
 * client, kill -9 of the leader, pause/unpause of a follower, a restart, and close() leaving nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, getServerStatus, type ZabClient } from '@zabkit/client';
import type { Cluster, ClusterNode } from '@zabkit/testing';

async function retry<T>(what: string, fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Reads `path` from one server only, after a sync, so it shows what that server has caught up to. */
async function readFrom(node: ClusterNode, path: string): Promise<string | null> {
  return retry(`read ${path} from node ${node.id}`, async () => {
    const zk = await connect(node.address, { sessionTimeoutMs: 6_000, requestTimeoutMs: 3_000, retry: { retries: 2, minTimeout: 50 } });
    try {
      await zk.sync(path);
      return (await zk.getString(path)).data;
    } finally {
      await zk.close().catch(() => undefined);
    }
  });
}

export function clusterScenario(opts: {
  start: () => Promise<Cluster>;
  /** Asserts nothing of the cluster is left once close() resolved. */
  assertGone: (cluster: Cluster, handles: string[]) => Promise<void>;
}): void {
  let cluster: Cluster;
  let zk: ZabClient;
  const handles = new Set<string>();
  const t0 = Date.now();
  const mark = (what: string, since: number) => console.log(`[testing] ${what}: ${Date.now() - since} ms`);
  const remember = () => cluster.nodes.forEach((n) => n.handle && handles.add(n.handle));

  beforeAll(async () => {
    cluster = await opts.start();
    mark(`${cluster.runtime}: 3-node cluster serving`, t0);
    remember();
    zk = await connect(cluster.connectString, { sessionTimeoutMs: 10_000, requestTimeoutMs: 8_000 });
  }, 120_000);

  afterAll(async () => {
    await zk?.close().catch(() => undefined);
    await cluster?.close();
  }, 60_000);

  it('serves writes and reads through the client', async () => {
    expect(cluster.nodes.map((n) => n.id)).toEqual([1, 2, 3]);
    expect(cluster.connectString.split(',')).toHaveLength(3);
    await zk.create('/tc', 'root');
    await zk.create('/tc/a', 'v1');
    expect((await zk.getString('/tc/a')).data).toBe('v1');
    const leader = await cluster.waitForLeader();
    expect(await leader.logs()).toMatch(/ready on 127\.0\.0\.1:\d+ as leader/);
  });

  it('kill -9 of the leader: a new leader serves and the data is intact', async () => {
    const old = await cluster.waitForLeader({ minFollowers: 2 });
    let t = Date.now();
    await old.kill();
    mark('kill leader', t);
    expect(old.isRunning()).toBe(false);
    t = Date.now();
    const next = await cluster.waitForLeader({ exclude: [old.id], timeoutMs: 30_000 });
    mark('new leader after kill', t);
    expect(next.id).not.toBe(old.id);
    expect(await retry('read after failover', async () => (await zk.getString('/tc/a')).data)).toBe('v1');
    await retry('write after failover', () => zk.create('/tc/b', 'after-failover'));
    // the old leader comes back (same port, same data dir) and catches up
    t = Date.now();
    await old.start();
    mark('start killed node', t);
    remember();
    await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    expect(await readFrom(old, '/tc/b')).toBe('after-failover');
  }, 90_000);

  it('pause freezes a follower; the others go on; unpause lets it catch up', async () => {
    const leader = await cluster.waitForLeader({ minFollowers: 2 });
    const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
    let t = Date.now();
    await follower.pause();
    mark('pause', t);
    expect(follower.isPaused()).toBe(true);
    await expect(getServerStatus(follower.address, { timeoutMs: 500 })).rejects.toThrow();
    await retry('write while a follower is frozen', () => zk.setData('/tc/a', 'v2'));
    t = Date.now();
    await follower.unpause();
    mark('unpause', t);
    expect(follower.isPaused()).toBe(false);
    expect(await readFrom(follower, '/tc/a')).toBe('v2');
  }, 60_000);

  it('restart() brings a node back on the same port with its data', async () => {
    const leader = await cluster.waitForLeader({ minFollowers: 2 });
    const node = cluster.nodes.find((n) => n.id !== leader.id)!;
    const t = Date.now();
    await node.restart();
    mark('restart follower', t);
    remember();
    expect(node.isRunning()).toBe(true);
    expect(await readFrom(node, '/tc/a')).toBe('v2');
    expect(await readFrom(node, '/tc/b')).toBe('after-failover');
    expect((await node.logs()).match(/--- zabkit-testing: node \d+ start #\d+ ---/g)!.length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('close() removes every server', async () => {
    await zk.close();
    const t = Date.now();
    await cluster.close();
    mark('close', t);
    await cluster.close(); // idempotent
    expect(cluster.nodes.every((n) => !n.isRunning())).toBe(true);
    await opts.assertGone(cluster, [...handles]);
    mark(`${cluster.runtime}: whole scenario`, t0);
  }, 60_000);
}
