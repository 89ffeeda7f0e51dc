#!/usr/bin/env node
// `pnpm sim --seeds N [--start S] [--seed S]` and `pnpm test:faults --runs N --duration S [--seed S] [--nodes N] [--nemeses a,b]`:
// turns flags into the environment variables the suites read, builds, and runs vitest on the suite.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const [suite, ...rest] = process.argv.slice(2);
const FLAGS = {
  sim: { dir: 'test/sim', env: { seeds: 'SIM_SEEDS', start: 'SIM_START', seed: 'SEED', 'keep-going': 'SIM_KEEP_GOING' } },
  faults: {
    dir: 'test/jepsen',
    env: { runs: 'FAULT_RUNS', duration: 'FAULT_DURATION_S', seed: 'FAULT_SEED', nodes: 'FAULT_NODES', nemeses: 'FAULT_NEMESES', 'keep-history': 'FAULT_KEEP_HISTORY' },
  },
};
const spec = FLAGS[suite];
if (!spec) {
  console.error(`usage: run-suite.mjs sim|faults [--flag value ...]`);
  process.exit(2);
}
const options = Object.fromEntries(Object.keys(spec.env).map((k) => [k, { type: 'string' }]));
let values;
try {
  ({ values } = parseArgs({ args: rest.filter((a) => a !== '--'), options, strict: true }));
} catch (err) {
  console.error(`${err.message}\nknown flags: ${Object.keys(spec.env).map((k) => `--${k}`).join(' ')}`);
  process.exit(2);
}
const env = { ...process.env };
for (const [flag, name] of Object.entries(spec.env)) if (values[flag] !== undefined) env[name] = values[flag];
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', env }).status ?? 1;
const build = run('npx', ['tsc', '-b']) || run('node', ['scripts/bundle-server.mjs']);
if (build !== 0) process.exit(build);
process.exit(run('npx', ['vitest', 'run', spec.dir]));
