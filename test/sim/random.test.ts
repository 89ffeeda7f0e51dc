import { describe, expect, it } from 'vitest';
import { runSeed, type SeedResult } from './run-seed.js';

/**
 * Randomised runs, one per seed. `SEED=n` replays one seed; `SIM_START` /
 * `SIM_SEEDS` choose a range (see README.md); the default range keeps
 * `pnpm test` fast.
 */
const DEFAULT_SEEDS = 40;
const env = process.env;
const single = env.SEED !== undefined && env.SEED !== '' ? Number(env.SEED) : null;
const startSeed = single ?? Number(env.SIM_START ?? 1);
const seedCount = single !== null ? 1 : Number(env.SIM_SEEDS ?? DEFAULT_SEEDS);
if (!Number.isInteger(startSeed) || !Number.isInteger(seedCount) || seedCount < 1) {
  throw new Error(`bad SEED / SIM_START / SIM_SEEDS: ${env.SEED} / ${env.SIM_START} / ${env.SIM_SEEDS}`);
}

describe(`randomised ZAB runs, seeds ${startSeed}..${startSeed + seedCount - 1}`, () => {
  it('keeps every safety invariant under crashes, partitions, link faults and torn disks', () => {
    const results: SeedResult[] = [];
    const t0 = performance.now();
    // SIM_KEEP_GOING=1 runs every seed and reports all failures (for sweeps); otherwise stop at the first.
    const failures: string[] = [];
    for (let seed = startSeed; seed < startSeed + seedCount; seed++) {
      if (!env.SIM_KEEP_GOING) {
        results.push(runSeed(seed));
        continue;
      }
      try {
        results.push(runSeed(seed));
      } catch (e) {
        failures.push(`seed ${seed}: ${(e as Error).message.split('\n')[1]?.trim()}`);
      }
    }
    if (failures.length > 0) throw new Error(`${failures.length} of ${seedCount} seeds failed:\n${failures.join('\n')}`);
    const secs = (performance.now() - t0) / 1000;
    const sum = (f: (r: SeedResult) => number) => results.reduce((n, r) => n + f(r), 0);
    if (env.SIM_VERBOSE) {
      for (const r of results) console.log(JSON.stringify(r));
    }
    console.log(
      `sim: ${seedCount} seed(s) in ${secs.toFixed(1)} s (${(seedCount / secs).toFixed(1)} seeds/s); ` +
        `acked writes ${sum((r) => r.acked)}, leaders ${sum((r) => r.leaders)}, steps ${sum((r) => r.steps)}, ` +
        `DIFF ${sum((r) => r.paths.diff)}, TRUNC ${sum((r) => r.paths.trunc)}, SNAP ${sum((r) => r.paths.snap)}, truncated txns ${sum((r) => r.truncatedTxns)}`,
    );
    // The runs must have done real work, or the checkers had nothing to check.
    expect(sum((r) => r.acked)).toBeGreaterThan(0);
    if (seedCount >= 20) {
      expect(sum((r) => r.leaders)).toBeGreaterThan(seedCount);
      expect(sum((r) => r.paths.diff)).toBeGreaterThan(0);
      expect(sum((r) => r.paths.snap)).toBeGreaterThan(0);
    }
  });
});
