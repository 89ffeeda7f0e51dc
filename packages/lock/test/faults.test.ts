import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, hasCode, isRetryable, mkdirp, type ZabClient } from '@zabkit/client';
import { Mutex } from '@zabkit/lock';
import { startTestCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Proxy } from '../../../test/support/proxy.js';
import { FencedStore } from './example.js';
import { aborted, childrenOf, loseNextReply, once, statOf } from '../../../test/support/recipes.js';

let tc: TestCluster;
let b: ZabClient;
const extra: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  tc = await startTestCluster();
  b = await tc.client();
});
afterAll(async () => {
  await Promise.all(extra.map((x) => x.close().catch(() => {})));
  await tc?.close();
});

async function viaProxy(nodeId: number, sessionTimeoutMs: number): Promise<{ proxy: Proxy; client: ZabClient }> {
  const proxy = await Proxy.start(tc.cluster.nodes.find((n) => n.id === nodeId)!.clientPort);
  const client = await connect(proxy.address, { sessionTimeoutMs, retry: { minTimeout: 20, maxTimeout: 200 } });
  extra.push(client, proxy);
  return { proxy, client };
}

/** A read that rides out a leader election. */
async function read<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetryable(err) || i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('Mutex under faults', () => {
  it('holder keeps the lock when its server is killed (kill -9) and it moves to another; no second holder meanwhile', async () => {
    const path = '/t/faults/kill';
    // the hardest case: the holder sits on the ZAB leader, so the ensemble re-elects too
    const leader = await tc.cluster.waitForLeader();
    const order = [leader, ...tc.cluster.nodes.map((n) => n.id).filter((id) => id !== leader)].map((id) => tc.cluster.address(id));
    const holder = await connect(order.join(','), { sessionTimeoutMs: 6_000, shuffle: false });
    extra.push(holder);
    const mutex = new Mutex(holder, path);
    const lease = await mutex.acquire({ timeoutMs: 5_000 });
    const victim = tc.cluster.nodes.find((n) => tc.cluster.address(n.id) === holder.serverAddress)!.id;
    const others = tc.cluster.nodes.filter((n) => n.id !== victim).map((n) => tc.cluster.address(n.id));
    const contender = await connect(others.join(','), { sessionTimeoutMs: 6_000 });
    extra.push(contender);
    let contenderHolds = false;
    const contending = new Mutex(contender, path).acquire({ timeoutMs: 45_000 }).then((l) => {
      contenderHolds = true;
      return l;
    });
    while ((await contender.getChildren(path)).length !== 2) await new Promise((r) => setTimeout(r, 20));

    const reconnected = once(holder, 'reconnected');
    await tc.cluster.kill(victim);
    await reconnected;
    expect(holder.serverAddress).not.toBe(tc.cluster.address(victim));
    // Consistent outcome: the session survived, so the lock is still the holder's and nobody else's.
    expect(lease.signal.aborted).toBe(false);
    expect(mutex.isHeld).toBe(true);
    const stat = await read(() => contender.exists(lease.node));
    expect(stat?.ephemeralOwner).toBe(holder.sessionId);
    expect(contenderHolds).toBe(false);

    await lease.release();
    const next = await contending;
    expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
    await next.release();
    await tc.cluster.startNode(victim);
  }, 60_000);

  it('expired holder is told through lease.signal, another takes over, the old token is fenced off', async () => {
    const path = '/t/faults/expire';
    const { proxy, client: holder } = await viaProxy(1, 2_000);
    const store = new FencedStore();
    const mutex = new Mutex(holder, path);
    const lease = await mutex.acquire({ timeoutMs: 5_000 });
    store.write(path, lease.fencingToken, 'first holder');

    const taking = new Mutex(b, path).acquire({ timeoutMs: 20_000 });
    const lost = aborted(lease.signal);
    proxy.cut(); // the holder is cut off; the ensemble expires its session
    const [reason, next] = await Promise.all([lost, taking]);
    expect(hasCode(reason, 'ConnectionLoss') || hasCode(reason, 'SessionExpired')).toBe(true);
    expect(mutex.isHeld).toBe(false);
    expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
    store.write(path, next.fencingToken, 'second holder');
    // the first holder wakes up late and tries to write with its old token: refused
    expect(() => store.write(path, lease.fencingToken, 'stale write')).toThrow(/stale fencing token/);
    expect(store.writes).toEqual(['first holder', 'second holder']);

    const expired = once(holder, 'expired');
    proxy.restore();
    await expired;
    await next.release();
  });

  it('with lostAfterSuspendedMs: Infinity the lease is lost on the expiry verdict itself', async () => {
    const path = '/t/faults/expire-verdict';
    const { proxy, client: holder } = await viaProxy(2, 2_000);
    const lease = await new Mutex(holder, path, { lostAfterSuspendedMs: Infinity }).acquire({ timeoutMs: 5_000 });
    const taking = new Mutex(b, path).acquire({ timeoutMs: 20_000 });
    proxy.cut();
    const next = await taking; // the ensemble expired the holder's session
    expect(lease.signal.aborted).toBe(false); // the holder cannot know yet: only fencing protects here
    const lost = aborted(lease.signal);
    proxy.restore();
    expect(hasCode(await lost, 'SessionExpired')).toBe(true);
    await next.release();
  });

  it('lostAfterSuspendedMs: 0 treats a short disconnect as loss, consistently: signalled, node deleted once back', async () => {
    const path = '/t/faults/blip';
    const { proxy, client } = await viaProxy(2, 4_000);
    const mutex = new Mutex(client, path, { lostAfterSuspendedMs: 0 });
    const lease = await mutex.acquire({ timeoutMs: 5_000 });
    const lost = aborted(lease.signal);
    client.once('suspended', () => proxy.restore());
    proxy.cut();
    expect(hasCode(await lost, 'ConnectionLoss')).toBe(true);
    expect(mutex.isHeld).toBe(false);
    // the session lives on, but the lost lease's node goes, so the lock is free for others
    const next = await new Mutex(b, path).acquire({ timeoutMs: 10_000 });
    expect(client.state).toBe('connected');
    expect(next.fencingToken).toBeGreaterThan(lease.fencingToken);
    await next.release();
    await lease.release(); // a no-op on a lost lease
  });

  it('a lost create reply: the node is found again by its GUID, no orphan', async () => {
    const path = '/t/faults/lost-reply';
    const { proxy, client } = await viaProxy(3, 4_000);
    await mkdirp(b, path);
    const dropped = loseNextReply(client, () => proxy.cut());
    client.once('suspended', () => proxy.restore());
    const lease = await new Mutex(client, path).acquire({ timeoutMs: 20_000 });
    await dropped;
    expect(client.state).toBe('connected');
    expect(await childrenOf(b, path)).toEqual([lease.node.split('/').pop()]);
    await lease.release();
    expect(await childrenOf(b, path)).toEqual([]);
  });

  it('a lost create reply followed by giving up leaves no orphan blocking the lock while the session lives', async () => {
    const path = '/t/faults/lost-reply-abort';
    const { proxy, client } = await viaProxy(1, 4_000);
    await mkdirp(b, path);
    const ctl = new AbortController();
    const dropped = loseNextReply(client, () => {
      proxy.cut();
      ctl.abort();
    });
    const err = await new Mutex(client, path).acquire({ signal: ctl.signal }).catch((e: unknown) => e);
    expect(hasCode(err, 'Aborted')).toBe(true);
    await dropped;
    expect(await childrenOf(b, path)).toHaveLength(1); // the create was applied: an orphan of a live session
    const reconnected = once(client, 'reconnected');
    proxy.restore();
    await reconnected;
    const lease = await new Mutex(b, path).acquire({ timeoutMs: 15_000 }); // the orphan was cleaned up
    expect(client.state).toBe('connected');
    expect(await client.getEphemerals(path)).toEqual([]);
    await lease.release();
  });
});
