import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, hasCode, mkdirp, type ZabClient, type ZabError } from '@zabkit/client';
import { LeaderElection, LeaderLatch, type LeaderTerm } from '@zabkit/leader';
import { startTestCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Proxy } from '../../../test/support/proxy.js';
import { startScheduler } from './example.js';
import { aborted, childrenOf, eventually, loseNextReply, once, statOf } from '../../../test/support/recipes.js';

let tc: TestCluster;
let observer: ZabClient;
const extra: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  tc = await startTestCluster();
  observer = await tc.client();
});
afterAll(async () => {
  await Promise.all(extra.map((x) => x.close().catch(() => {})));
  await tc?.close();
});

/** Records every latch's leadership and fails if two participants ever lead at once, or tokens do not grow. */
function monitor(latches: LeaderLatch[]): { leaders: Set<string>; terms: { id: string; token: bigint }[]; violations: string[] } {
  const m = { leaders: new Set<string>(), terms: [] as { id: string; token: bigint }[], violations: [] as string[] };
  for (const l of latches) {
    l.on('isLeader', (term) => {
      m.leaders.add(l.options.id);
      if (m.leaders.size > 1) m.violations.push(`two leaders: ${[...m.leaders].join(',')}`);
      const last = m.terms.at(-1);
      if (last && term.fencingToken <= last.token) m.violations.push(`token ${term.fencingToken} <= ${last.token}`);
      m.terms.push({ id: l.options.id, token: term.fencingToken });
    });
    l.on('notLeader', () => m.leaders.delete(l.options.id));
  }
  return m;
}

async function latchesOn(path: string, clients: ZabClient[]): Promise<{ latches: LeaderLatch[]; m: ReturnType<typeof monitor> }> {
  const latches = clients.map((c, i) => new LeaderLatch(c, path, { id: `p${i}` }));
  const m = monitor(latches);
  for (const l of latches) await l.start(); // in order: p0 leads first
  return { latches, m };
}

describe('LeaderLatch', () => {
  it('exactly one leader; getLeader/getParticipants; hand-over on close with a larger token', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => tc.client()));
    const { latches, m } = await latchesOn('/t/latch/basic', clients);
    const t0 = await latches[0]!.waitForLeadership({ timeoutMs: 5_000 });
    expect(latches.map((l) => l.hasLeadership)).toEqual([true, false, false]);
    expect((await latches[1]!.getLeader())?.id).toBe('p0');
    expect((await latches[2]!.getParticipants()).map((p) => [p.id, p.isLeader])).toEqual([
      ['p0', true],
      ['p1', false],
      ['p2', false],
    ]);
    const err = await latches[1]!.waitForLeadership({ timeoutMs: 200 }).catch((e: unknown) => e);
    expect(hasCode(err, 'OperationTimeout')).toBe(true);

    const notLeader = once<ZabError>(latches[0]!, 'notLeader');
    const next = latches[1]!.waitForLeadership({ timeoutMs: 10_000 });
    await latches[0]!.close({ handOn: true, timeoutMs: 10_000 });
    expect(hasCode(await notLeader, 'Closed')).toBe(true);
    expect(t0.signal.aborted).toBe(true);
    const t1 = await next;
    expect(latches[1]!.hasLeadership).toBe(true); // handOn resolved after p1 opened its term
    expect(t1.fencingToken).toBeGreaterThan(t0.fencingToken);
    expect((await statOf(observer, t1.node))?.mzxid).toBe(t1.fencingToken);
    await latches[1]!.close();
    const t2 = await latches[2]!.waitForLeadership({ timeoutMs: 10_000 });
    expect(t2.fencingToken).toBeGreaterThan(t1.fencingToken);
    await latches[2]!.close();
    expect(m.violations).toEqual([]);
    expect(m.terms.map((t) => t.id)).toEqual(['p0', 'p1', 'p2']);
    expect(await childrenOf(observer, '/t/latch/basic')).toEqual([]);
    await Promise.all(clients.map((c) => c.close()));
  });

  it("kill -9 of the leader's server: leadership drops on suspension, re-enters with a new larger token, never two leaders", async () => {
    const zabLeader = await tc.cluster.waitForLeader();
    const order = [zabLeader, ...tc.cluster.nodes.map((n) => n.id).filter((id) => id !== zabLeader)].map((id) => tc.cluster.address(id));
    const leaderClient = await connect(order.join(','), { sessionTimeoutMs: 6_000, shuffle: false });
    const others = await Promise.all([0, 1].map(() => connect(order.slice(1).join(','), { sessionTimeoutMs: 6_000 })));
    extra.push(leaderClient, ...others);
    const { latches, m } = await latchesOn('/t/latch/kill', [leaderClient, ...others]);
    const t0 = await latches[0]!.waitForLeadership({ timeoutMs: 5_000 });

    const dropped = once<ZabError>(latches[0]!, 'notLeader');
    const reentered = once<LeaderTerm>(latches[0]!, 'isLeader');
    await tc.cluster.kill(zabLeader);
    expect(hasCode(await dropped, 'ConnectionLoss')).toBe(true);
    expect(t0.signal.aborted).toBe(true);
    const t1 = await reentered; // same session, node still first: a new term
    expect(t1.fencingToken).toBeGreaterThan(t0.fencingToken);
    expect(t1.node).toBe(t0.node);
    expect(latches.map((l) => l.hasLeadership)).toEqual([true, false, false]);
    expect(m.violations).toEqual([]);
    expect(m.terms.map((t) => t.id)).toEqual(['p0', 'p0']); // the first term and the re-entry, nobody in between
    await Promise.all(latches.map((l) => l.close()));
    await tc.cluster.startNode(zabLeader);
  }, 60_000);

  it('leader session expired: notLeader at once, another leads with a larger token, the old latch fails', async () => {
    const proxy = await Proxy.start(tc.cluster.nodes[0]!.clientPort);
    const cut = await connect(proxy.address, { sessionTimeoutMs: 2_000, retry: { minTimeout: 20, maxTimeout: 200 } });
    const other = await tc.client();
    extra.push(cut, proxy);
    const { latches, m } = await latchesOn('/t/latch/expire', [cut, other]);
    const t0 = await latches[0]!.waitForLeadership({ timeoutMs: 5_000 });
    const next = latches[1]!.waitForLeadership({ timeoutMs: 20_000 });
    proxy.cut();
    expect(hasCode(await aborted(t0.signal), 'ConnectionLoss')).toBe(true); // told at once (policy 0)
    expect(latches[0]!.hasLeadership).toBe(false);
    const t1 = await next; // after the ensemble expired the session
    expect(t1.fencingToken).toBeGreaterThan(t0.fencingToken);
    const failed = latches[0]!.waitForLeadership().catch((e: unknown) => e);
    proxy.restore();
    expect(hasCode(await failed, 'SessionExpired')).toBe(true);
    expect(latches[0]!.hasLeadership).toBe(false);
    expect(m.violations).toEqual([]);
    expect(m.terms.map((t) => t.id)).toEqual(['p0', 'p1']);
    await latches[1]!.close();
  });

  it('with lostAfterSuspendedMs a short disconnect keeps the term (same token); no other leader meanwhile', async () => {
    const proxy = await Proxy.start(tc.cluster.nodes[2]!.clientPort);
    const client = await connect(proxy.address, { sessionTimeoutMs: 4_000, retry: { minTimeout: 20, maxTimeout: 200 } });
    const other = await tc.client();
    extra.push(client, proxy);
    const latch = new LeaderLatch(client, '/t/latch/blip', { id: 'patient', lostAfterSuspendedMs: 3_000 });
    const second = new LeaderLatch(other, '/t/latch/blip', { id: 'second' });
    const m = monitor([latch, second]);
    await latch.start();
    await second.start();
    const t0 = await latch.waitForLeadership({ timeoutMs: 5_000 });
    client.once('suspended', () => proxy.restore());
    const back = once(client, 'reconnected');
    proxy.cut();
    await back;
    expect(t0.signal.aborted).toBe(false);
    expect(latch.currentTerm).toBe(t0);
    expect(second.hasLeadership).toBe(false);
    await latch.close({ handOn: true, timeoutMs: 10_000 });
    // handOn saw the successor's term committed; its own latch learns it when its server applies it
    await second.waitForLeadership({ timeoutMs: 10_000 });
    expect(second.hasLeadership).toBe(true);
    await second.close({ handOn: true }); // nobody left to hand on to: resolves at once
    expect(m.violations).toEqual([]);
    expect(m.terms.map((t) => t.id)).toEqual(['patient', 'second']);
  });

  it('a lost create reply: the latch finds its node again, no orphan ahead of others', async () => {
    const path = '/t/latch/lost-reply';
    await mkdirp(observer, path);
    const proxy = await Proxy.start(tc.cluster.nodes[1]!.clientPort);
    const client = await connect(proxy.address, { sessionTimeoutMs: 4_000, retry: { minTimeout: 20, maxTimeout: 200 } });
    extra.push(client, proxy);
    const dropped = loseNextReply(client, () => proxy.cut());
    client.once('suspended', () => proxy.restore());
    const latch = new LeaderLatch(client, path, { id: 'lost' });
    await latch.start({ timeoutMs: 20_000 });
    await dropped;
    const term = await latch.waitForLeadership({ timeoutMs: 10_000 });
    const children = await childrenOf(observer, path);
    expect(children).toEqual([term.node.split('/').pop()]);
    const second = new LeaderLatch(observer, path, { id: 'second' });
    await second.start();
    await latch.close();
    await second.waitForLeadership({ timeoutMs: 10_000 });
    await second.close();
  });

  it('the README example runs: one scheduler ticks at a time, hand-over to the next', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const example = await readFile(new URL('./example.ts', import.meta.url), 'utf8');
    expect(readme).toContain(example.trim());
    const clients = await Promise.all([0, 1, 2].map(() => tc.client()));
    const ticks: { token: bigint; id: string }[] = [];
    const latches: LeaderLatch[] = [];
    for (const [i, c] of clients.entries()) latches.push(await startScheduler(c, `s${i}`, (token, id) => ticks.push({ token, id })));
    const first = await Promise.race(latches.map((l) => l.waitForLeadership()));
    const leader = latches.find((l) => l.currentTerm === first)!;
    await eventually(() => ticks.length >= 3);
    await leader.close({ handOn: true, timeoutMs: 10_000 });
    // handOn saw the successor's term write on the closer's server; the successor learns it from its own server's reply
    const successor = await Promise.any(latches.filter((l) => l !== leader).map(async (l) => (await l.waitForLeadership({ timeoutMs: 10_000 }), l)));
    const before = ticks.length;
    await eventually(() => ticks.length >= before + 3);
    expect(new Set(ticks.slice(0, before).map((t) => t.id))).toEqual(new Set([leader.options.id]));
    expect(new Set(ticks.slice(before).map((t) => t.id))).toEqual(new Set([successor.options.id]));
    expect(ticks.at(-1)!.token).toBeGreaterThan(ticks[0]!.token);
    await Promise.all(latches.map((l) => l.close()));
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('LeaderElection', () => {
  it('leaders rotate when takeLeadership returns (autoRequeue), one at a time, tokens increase', async () => {
    const path = '/t/election/rotate';
    const clients = await Promise.all([0, 1, 2].map(() => tc.client()));
    const terms: { id: string; token: bigint }[] = [];
    let inside = 0;
    let maxInside = 0;
    let enough!: () => void;
    const done = new Promise<void>((r) => (enough = r));
    const elections = clients.map(
      (c, i) =>
        new LeaderElection(c, path, {
          id: `e${i}`,
          takeLeadership: async (signal, term) => {
            inside++;
            try {
              maxInside = Math.max(maxInside, inside);
              terms.push({ id: `e${i}`, token: term.fencingToken });
              if (terms.length >= 9) enough();
              await c.exists(path, { signal });
            } finally {
              inside--;
            }
          },
        }),
    );
    for (const e of elections) await e.start();
    await done;
    await Promise.all(elections.map((e) => e.close()));
    expect(maxInside).toBe(1);
    for (let i = 1; i < terms.length; i++) expect(terms[i]!.token > terms[i - 1]!.token).toBe(true);
    // round robin: every window of 3 consecutive terms has 3 different leaders
    for (let i = 0; i + 3 <= terms.length; i++) expect(new Set(terms.slice(i, i + 3).map((t) => t.id)).size).toBe(3);
    expect(await childrenOf(observer, path)).toEqual([]);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('without autoRequeue a leader leaves after its term until requeue(); close aborts a running term', async () => {
    const path = '/t/election/manual';
    const c = await tc.client();
    let terms = 0;
    let signalled!: (reason: unknown) => void;
    const closedDuring = new Promise((r) => (signalled = r));
    let ran!: () => void;
    const firstRan = new Promise<void>((r) => (ran = r));
    const e = new LeaderElection(c, path, {
      id: 'manual',
      autoRequeue: false,
      takeLeadership: async (signal) => {
        terms++;
        if (terms === 1) return ran();
        signalled(await aborted(signal)); // second term: hold until closed
      },
    });
    await e.start();
    await firstRan;
    await eventually(async () => (await childrenOf(observer, path)).length === 0);
    expect(terms).toBe(1);
    expect(await e.requeue()).toBe(true);
    await eventually(() => e.hasLeadership);
    await e.close();
    expect(hasCode(await closedDuring, 'Closed')).toBe(true);
    expect(terms).toBe(2);
    expect(await childrenOf(observer, path)).toEqual([]);
    await c.close();
  });
});
