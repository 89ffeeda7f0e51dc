import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type Scheduler, type SchedulerStatus, type TaskContext } from '../../examples/scheduler/src/index.js';
import { startTestCluster, type TestCluster } from '../support/cluster.js';

async function status(s: Scheduler): Promise<SchedulerStatus> {
  const res = await fetch(`${s.url}/status`);
  expect(res.status).toBe(200);
  return (await res.json()) as SchedulerStatus;
}

/** The scheduler that leads (exactly one does once the latch settles). */
async function leaderOf(schedulers: Scheduler[]): Promise<Scheduler> {
  const ac = new AbortController();
  try {
    return await Promise.any(schedulers.map((s) => s.waitForLeadership({ timeoutMs: 10_000, signal: ac.signal }).then(() => s)));
  } finally {
    ac.abort();
  }
}

describe('examples/scheduler on a 3-node cluster', () => {
  let tc: TestCluster;
  const all: Scheduler[] = [];
  beforeAll(async () => {
    tc = await startTestCluster();
  });
  afterAll(async () => {
    await Promise.all(all.map((s) => s.close()));
    await tc?.close();
  });

  it('only one scheduler reports leader and runs the task; closing it moves leadership to one other with a larger term', async () => {
    const latchPath = '/t/scheduler/move';
    const ticks: { id: string; term: bigint }[] = [];
    const ticked = new Map<string, () => void>();
    const firstTick = (id: string) => new Promise<void>((resolve) => ticked.set(id, resolve));
    const task = (ctx: TaskContext) => {
      ticks.push({ id: ctx.id, term: ctx.term });
      ticked.get(ctx.id)?.();
    };
    const schedulers: Scheduler[] = [];
    for (const id of ['s1', 's2', 's3']) {
      const s = await start(tc.connectString, { id, latchPath, intervalMs: 20, task, log: () => {} });
      schedulers.push(s);
      all.push(s);
    }
    const leader = await leaderOf(schedulers);
    const statuses = await Promise.all(schedulers.map(status));
    expect(statuses.filter((s) => s.leader).map((s) => s.id)).toEqual([leader.id]);
    for (const s of statuses) {
      expect(s.leaderId).toBe(leader.id);
      expect(s.term === null).toBe(!s.leader);
    }
    const oldTerm = BigInt(statuses.find((s) => s.leader)!.term!);
    expect(ticks.length).toBeGreaterThan(0);
    expect(new Set(ticks.map((t) => t.id))).toEqual(new Set([leader.id]));

    const rest = schedulers.filter((s) => s !== leader);
    const nextTicks = Promise.race(rest.map((s) => firstTick(s.id)));
    await leader.close({ handOn: true, timeoutMs: 10_000 });
    const ticksOfOld = ticks.filter((t) => t.id === leader.id).length;
    const next = await leaderOf(rest);
    await nextTicks;

    // leaderId is each scheduler's own read of the latch directory: the old leader's node went through another server
    await Promise.all(rest.map((s) => s.client.sync(latchPath)));
    const after = await Promise.all(rest.map(status));
    expect(after.filter((s) => s.leader).map((s) => s.id)).toEqual([next.id]);
    const newTerm = BigInt(after.find((s) => s.leader)!.term!);
    expect(newTerm).toBeGreaterThan(oldTerm);
    for (const s of after) expect(s.leaderId).toBe(next.id);
    // the old leader stopped ticking when its term ended; nobody else ticked besides the new leader
    expect(ticks.filter((t) => t.id === leader.id)).toHaveLength(ticksOfOld);
    const others = ticks.filter((t) => t.id !== leader.id);
    expect(new Set(others.map((t) => t.id))).toEqual(new Set([next.id]));
    expect(others.every((t) => t.term === newTerm)).toBe(true);
  });

  it('answers 404 off /status', async () => {
    const s = await start(tc.connectString, { id: 'lonely', latchPath: '/t/scheduler/404', task: () => {}, log: () => {} });
    all.push(s);
    expect((await fetch(`${s.url}/nope`)).status).toBe(404);
    await s.waitForLeadership({ timeoutMs: 10_000 });
    expect(await status(s)).toMatchObject({ id: 'lonely', leader: true, leaderId: 'lonely' });
  });
});
