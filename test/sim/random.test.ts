import { describe, expect, it } from 'vitest';
import { runSeed, type SeedResult } from './run-seed.js';

/**
 * Randomised runs, one per seed. `SEED=n` replays one seed; `SIM_START` /
 * `SIM_SEEDS` choose a range (see README.md); the default range keeps
 * `pnpm test` fast.
 */
const DEFAULT_SEEDS = 300;
const env = process.env;
const single = env.SEED !== undefined && env.SEED !== '' ? Number(env.SEED) : null;
const startSeed = single ?? Number(env.SIM_START ?? 1);
const seedCount = single !== null ? 1 : Number(env.SIM_SEEDS ?? DEFAULT_SEEDS);
if (!Number.isInteger(startSeed) || !Number.isInteger(seedCount) || seedCount < 1) {
  throw new Error(`bad SEED / SIM_START / SIM_SEEDS: ${env.SEED} / ${env.SIM_START} / ${env.SIM_SEEDS}`);
}

const CHUNK = 25;

describe(`randomised ZAB runs, seeds ${startSeed}..${startSeed + seedCount - 1}`, () => {
  const all: SeedResult[] = [];
  let secs = 0;
  for (let from = startSeed; from < startSeed + seedCount; from += CHUNK) {
    const to = Math.min(from + CHUNK, startSeed + seedCount) - 1;
    it(`seeds ${from}..${to} keep every safety invariant under crashes, partitions, link faults, torn disks and damaged data dirs`, { timeout: 120_000 }, () => {
      const t0 = performance.now();
      // SIM_KEEP_GOING=1 runs every seed and reports all failures (for sweeps); otherwise stop at the first.
      const failures: string[] = [];
      for (let seed = from; seed <= to; seed++) {
        try {
          const r = runSeed(seed);
          all.push(r);
          if (env.SIM_VERBOSE) console.log(JSON.stringify(r));
        } catch (e) {
          if (!env.SIM_KEEP_GOING) throw e;
          failures.push(`seed ${seed}: ${(e as Error).message.split('\n')[1]?.trim()}`);
        }
      }
      secs += (performance.now() - t0) / 1000;
      if (failures.length > 0) throw new Error(`${failures.length} seeds failed:\n${failures.join('\n')}`);
    });
  }

  it('did real work: writes acknowledged, leaders changed, DIFF and SNAP both ran, snapshots taken, damaged disks refused and rejoined', () => {
    const sum = (f: (r: SeedResult) => number) => all.reduce((n, r) => n + f(r), 0);
    console.log(
      `sim: ${all.length} seed(s) in ${secs.toFixed(1)} s (${(all.length / secs).toFixed(1)} seeds/s); ` +
        `acked writes ${sum((r) => r.acked)}, leaders ${sum((r) => r.leaders)}, steps ${sum((r) => r.steps)}, ` +
        `DIFF ${sum((r) => r.paths.diff)}, TRUNC ${sum((r) => r.paths.trunc)}, SNAP ${sum((r) => r.paths.snap)}, truncated txns ${sum((r) => r.truncatedTxns)}, ` +
        `snapshots ${sum((r) => r.recovery.snapshots)}, purged files ${sum((r) => r.recovery.purgedFiles)}, ` +
        `refused starts ${sum((r) => r.recovery.refusals)}, rejoins from empty ${sum((r) => r.recovery.rejoins)}`,
    );
    expect(all.length).toBe(seedCount);
    expect(sum((r) => r.acked)).toBeGreaterThan(0);
    if (seedCount >= 20) {
      expect(sum((r) => r.leaders)).toBeGreaterThan(seedCount);
      expect(sum((r) => r.paths.diff)).toBeGreaterThan(0);
      expect(sum((r) => r.paths.snap)).toBeGreaterThan(0);
      expect(sum((r) => r.recovery.snapshots)).toBeGreaterThan(0);
    }
    if (seedCount >= 100) {
      // The disk faults ran: servers refused damaged disks and came back empty by SNAP.
      expect(sum((r) => r.recovery.refusals)).toBeGreaterThan(0);
      expect(sum((r) => r.recovery.rejoins)).toBeGreaterThan(0);
    }
  });
});
