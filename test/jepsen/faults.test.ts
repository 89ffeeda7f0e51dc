// The fault suite: real server processes, nemeses, a register workload with
// compare-and-set, and the history checkers. See README.md for the knobs.
import { describe, expect, it } from 'vitest';
import { ALL_FAULTS, type FaultKind } from './nemesis.js';
import { runFaults, type RunConfig } from './run.js';
import { runWorkloads, type WorkloadRunConfig } from './workload-run.js';
import { ALL_WORKLOADS, type WorkloadKind } from './workloads.js';

const env = process.env;
const durationS = Number(env.FAULT_DURATION_S ?? 0) || undefined;
const baseSeed = Number(env.FAULT_SEED ?? 0) || Math.floor(Math.random() * 0x7fffffff);
const only = env.FAULT_NEMESES ? (env.FAULT_NEMESES.split(',').map((s) => s.trim()) as FaultKind[]) : undefined;
for (const k of only ?? []) if (!ALL_FAULTS.includes(k)) throw new Error(`FAULT_NEMESES: unknown fault ${k} (known: ${ALL_FAULTS.join(', ')})`);

/** The CI set: three short runs, about 2.5 minutes together on a 2-core machine. */
const CI_SET: Omit<RunConfig, 'seed'>[] = [
  { name: '3 nodes: kill, pause, client partition', nodes: 3, durationS: 22, faults: ['kill', 'kill-leader', 'pause', 'pause-leader', 'partition-clients'] },
  { name: '5 nodes: minority kills, leader faults', nodes: 5, durationS: 22, faults: ['kill-minority', 'kill-leader', 'pause-leader', 'pause', 'partition-clients'] },
  { name: '3 nodes: full-cluster restarts', nodes: 3, durationS: 16, faults: ['restart-all', 'kill-leader'] },
];

const runs = Number(env.FAULT_RUNS ?? 0) || CI_SET.length;
const configs: RunConfig[] = Array.from({ length: runs }, (_, i) => {
  const base = CI_SET[i % CI_SET.length]!;
  const nodes = env.FAULT_NODES ? Number(env.FAULT_NODES) : base.nodes;
  return {
    ...base,
    name: `run ${i + 1}/${runs} ${only ? `${nodes} nodes: ${only.join(', ')}` : base.name}`,
    nodes,
    seed: baseSeed + i,
    durationS: durationS ?? base.durationS,
    faults: only ?? base.faults,
  };
});

/**
 * The node and recipe workloads (unique creates, sequential nodes, fenced counter, queue, leader latch),
 * all at once on one cluster; FAULT_WORKLOAD_RUNS / FAULT_WORKLOADS pick more runs / a subset.
 */
const WORKLOAD_SET: Omit<WorkloadRunConfig, 'seed'>[] = [
  { name: '3 nodes: leader faults, client delays and partitions', nodes: 3, durationS: 16, faults: ['kill-leader', 'pause-leader', 'delay-clients', 'partition-clients', 'kill'] },
];
/** Every workload, the queue included (seed 1148958236 once caught a duplicate put there, now fixed by tombstones). */
const DEFAULT_WORKLOADS: readonly WorkloadKind[] = ALL_WORKLOADS;
const workloadKinds = env.FAULT_WORKLOADS ? (env.FAULT_WORKLOADS.split(',').map((s) => s.trim()) as WorkloadKind[]) : undefined;
for (const k of workloadKinds ?? []) if (!ALL_WORKLOADS.includes(k)) throw new Error(`FAULT_WORKLOADS: unknown workload ${k} (known: ${ALL_WORKLOADS.join(', ')})`);
const workloadRuns = Number(env.FAULT_WORKLOAD_RUNS ?? 0) || Math.max(WORKLOAD_SET.length, Math.ceil(runs / CI_SET.length) * WORKLOAD_SET.length);
const workloadConfigs: WorkloadRunConfig[] = Array.from({ length: workloadRuns }, (_, i) => {
  const base = WORKLOAD_SET[i % WORKLOAD_SET.length]!;
  const nodes = env.FAULT_NODES ? Number(env.FAULT_NODES) : base.nodes;
  return {
    ...base,
    name: `workloads ${i + 1}/${workloadRuns} ${only ? `${nodes} nodes: ${only.join(', ')}` : base.name}`,
    nodes,
    seed: baseSeed + 1000 + i,
    durationS: durationS ?? base.durationS,
    faults: only ?? base.faults,
    workloads: workloadKinds ?? DEFAULT_WORKLOADS,
  };
});

describe('fault suite (real processes)', () => {
  for (const cfg of workloadConfigs) {
    it(
      cfg.name,
      async () => {
        const r = await runWorkloads(cfg);
        for (const [kind, problems] of Object.entries(r.verdicts)) {
          expect(problems.map((p) => `${p.check}: ${p.message}`), `${kind} (seed ${cfg.seed}; history ${r.historyFile})`).toEqual([]);
        }
        expect(r.schedule.length, 'faults injected').toBeGreaterThan(0);
      },
      (cfg.durationS + 150) * 1000,
    );
  }

  for (const cfg of configs) {
    it(
      cfg.name,
      async () => {
        const r = await runFaults(cfg);
        const problems = [...r.session, ...r.watches].map((p) => `${p.check}: ${p.message}`);
        expect(r.linearizability.verdict, `linearizability (seed ${cfg.seed}; history ${r.historyFile})`).toBe('ok');
        expect(problems, `session / watch checks (seed ${cfg.seed}; history ${r.historyFile})`).toEqual([]);
        expect(r.lost, `acknowledged writes lost (seed ${cfg.seed})`).toEqual([]);
        expect(r.divergent, `servers disagree at the end (seed ${cfg.seed})`).toEqual([]);
        expect(r.schedule.length, 'faults injected').toBeGreaterThan(0);
      },
      (cfg.durationS + 150) * 1000,
    );
  }
});
