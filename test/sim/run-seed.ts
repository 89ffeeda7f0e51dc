import { Checker } from './checker.js';
import { healAll, scheduleFaults, type FaultKind } from './faults.js';
import { Operator } from './operator.js';
import { Rng } from '../support/rng.js';
import { SimCluster } from './sim-cluster.js';
import { SimClient } from './workload.js';

export interface SeedResult {
  seed: number;
  voters: number;
  observers: number;
  faults: FaultKind[];
  acked: number;
  leaders: number;
  steps: number;
  simMs: number;
  /** Which sync paths ran (from the logs). */
  paths: { diff: number; trunc: number; snap: number };
  truncatedTxns: number;
  /** Snapshots servers took, refused starts (or reloads), rejoins from empty. */
  recovery: { snapshots: number; purgedFiles: number; refusals: number; rejoins: number };
}

export class SimFailure extends Error {}

/** How to replay a seed, for failure messages. */
export const replayHint = (seed: number) => `replay: SEED=${seed} npx vitest run test/sim/random.test.ts  (or: SIM_START=${seed} SIM_SEEDS=1 pnpm sim)`;

/**
 * One seeded run: a random cluster shape, clients writing through it, a
 * bounded schedule of faults, then everything healed and the cluster left to
 * converge; the checkers run after every step and at the end. Throws a
 * SimFailure naming the seed and carrying the last log lines.
 */
export function runSeed(seed: number, opts: { checkStart?: boolean } = {}): SeedResult {
  const shape = new Rng(seed ^ 0x5eed);
  const voters = shape.pick([3, 3, 5]);
  const observers = shape.chance(0.25) ? 1 : 0;
  // (its own generator: the shapes drawn above stay what they were before snapshots existed)
  const snaps = new Rng(seed ^ 0x5a95);
  const sim = new SimCluster({
    snapEvery: snaps.int(5, 60),
    snapRetain: snaps.int(1, 3),
    voters,
    observers,
    seed,
    maxDelayMs: shape.int(4, 40),
    maxFsyncMs: shape.int(2, 20),
    committedLogSize: shape.pick([2, 5, 20, 50]),
    tornDisk: shape.chance(0.5),
    checkStart: opts.checkStart ?? true,
  });
  const checker = new Checker(sim);
  const operator = new Operator(sim);
  const rng = new Rng(seed ^ 0xfa17);
  const clients: SimClient[] = [];
  let faults: FaultKind[] = [];
  const start = sim.now;
  try {
    sim.startAll();
    for (let i = 0; i < shape.int(2, 4); i++) {
      const c = new SimClient(sim, i + 1, new Rng(seed * 31 + i), (a) => checker.ack(a));
      clients.push(c);
      c.start(sim.now + 200 + i * 50);
    }
    const faultWindow = 12_000;
    faults = scheduleFaults(sim, rng, { from: start + 1_500, until: start + faultWindow, count: shape.int(2, 8), operator });
    sim.run(faultWindow + 500);
    // The end: no more faults, clients go quiet, every server up and linked.
    for (const c of clients) c.active = false;
    healAll(sim, operator);
    const caughtUp = () => {
      if (!sim.stable()) return false;
      const ids = sim.ids;
      if (!ids.every((id) => sim.running(id))) return false;
      const z = sim.node(ids[0]!)!.lastAppliedZxid();
      return ids.every((id) => sim.node(id)!.lastAppliedZxid() === z && sim.node(id)!.lastLoggedZxid() === z);
    };
    if (!sim.run(60_000, caughtUp)) {
      const state = sim.ids.map((id) => `${id}:${sim.node(id)?.role() ?? 'down'}@0x${sim.node(id)?.lastAppliedZxid().toString(16)}`).join(' ');
      throw new SimFailure(`the cluster did not converge within 60 s of sim time after healing (${state})`);
    }
    checker.checkFinal();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const tail = sim.logs.slice(-40).join('\n');
    throw new SimFailure(
      `seed ${seed} failed at sim time +${sim.now - start} ms (${voters} voters, ${observers} observers, faults: ${faults.join(',')}):\n  ${why}\n${replayHint(seed)}\n--- last ${Math.min(40, sim.logs.length)} log lines ---\n${tail}`,
      { cause: e },
    );
  }
  const count = (re: RegExp) => sim.logs.filter((l) => re.test(l)).length;
  return {
    seed,
    voters,
    observers,
    faults,
    acked: checker.acked.length,
    leaders: checker.stats.leaders,
    steps: sim.steps,
    simMs: sim.now - start,
    paths: { diff: count(/: DIFF of /), trunc: count(/TRUNC from leader/), snap: count(/SNAP from leader/) },
    truncatedTxns: checker.stats.truncatedTxns,
    recovery: { snapshots: sim.stats.snapshots, purgedFiles: sim.stats.purgedFiles, refusals: sim.refusals.length, rejoins: sim.stats.rejoins },
  };
}
