import { once } from '../../../test/support/once.js';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionLossError, connect, type ZabClient } from '@zabkit/client';
import { Barrier, DoubleBarrier } from '@zabkit/barrier';
import { startTestCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Proxy } from '../../../test/support/proxy.js';

let tc: TestCluster;
let zk: ZabClient;
let n = 0;
const fresh = (): string => `/barriers/b${++n}`;

beforeAll(async () => {
  tc = await startTestCluster();
  zk = await tc.client();
});
afterAll(async () => {
  await tc?.close();
});

/** Tracks whether a promise has settled, to assert that a call is still blocked. */
function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  promise.catch(() => {});
  return { promise, settled: () => done };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Asserts that none of `calls` settles within `ms` (an absence: there is no event to wait for). */
async function expectBlocked(calls: { settled: () => boolean }[], ms: number): Promise<void> {
  await delay(ms);
  expect(calls.map((c) => c.settled())).toEqual(calls.map(() => false));
}

describe('Barrier', () => {
  it('wait blocks while set, in every session, and returns for all on remove', async () => {
    const path = fresh();
    const coordinator = new Barrier(zk, path);
    expect(await coordinator.isSet()).toBe(false);
    await new Barrier(zk, path).wait({ timeoutMs: 2_000 }); // not set: returns at once
    await coordinator.set();
    await coordinator.set(); // idempotent
    expect(await coordinator.isSet()).toBe(true);
    const clients = await Promise.all([1, 2, 3].map(() => tc.client()));
    const waits = clients.map((c) => track(new Barrier(c, path).wait({ timeoutMs: 15_000 })));
    await expectBlocked(waits, 300);
    await coordinator.remove();
    await Promise.all(waits.map((w) => w.promise));
    await coordinator.remove(); // idempotent
    expect(await coordinator.isSet()).toBe(false);
  });

  it('wait rejects on timeout, abort and close', async () => {
    const b = new Barrier(zk, fresh());
    await b.set();
    await expect(b.wait({ timeoutMs: 200 })).rejects.toMatchObject({ code: 'OperationTimeout' });
    const ac = new AbortController();
    const aborted = b.wait({ signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'Aborted' });
    const pending = b.wait();
    await b.close();
    await expect(pending).rejects.toMatchObject({ code: 'Closed' });
    expect(await zk.exists(b.path)).not.toBeNull(); // close leaves the barrier as it is
  });
});

describe('DoubleBarrier', () => {
  it('5 participants: nobody passes enter before all 5 entered, nobody passes leave before all left; reusable', async () => {
    const path = fresh();
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => tc.client()));
    for (let round = 0; round < 2; round++) {
      const parts = clients.map((c, i) => new DoubleBarrier(c, path, 5, { id: `p${i}` }));
      const enters = parts.slice(0, 4).map((p) => track(p.enter({ timeoutMs: 20_000 })));
      await expectBlocked(enters, 400);
      await waitForChildren(path, 4); // the four joined through other sessions: wait until zk sees them
      expect((await zk.getChildren(path)).sort()).toEqual(['p0', 'p1', 'p2', 'p3']);
      enters.push(track(parts[4]!.enter({ timeoutMs: 20_000 })));
      await Promise.all(enters.map((e) => e.promise));

      const leaves = parts.slice(0, 4).map((p) => track(p.leave({ timeoutMs: 20_000 })));
      await expectBlocked(leaves, 400);
      leaves.push(track(parts[4]!.leave({ timeoutMs: 20_000 })));
      await Promise.all(leaves.map((l) => l.promise));
      await zk.sync(path);
      expect(await zk.getChildren(path)).toEqual([]); // the last one out removed `ready`
    }
  });

  it("one participant's connection cut and restored mid-way: no early pass, everyone gets through", async () => {
    const path = fresh();
    const proxy = await Proxy.start(tc.cluster.node(2).clientPort);
    const flaky = await connect(proxy.address, { sessionTimeoutMs: 4_000, shuffle: false, retry: { minTimeout: 20, maxTimeout: 200 } });
    try {
      const others = await Promise.all([1, 2, 3, 4].map(() => tc.client()));
      const p5 = new DoubleBarrier(flaky, path, 5, { id: 'flaky' });
      const parts = others.map((c, i) => new DoubleBarrier(c, path, 5, { id: `p${i}` }));

      const enter5 = track(p5.enter({ timeoutMs: 20_000 }));
      // wait until its node is there, then cut it off while it waits for `ready`
      await waitForChildren(path, 1);
      let suspended = once(flaky, 'suspended');
      proxy.cut();
      await suspended;
      const enters = parts.slice(0, 3).map((p) => track(p.enter({ timeoutMs: 20_000 })));
      await expectBlocked([...enters, enter5], 300); // 4 of 5: its node counts, but no one passes
      enters.push(track(parts[3]!.enter({ timeoutMs: 20_000 })));
      await Promise.all(enters.map((e) => e.promise)); // the 5th arrival lets the connected ones in
      expect(enter5.settled()).toBe(false);
      let reconnected = once(flaky, 'reconnected');
      proxy.restore();
      await reconnected;
      await enter5.promise; // re-checks after the reconnect and gets in too

      const leaves = parts.map((p) => track(p.leave({ timeoutMs: 20_000 })));
      suspended = once(flaky, 'suspended');
      proxy.cut();
      await suspended;
      await expectBlocked(leaves, 500); // the cut-off participant has not left: nobody passes
      const leave5 = track(p5.leave({ timeoutMs: 20_000 })); // queued until it is back
      reconnected = once(flaky, 'reconnected');
      proxy.restore();
      await reconnected;
      await Promise.all([...leaves, leave5].map((l) => l.promise));
      expect(flaky.state).toBe('connected');
      await zk.sync(path);
      expect(await zk.getChildren(path)).toEqual([]);
    } finally {
      await flaky.close().catch(() => {});
      await proxy.close();
    }
  });

  it("a participant whose session expires while waiting is no longer counted, and is told", async () => {
    const path = fresh();
    const proxy = await Proxy.start(tc.cluster.node(3).clientPort);
    const doomed = await connect(proxy.address, { sessionTimeoutMs: 1_000, shuffle: false, retry: { minTimeout: 20, maxTimeout: 200 } });
    try {
      const others = await Promise.all([1, 2, 3].map(() => tc.client()));
      const dying = track(new DoubleBarrier(doomed, path, 3, { id: 'doomed' }).enter({ timeoutMs: 20_000 }));
      const first = track(new DoubleBarrier(others[0]!, path, 3, { id: 'a' }).enter({ timeoutMs: 20_000 }));
      await waitForChildren(path, 2);
      proxy.cut();
      await waitForChildren(path, 1); // the servers expired it: its node is gone
      const second = track(new DoubleBarrier(others[1]!, path, 3, { id: 'b' }).enter({ timeoutMs: 20_000 }));
      await expectBlocked([first, second], 400); // 2 live participants of 3: nobody passes
      const third = track(new DoubleBarrier(others[2]!, path, 3, { id: 'c' }).enter({ timeoutMs: 20_000 }));
      await Promise.all([first.promise, second.promise, third.promise]);
      proxy.restore();
      await expect(dying.promise).rejects.toMatchObject({ code: 'SessionExpired' });
    } finally {
      await doomed.close().catch(() => {});
      await proxy.close();
    }
  });

  it('lost replies of the join and of the leave: the participant recognises its own node, nothing is left', async () => {
    const path = fresh();
    const c = await tc.client();
    const other = await tc.client();
    // fault injection: the write is applied by the ensemble, but the caller sees ConnectionLoss (a lost reply)
    const lost: string[] = [];
    const create = c.create.bind(c);
    c.create = async (...args: Parameters<ZabClient['create']>) => {
      const result = await create(...args);
      if (!lost.includes('create') && args[0] === `${path}/me`) {
        lost.push('create');
        throw new ConnectionLossError('reply lost (injected)');
      }
      return result;
    };
    const multi = c.multi.bind(c);
    c.multi = async (...args: Parameters<ZabClient['multi']>) => {
      const result = await multi(...args);
      if (!lost.includes('multi')) {
        lost.push('multi');
        throw new ConnectionLossError('reply lost (injected)');
      }
      return result;
    };
    const me = new DoubleBarrier(c, path, 2, { id: 'me' });
    const you = new DoubleBarrier(other, path, 2, { id: 'you' });
    await Promise.all([me.enter({ timeoutMs: 10_000 }), you.enter({ timeoutMs: 10_000 })]);
    await Promise.all([me.leave({ timeoutMs: 10_000 }), you.leave({ timeoutMs: 10_000 })]);
    expect(lost).toEqual(['create', 'multi']); // 'me' is the lowest: the last one out
    await zk.sync(path);
    expect(await zk.getChildren(path)).toEqual([]);
  });

  it('enter rejects on timeout and withdraws the participant; a duplicate id is refused', async () => {
    const path = fresh();
    const other = await tc.client();
    const a = new DoubleBarrier(zk, path, 3, { id: 'a' });
    await expect(a.enter({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'OperationTimeout' });
    await waitForChildren(path, 0);
    const b = new DoubleBarrier(other, path, 3, { id: 'b' });
    const entering = track(b.enter());
    await waitForChildren(path, 1);
    await expect(new DoubleBarrier(zk, path, 3, { id: 'b' }).enter({ timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'NodeExists' });
    await b.close();
    await expect(entering.promise).rejects.toMatchObject({ code: 'Closed' });
    await waitForChildren(path, 0);
    expect(() => new DoubleBarrier(zk, path, 3, { id: 'ready' })).toThrow(TypeError);
  });
});

describe('README', () => {
  it('the README example is the tested one, and it works', async () => {
    const source = await readFile(new URL('./readme-example.ts', import.meta.url), 'utf8');
    const region = /\/\/ #region readme\n([\s\S]*?)\/\/ #endregion readme/.exec(source)?.[1];
    expect(region).toBeDefined();
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + region + '```');
    process.env.ZABKIT_SERVERS = tc.connectString;
    const ex = await import('./readme-example.js');
    expect([...ex.log].sort()).toEqual(['w1 working', 'w2 working', 'w3 working']);
    await zk.sync('/barriers'); // the example used its own session
    expect(await zk.exists('/barriers/deploy')).toBeNull();
    expect(await zk.getChildren('/barriers/step-1')).toEqual([]);
  });
});

/** Waits (on a children watch, bounded) until `path` has `count` participant nodes. */
async function waitForChildren(path: string, count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    let fire!: () => void;
    const fired = new Promise<void>((r) => (fire = r));
    const children = await zk.getChildren(path, { watch: () => fire() }).catch(async (err: unknown) => {
      if ((err as { code?: string }).code !== 'NoNode') throw err;
      // Created between the two reads: read the children again.
      if ((await zk.exists(path, { watch: () => fire() })) !== null) return null;
      return [] as string[];
    });
    if (children === null) continue;
    if (children.filter((c) => c !== 'ready').length === count) return;
    await Promise.race([fired, delay(5_000).then(() => Promise.reject(new Error(`${path}: no change in 5 s`)))]);
  }
  throw new Error(`${path} never had ${count} participants`);
}
