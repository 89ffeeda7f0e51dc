import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode, isProtected, type ZabClient } from '@zabkit/client';
import { Mutex, ReadWriteLock, Semaphore, type Lease } from '@zabkit/lock';
import { startTestCluster, type TestCluster } from '../../../test/support/cluster.js';
import { FencedStore, runJob } from './example.js';
import { childrenOf, statOf } from '../../../test/support/recipes.js';

let tc: TestCluster;
let a: ZabClient;
let b: ZabClient;

beforeAll(async () => {
  tc = await startTestCluster();
  a = await tc.client();
  b = await tc.client();
});
afterAll(async () => {
  await tc?.close();
});

const rejectsWith = async (p: Promise<unknown>, code: string): Promise<void> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(hasCode(err, code as never), `expected ${code}, got ${String(err)}`).toBe(true);
};

describe('Mutex', () => {
  it('acquire, tryAcquire from another session, release, increasing tokens', async () => {
    const ma = new Mutex(a, '/t/mutex/basic');
    const mb = new Mutex(b, '/t/mutex/basic');
    const lease = await ma.acquire({ timeoutMs: 5_000 });
    expect(ma.isHeld).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    const name = lease.node.split('/').pop()!;
    expect(isProtected(name)).toBe(true);
    const stat = await statOf(b, lease.node);
    expect(stat?.ephemeralOwner).toBe(a.sessionId);
    expect(lease.fencingToken).toBe(stat?.czxid);

    expect(await mb.tryAcquire()).toBeNull();
    expect(await childrenOf(b, '/t/mutex/basic')).toHaveLength(1); // tryAcquire left nothing

    await lease.release();
    expect(ma.isHeld).toBe(false);
    expect(lease.signal.aborted).toBe(false); // a normal release is not a loss
    const second = await mb.tryAcquire();
    expect(second).not.toBeNull();
    expect(second!.fencingToken).toBeGreaterThan(lease.fencingToken);
    await second!.release();
    expect(await childrenOf(b, '/t/mutex/basic')).toEqual([]);
  });

  it('is reentrant within one handle by count', async () => {
    const ma = new Mutex(a, '/t/mutex/reentrant');
    const mb = new Mutex(b, '/t/mutex/reentrant');
    const l1 = await ma.acquire();
    const l2 = await ma.acquire();
    expect(ma.holdCount).toBe(2);
    expect(l2.fencingToken).toBe(l1.fencingToken);
    expect(await a.getChildren('/t/mutex/reentrant')).toHaveLength(1);
    await l1.release();
    await l1.release(); // once per lease
    expect(ma.holdCount).toBe(1);
    expect(await mb.tryAcquire()).toBeNull();
    await ma.release();
    expect(ma.isHeld).toBe(false);
    const lb = await mb.acquire({ timeoutMs: 5_000 });
    await lb.release();
  });

  it('times out or aborts a wait and leaves no node behind', async () => {
    const ma = new Mutex(a, '/t/mutex/timeout');
    const mb = new Mutex(b, '/t/mutex/timeout');
    const held = await ma.acquire();
    await rejectsWith(mb.acquire({ timeoutMs: 300 }), 'OperationTimeout');
    const ctl = new AbortController();
    const p = mb.acquire({ signal: ctl.signal });
    setTimeout(() => ctl.abort(), 100);
    await rejectsWith(p, 'Aborted');
    expect(await childrenOf(b, '/t/mutex/timeout')).toHaveLength(1);
    // closing the handle aborts its pending acquisition
    const closing = new Mutex(b, '/t/mutex/timeout');
    const pending = closing.acquire();
    setTimeout(() => void closing.close(), 100);
    await rejectsWith(pending, 'Closed');
    await rejectsWith(closing.acquire(), 'Closed');
    expect(await childrenOf(b, '/t/mutex/timeout')).toHaveLength(1);
    await held.release();
  });

  it('withLock releases when the callback throws', async () => {
    const ma = new Mutex(a, '/t/mutex/withlock');
    await expect(ma.withLock(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(ma.isHeld).toBe(false);
    expect(await a.getChildren('/t/mutex/withlock')).toEqual([]);
    expect(await ma.withLock((lease) => typeof lease.fencingToken)).toBe('bigint');
  });

  it('is FIFO and wakes only the next waiter (no herd)', async () => {
    const path = '/t/mutex/fifo';
    const holder = new Mutex(a, path);
    const first = await holder.acquire();
    const clients = await Promise.all([0, 1, 2, 3].map(() => tc.client()));
    const reads = clients.map(() => 0);
    clients.forEach((c, i) => {
      const orig = c.getChildren.bind(c);
      c.getChildren = (...args: Parameters<ZabClient['getChildren']>) => {
        reads[i]!++;
        return orig(...args);
      };
    });
    const order: number[] = [];
    const leases: Promise<Lease>[] = [];
    for (let i = 0; i < clients.length; i++) {
      const m = new Mutex(clients[i]!, path);
      leases.push(
        m.acquire({ timeoutMs: 10_000 }).then((l) => {
          order.push(i);
          return l;
        }),
      );
      // queue in a known order: wait until this waiter's node exists
      while ((await a.getChildren(path)).length < i + 2) await new Promise((r) => setTimeout(r, 10));
    }
    const before = [...reads];
    await first.release();
    const l0 = await leases[0]!;
    // only waiter 0 looked at the children again; the others' watches did not fire
    expect(reads.slice(1)).toEqual(before.slice(1));
    await l0.release();
    for (let i = 1; i < leases.length; i++) await (await leases[i]!).release();
    expect(order).toEqual([0, 1, 2, 3]);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('never mistakes a node left by a previous session for its own', async () => {
    const path = '/t/mutex/previous';
    // An earlier incarnation of this service (another session) still holds the lock.
    const old = await tc.client();
    const oldLease = await new Mutex(old, path).acquire();
    const m = new Mutex(a, path);
    expect(await m.tryAcquire()).toBeNull();
    const waiting = m.acquire({ timeoutMs: 10_000 });
    await old.close(); // its ephemeral goes with it
    const lease = await waiting;
    expect(lease.fencingToken).toBeGreaterThan(oldLease.fencingToken);
    expect((await a.exists(lease.node))?.ephemeralOwner).toBe(a.sessionId);
    await lease.release();
  });

  it('8 clients x 200 acquisitions: never two holders, tokens strictly increasing', async () => {
    const path = '/t/mutex/contended';
    const clients = await Promise.all(Array.from({ length: 8 }, () => tc.client()));
    let inside = 0;
    let maxInside = 0;
    let counter = 0;
    const tokens: bigint[] = [];
    await Promise.all(
      clients.map(async (c) => {
        const m = new Mutex(c, path);
        for (let i = 0; i < 25; i++) {
          await m.withLock(
            async (lease) => {
              inside++;
              maxInside = Math.max(maxInside, inside);
              tokens.push(lease.fencingToken);
              const seen = counter;
              await c.exists(path); // a round trip while holding
              counter = seen + 1;
              inside--;
            },
            { timeoutMs: 30_000 },
          );
        }
      }),
    );
    expect(maxInside).toBe(1);
    expect(counter).toBe(200);
    expect(tokens).toHaveLength(200);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!).toBe(true);
    expect(await childrenOf(a, path)).toEqual([]);
    await Promise.all(clients.map((c) => c.close()));
  }, 60_000);
});

describe('ReadWriteLock', () => {
  it('readers share, writers are exclusive, FIFO, writer may read, no upgrade', async () => {
    const path = '/t/rw/basic';
    const c = await tc.client();
    const ra = new ReadWriteLock(a, path);
    const rb = new ReadWriteLock(b, path);
    const rc = new ReadWriteLock(c, path);

    const r1 = await ra.readLock.acquire();
    const r2 = await rb.readLock.acquire({ timeoutMs: 2_000 }); // shared
    expect(await rc.writeLock.tryAcquire()).toBeNull();
    const events: string[] = [];
    const w = rc.writeLock.acquire({ timeoutMs: 10_000 }).then((l) => (events.push('write'), l));
    while ((await a.getChildren(path)).length < 3) await new Promise((r) => setTimeout(r, 10));
    // a reader arriving after a waiting writer waits behind it
    const rb2 = new ReadWriteLock(b, path);
    const late = rb2.readLock.acquire({ timeoutMs: 10_000 }).then((l) => (events.push('late-read'), l));
    while ((await a.getChildren(path)).length < 4) await new Promise((r) => setTimeout(r, 10));
    await r1.release();
    await r2.release();
    const wl = await w;
    expect(events).toEqual(['write']);

    // the writer may take the read lock too (downgrade: keep it after the write lock)
    const own = await rc.readLock.acquire({ timeoutMs: 2_000 });
    await wl.release();
    const lr = await late;
    expect(events).toEqual(['write', 'late-read']);
    await lr.release();
    // no upgrade: holding only the read lock, the write lock is refused
    await rejectsWith(rc.writeLock.acquire({ timeoutMs: 1_000 }), 'BadArguments');
    await own.release();
    const w2 = await rc.writeLock.acquire({ timeoutMs: 2_000 });
    expect(w2.fencingToken).toBeGreaterThan(wl.fencingToken);
    await rc.close();
    await Promise.all([ra.close(), rb.close(), rb2.close()]);
    expect(await childrenOf(a, path)).toEqual([]);
    await c.close();
  });
});

describe('Semaphore', () => {
  it('grants at most max leases under contention, FIFO gate, tryAcquire', async () => {
    const path = '/t/sem/basic';
    const sa = new Semaphore(a, path, 2);
    const sb = new Semaphore(b, path, 2);
    const l1 = await sa.acquire();
    const l2 = await sb.acquire();
    expect(await sa.tryAcquire()).toBeNull();
    const third = sa.acquire({ timeoutMs: 10_000 });
    await l1.release();
    const l3 = await third;
    expect(l3.fencingToken).toBeGreaterThan(l2.fencingToken);
    await Promise.all([l2.release(), l3.release()]);

    const clients = await Promise.all(Array.from({ length: 4 }, () => tc.client()));
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      clients.map(async (c) => {
        const s = new Semaphore(c, path, 2);
        for (let i = 0; i < 8; i++) {
          const lease = await s.acquire({ timeoutMs: 20_000 });
          inside++;
          maxInside = Math.max(maxInside, inside);
          await c.exists(path);
          inside--;
          await lease.release();
        }
      }),
    );
    expect(maxInside).toBeLessThanOrEqual(2);
    expect(await childrenOf(a, `${path}/leases`)).toEqual([]);
    await Promise.all(clients.map((c) => c.close()));
  }, 45_000);

  it('times out leaving no lease node', async () => {
    const path = '/t/sem/timeout';
    const s = new Semaphore(a, path, 1);
    const held = await s.acquire();
    await rejectsWith(new Semaphore(b, path, 1).acquire({ timeoutMs: 300 }), 'OperationTimeout');
    expect(await childrenOf(a, `${path}/leases`)).toHaveLength(1);
    await s.close();
    expect(held.signal.aborted).toBe(false);
    expect(await childrenOf(a, `${path}/leases`)).toEqual([]);
  });
});

describe('README example', () => {
  it('is the tested example verbatim, and it runs with fenced writes', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const example = await readFile(new URL('./example.ts', import.meta.url), 'utf8');
    expect(readme).toContain(example.trim());
    const store = new FencedStore();
    await Promise.all([runJob(a, 'job-1', store), runJob(b, 'job-1', store), runJob(a, 'job-2', store)]);
    expect(store.writes).toHaveLength(3);
  });
});
