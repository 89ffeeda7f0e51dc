import { afterEach, describe, expect, it } from 'vitest';
import type { WatchEvent } from '@zabkit/client';
import { ClusterHarness, nextEvent, text, withTimeout } from './harness.js';

// A session outlives the server it was connected to: the client moves, keeps its id, its
// ephemerals and its watches.
describe('session move after kill -9 of its server (3 real processes)', () => {
  let h: ClusterHarness | null = null;

  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  for (const [victim, fault] of [
    ['follower', 'kill'],
    ['leader', 'kill'],
    ['follower', 'pause'],
  ] as const) {
    it(`keeps session, ephemeral and watches when its server (the ${victim}) is ${fault === 'kill' ? 'killed' : 'frozen (SIGSTOP)'}`, async () => {
      h = await ClusterHarness.start({ nodes: 3 });
      const { cluster } = h;
      const leader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
      const target = victim === 'leader' ? leader : [1, 2, 3].find((id) => id !== leader)!;
      const rest = [1, 2, 3].filter((id) => id !== target);
      // The killed server first, in order, so the client is on it.
      const order = [target, ...rest].map((id) => cluster.address(id)).join(',');
      const client = await h.client(order, { shuffle: false, sessionTimeoutMs: 4_000 });
      expect(client.serverAddress).toBe(cluster.address(target));
      const sessionId = client.sessionId;

      const other = await h.client(rest.map((id) => cluster.address(id)).join(','));
      await other.create('/watched', 'v0');
      await client.create('/eph', 'mine', { mode: 'ephemeral' });
      const dataEvent = new Promise<WatchEvent>((resolve) => void client.getData('/watched', { watch: resolve }));
      const childEvent = new Promise<WatchEvent>((resolve) => void client.getChildren('/watched', { watch: resolve }));
      await client.sync('/'); // the watches are registered once the reads above are answered

      const suspended = nextEvent(client, 'suspended', 10_000);
      const reconnected = nextEvent(client, 'reconnected', 20_000);
      // A frozen server answers nothing but keeps its sockets open: the client must notice by itself.
      if (fault === 'kill') await cluster.kill(target);
      else cluster.pause(target);
      await suspended;
      const [{ server }] = await reconnected;
      expect(server).not.toBe(cluster.address(target));
      expect(rest.map((id) => cluster.address(id))).toContain(server);
      expect(client.sessionId).toBe(sessionId);
      expect(client.state).toBe('connected');

      // The watches set before the move fire for changes made after it, from another session.
      await other.setData('/watched', 'v1');
      await other.create('/watched/child');
      expect(await withTimeout(dataEvent, 10_000, 'data watch')).toEqual({ type: 'NodeDataChanged', path: '/watched' });
      expect(await withTimeout(childEvent, 10_000, 'child watch')).toEqual({ type: 'NodeChildrenChanged', path: '/watched' });

      // The ephemeral is still owned by the same session, as the other servers see it.
      await other.sync('/');
      const eph = await other.exists('/eph');
      expect(eph?.ephemeralOwner).toBe(sessionId);
      expect(text((await client.getData('/eph')).data)).toBe('mine');
      // The session still writes on its new server.
      await client.setData('/eph', 'still mine');
      expect(client.sessionId).toBe(sessionId);

      // Closing the session removes the ephemeral everywhere.
      const gone = new Promise<WatchEvent>((resolve) => void other.exists('/eph', { watch: resolve }));
      await client.close();
      expect(await withTimeout(gone, 10_000, 'ephemeral deletion')).toEqual({ type: 'NodeDeleted', path: '/eph' });
    }, 60_000);
  }
});

describe('session expiry behind a frozen server (3 real processes)', () => {
  let h: ClusterHarness | null = null;

  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  it('a client stuck on a server frozen past its session timeout is told its session expired; its ephemeral is gone everywhere', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const { cluster } = h;
    const leader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const target = [1, 2, 3].find((id) => id !== leader)!;
    // Only the one server in its list: it cannot move away.
    const stuck = await h.clientOn(target, { sessionTimeoutMs: 1_000 });
    const timeoutMs = stuck.sessionTimeoutMs;
    expect(timeoutMs).toBeLessThanOrEqual(4_000); // clamped to [2, 20] ticks of 200 ms
    await stuck.create('/stuck-eph', 'x', { mode: 'ephemeral' });
    const observer = await h.client([1, 2, 3].filter((id) => id !== target).map((id) => cluster.address(id)).join(','));
    await observer.sync('/');
    expect(await observer.exists('/stuck-eph')).not.toBeNull();

    const expired = nextEvent(stuck, 'expired', 30_000);
    const deleted = new Promise<WatchEvent>((resolve) => void observer.exists('/stuck-eph', { watch: resolve }));
    cluster.pause(target);
    // The leader expires the session (its server no longer touches it) and deletes the ephemeral.
    expect(await withTimeout(deleted, timeoutMs + 10_000, 'the ephemeral to be deleted by expiry')).toEqual({ type: 'NodeDeleted', path: '/stuck-eph' });
    cluster.resume(target);
    // Back on its (now thawed and resynced) server, the client learns the session is gone.
    const [err] = await expired;
    expect(err.code).toBe('SessionExpired');
    expect(stuck.state).toBe('expired');
    // The thawed server agrees: no ephemeral there either.
    const onTarget = await h.clientOn(target);
    await onTarget.sync('/');
    expect(await onTarget.exists('/stuck-eph')).toBeNull();
  }, 60_000);
});
