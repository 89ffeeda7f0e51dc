// The fault suite: real server processes, nemeses, a register workload with
// compare-and-set, and the history checkers. See README.md for the knobs.
import { describe, expect, it } from 'vitest';
import { ALL_FAULTS, type FaultKind } from './nemesis.js';
import { runFaults, type RunConfig } from './run.js';

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

describe('fault suite (real processes)', () => {
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
