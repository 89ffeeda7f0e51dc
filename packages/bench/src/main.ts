/**
 * `pnpm bench [--quick] [--rounds N] [--systems zabkit,zookeeper,etcd] [--recovery-znodes N] [--recovery-txns N] [--only PARTS] [--out DIR] [--profile DIR]`
 *
 * Starts zabkit, Apache ZooKeeper and etcd on 127.0.0.1 (3 nodes and 1 node), runs the same bounded
 * workloads against each with its usual client, and writes bench/results/{latest.json,raw.json,table.md,chart.svg}.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIGURES, type Row } from './figures.js';
import { markdownTable, svgChart } from './report.js';
import { EtcdCluster, etcdMissing } from './systems/etcd.js';
import type { Cluster, ClusterTuning, KvClient, SystemName } from './systems/types.js';
import { SYSTEMS } from './systems/types.js';
import { ZabkitCluster } from './systems/zabkit.js';
import { ZookeeperCluster, zookeeperMissing } from './systems/zookeeper.js';
import { VALUE, copyDirDurably, killAllTracked, logFootprint, median, now, rssMb, sleep, type LogFootprint } from './util.js';
import { runFailover, runLoad, runLock, serverCpu, withRssPeak, type Timing } from './workloads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DEFAULT_OUT = join(ROOT, 'bench', 'results');

interface Options {
  quick: boolean;
  rounds: number;
  systems: SystemName[];
  timing: Timing;
  failoverTrials: number;
  recoveryZnodes: number;
  /** setData txns left in the log for the txn-log recovery figure. */
  recoveryTxns: number;
  recoveryTrials: number;
  profileDir: string | null;
  /** Parts to run (default all): 3-node, 1-node, recovery, recovery-txn-log. */
  only: Set<Part>;
  /** Where the result files go (default bench/results). */
  out: string;
}

const PARTS = ['3-node', '1-node', 'recovery', 'recovery-txn-log'] as const;
type Part = (typeof PARTS)[number];

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const systems = (arg('--systems')?.split(',') ?? SYSTEMS) as SystemName[];
  for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`unknown system ${s}`);
  const profileDir = arg('--profile') ? resolve(arg('--profile')!) : null;
  const only = (arg('--only')?.split(',') ?? PARTS) as Part[];
  for (const p of only) if (!PARTS.includes(p)) throw new Error(`unknown part ${p} (parts: ${PARTS.join(', ')})`);
  return {
    quick,
    rounds: Number(arg('--rounds') ?? (quick ? 1 : 3)),
    systems,
    timing: quick ? { warmMs: 300, windowMs: 1_000, maxOps: 100_000 } : { warmMs: 1_000, windowMs: 4_000, maxOps: 500_000 },
    failoverTrials: quick ? 1 : 2,
    recoveryZnodes: Number(arg('--recovery-znodes') ?? (quick ? 5_000 : 100_000)),
    recoveryTxns: Number(arg('--recovery-txns') ?? (quick ? 20_000 : 1_000_000)),
    recoveryTrials: quick ? 1 : 3,
    profileDir,
    only: new Set(only),
    out: resolve(arg('--out') ?? DEFAULT_OUT),
  };
}

function makeCluster(system: SystemName, size: number, tuning: ClusterTuning = {}): Cluster {
  if (system === 'zabkit') return new ZabkitCluster(size, tuning);
  if (system === 'zookeeper') return new ZookeeperCluster(size, tuning);
  return new EtcdCluster(size, tuning);
}

const log = (...a: unknown[]) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

type Figures = Record<string, number | null>;

async function connectMany(cluster: Cluster, count: number): Promise<KvClient[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => cluster.connect([i % cluster.size])));
}

async function closeAll(clients: KvClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
}

/** Pre-creates /bench/k0..k63 with 100-byte values. */
async function seedKeys(c: KvClient): Promise<void> {
  for (let i = 0; i < 64; i += 16) await Promise.all(Array.from({ length: 16 }, (_, j) => c.create(`/bench/k${i + j}`, VALUE)));
}

/** The 3-node suite: throughput, latency, lock, memory, CPU, failover. */
async function suite3(system: SystemName, o: Options, round: number, raw: Record<string, unknown>): Promise<Figures> {
  const f: Figures = {};
  const cluster = makeCluster(system, 3);
  const t = o.timing;
  await cluster.start();
  const clients: KvClient[] = [];
  try {
    await sleep(1_000);
    f['3n RSS per server at rest (max)'] = Math.max(...cluster.pids().map((p) => rssMb(p) ?? 0));
    const leader = await cluster.leader();
    log(`  ${system} 3 nodes up: pids ${cluster.pids().join(', ')}; leader node ${leader + 1} (pid ${cluster.pids()[leader]})`);
    const one = await cluster.connect([leader]);
    clients.push(one);
    await cluster.prepare(one);
    await seedKeys(one);
    const many = await connectMany(cluster, 4);
    clients.push(...many);
    const by = (w: number) => many[w % many.length]!;
    const put = (name: string, r: { opsPerSec: number; p50Ms: number | null; p99Ms: number | null; errors: number; firstError?: string }) => {
      f[`${name} ops/s`] = r.opsPerSec;
      f[`${name} p50`] = r.p50Ms;
      f[`${name} p99`] = r.p99Ms;
      raw[name] = r;
      log(`  ${system} ${name}: ${Math.round(r.opsPerSec)} ops/s p50 ${r.p50Ms?.toFixed(3)} ms p99 ${r.p99Ms?.toFixed(3)} ms${r.errors ? ` (${r.errors} errors: ${r.firstError})` : ''}`);
    };
    // warm the servers (JIT for the JVM and V8) with writes and reads before anything is measured
    await runLoad(64, (w, i) => (i % 2 ? by(w).get(`/bench/k${w}`) : by(w).set(`/bench/k${w}`, VALUE)), { ...t, warmMs: 0, windowMs: o.quick ? 500 : 2_000 });
    let peak = 0;
    put('3n create c=1', await runLoad(1, (w, i) => one.create(`/bench/a${round}-${w}-${i}`, VALUE), t));
    {
      const { result, peakRssMb } = await withRssPeak(cluster, () => runLoad(64, (w, i) => by(w).create(`/bench/b${round}-${w}-${i}`, VALUE), t));
      peak = Math.max(peak, peakRssMb);
      put('3n create c=64', result);
    }
    put('3n setData c=1', await runLoad(1, () => one.set('/bench/k0', VALUE), t));
    {
      let total = 0;
      const cpu0 = serverCpu(cluster);
      const { result, peakRssMb } = await withRssPeak(cluster, () =>
        runLoad(64, (w) => by(w).set(`/bench/k${w}`, VALUE).then(() => void total++), t),
      );
      const cpu1 = serverCpu(cluster);
      peak = Math.max(peak, peakRssMb);
      put('3n setData c=64', result);
      f['3n server CPU per 1000 writes (all servers)'] = total > 0 ? ((cpu1 - cpu0) * 1000) / total : null;
      raw['cpu'] = { cpuSeconds: cpu1 - cpu0, writes: total };
    }
    f['3n RSS per server under write load (peak)'] = peak;
    put('3n getData c=1', await runLoad(1, () => one.get('/bench/k0'), t));
    put('3n getData c=64', await runLoad(64, (w) => by(w).get(`/bench/k${w}`), t));
    put(
      '3n 90/10 mix c=64',
      await runLoad(64, (w) => (Math.random() < 0.1 ? by(w).set(`/bench/k${w}`, VALUE) : by(w).get(`/bench/k${(Math.random() * 64) | 0}`)), t),
    );
    {
      const lockers = await connectMany(cluster, 8);
      try {
        const r = await runLock(lockers, '/locks/l', t);
        raw['lock'] = r;
        f['3n lock 8 contenders acq/s'] = r.acqPerSec;
        f['3n lock handoff p50'] = r.handoffP50Ms;
        f['3n lock handoff p99'] = r.handoffP99Ms;
        log(`  ${system} lock: ${r.acqPerSec.toFixed(1)} acq/s handoff p50 ${r.handoffP50Ms?.toFixed(3)} ms p99 ${r.handoffP99Ms?.toFixed(3)} ms${r.errors ? ` (${r.errors} errors: ${r.firstError})` : ''}`);
      } finally {
        await closeAll(lockers);
      }
    }
    await closeAll(clients.splice(0));
    const trials: number[] = [];
    // with --profile the leader must exit cleanly to write its profile: no kill -9
    for (let k = 0; k < (o.profileDir ? 0 : o.failoverTrials); k++) {
      try {
        const r = await runFailover(cluster, '/bench/k63');
        trials.push(r.ms);
        log(`  ${system} failover trial ${k + 1}: killed node ${r.leader + 1}, first write after ${r.ms.toFixed(0)} ms`);
        await cluster.startNode(r.leader);
        await cluster.waitHealthy();
        await sleep(1_000);
      } catch (err) {
        log(`  ${system} failover trial ${k + 1} failed: ${String(err)}`);
        break;
      }
    }
    raw['failoverTrialsMs'] = trials;
    f['3n failover (kill -9 leader -> first write)'] = median(trials);
  } finally {
    await closeAll(clients);
    await cluster.stop();
  }
  return f;
}

/** The single-node suite. */
async function suite1(system: SystemName, o: Options, raw: Record<string, unknown>): Promise<Figures> {
  const f: Figures = {};
  const cluster = makeCluster(system, 1);
  await cluster.start();
  const clients: KvClient[] = [];
  try {
    await sleep(500);
    f['1n RSS at rest'] = rssMb(cluster.pids()[0]);
    const one = await cluster.connect([0]);
    clients.push(one);
    await cluster.prepare(one);
    await seedKeys(one);
    const many = await connectMany(cluster, 4);
    clients.push(...many);
    const by = (w: number) => many[w % many.length]!;
    const a = await runLoad(1, () => one.set('/bench/k0', VALUE), o.timing);
    const b = await runLoad(64, (w) => by(w).set(`/bench/k${w}`, VALUE), o.timing);
    const c = await runLoad(64, (w) => by(w).get(`/bench/k${w}`), o.timing);
    Object.assign(raw, { setC1: a, setC64: b, getC64: c });
    f['1n setData c=1 ops/s'] = a.opsPerSec;
    f['1n setData c=1 p50'] = a.p50Ms;
    f['1n setData c=64 ops/s'] = b.opsPerSec;
    f['1n getData c=64 ops/s'] = c.opsPerSec;
    log(`  ${system} 1n: setData c=1 ${Math.round(a.opsPerSec)} ops/s (p50 ${a.p50Ms?.toFixed(3)} ms), setData c=64 ${Math.round(b.opsPerSec)} ops/s, getData c=64 ${Math.round(c.opsPerSec)} ops/s`);
  } finally {
    await closeAll(clients);
    await cluster.stop();
  }
  return f;
}

/** Single node with `recoveryZnodes` znodes in its log/snapshot: kill -9, restart, time to the first successful read. */
async function recovery(system: SystemName, o: Options, raw: Record<string, unknown>): Promise<Figures> {
  const cluster = makeCluster(system, 1);
  await cluster.start();
  try {
    const seed = await cluster.connect([0]);
    await cluster.prepare(seed);
    const many = await connectMany(cluster, 4);
    const t0 = now();
    let next = 0;
    const deadline = t0 + (o.quick ? 60_000 : 600_000);
    await Promise.all(
      Array.from({ length: 64 }, async (_, w) => {
        while (next < o.recoveryZnodes && now() < deadline) {
          const i = next++;
          await many[w % 4]!.create(`/bench/r${i}`, VALUE);
        }
      }),
    );
    const loaded = Math.min(next, o.recoveryZnodes);
    log(`  ${system} recovery: ${loaded} znodes loaded in ${((now() - t0) / 1000).toFixed(1)} s`);
    await closeAll([seed, ...many]);
    const trials: number[] = [];
    for (let k = 0; k < o.recoveryTrials; k++) {
      await cluster.kill(0);
      const s = now();
      await cluster.startNode(0);
      const c = await cluster.connect([0]);
      await c.get(`/bench/r${loaded - 1}`);
      trials.push(now() - s);
      await c.close();
      log(`  ${system} recovery trial ${k + 1}: ${trials.at(-1)!.toFixed(0)} ms`);
    }
    raw['recovery'] = { znodes: loaded, trialsMs: trials };
    return { '1n recovery: restart to first read': median(trials) };
  } finally {
    await cluster.stop();
  }
}

/** setData of 100-byte values on /bench/k0..k63, 64 in flight over `clients`, until `count` txns or the deadline; returns how many. */
async function writeTxns(clients: KvClient[], count: number, deadline: number): Promise<number> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: 64 }, async (_, w) => {
      while (next < count && now() < deadline) {
        next++;
        await clients[w % clients.length]!.set(`/bench/k${w}`, VALUE);
        done++;
      }
    }),
  );
  return done;
}

/**
 * Single node with `recoveryTxns` setData txns in its txn log (snapshots held off with a large snapCount,
 * so the restart must replay them all): kill -9, restart, time to the first successful read. Every trial
 * restarts from the same copy of the data dir taken after the kill, since ZooKeeper writes a snapshot of
 * what it replayed at startup (the next restart would load that instead of the log).
 */
async function recoveryTxnLog(system: SystemName, o: Options, raw: Record<string, unknown>): Promise<Figures> {
  // ZooKeeper may snapshot after snapCount/2 txns (randomised roll), hence the factor
  const snapCount = Math.max(1_000_000, 4 * o.recoveryTxns);
  const cluster = makeCluster(system, 1, { snapCount });
  await cluster.start();
  try {
    const load = await loadTxns(cluster, o);
    log(`  ${system} txn-log recovery: ${load.txns} setData txns written in ${load.seconds.toFixed(1)} s (${Math.round(load.txns / load.seconds)}/s)`);
    await cluster.kill(0);
    const dir = cluster.dataDir(0);
    const pristine = `${dir}.pristine`; // inside the cluster's temp dir: stop() removes it
    await copyDirDurably(dir, pristine);
    const atRestart = await logFootprint(pristine);
    log(`  ${system} at restart: ${describeFootprint(atRestart)}`);
    const r = await restartTrials(cluster, pristine, o.recoveryTrials);
    if (r.afterRestart) log(`  ${system} after a restart: ${describeFootprint(r.afterRestart)}`);
    raw['recoveryTxnLog'] = { txns: load.txns, loadSeconds: load.seconds, snapCount, atRestart, ...r };
    return { '1n recovery (txn log): restart to first read': median(r.trialsMs) };
  } finally {
    await cluster.stop();
  }
}

/** Seeds /bench/k0..k63 and writes up to `recoveryTxns` setData txns on them (bounded by a deadline). */
async function loadTxns(cluster: Cluster, o: Options): Promise<{ txns: number; seconds: number }> {
  const seed = await cluster.connect([0]);
  await cluster.prepare(seed);
  await seedKeys(seed);
  const many = await connectMany(cluster, 4);
  try {
    const t0 = now();
    const txns = await writeTxns(many, o.recoveryTxns, t0 + (o.quick ? 60_000 : 600_000));
    return { txns, seconds: (now() - t0) / 1000 };
  } finally {
    await closeAll([seed, ...many]);
  }
}

/** `trials` times: data dir := `pristine`, start node 0, time to the first read, kill -9. */
async function restartTrials(cluster: Cluster, pristine: string, trials: number) {
  const dir = cluster.dataDir(0);
  const trialsMs: number[] = [];
  const serverNotes: (string | null)[] = [];
  let afterRestart: LogFootprint | null = null;
  for (let k = 0; k < trials; k++) {
    await copyDirDurably(pristine, dir);
    const s = now();
    await cluster.startNode(0);
    const c = await cluster.connect([0]);
    await c.get('/bench/k63');
    trialsMs.push(now() - s);
    await c.close();
    serverNotes.push(cluster.recoveryNote(0));
    log(`  ${cluster.system} txn-log recovery trial ${k + 1}: ${trialsMs.at(-1)!.toFixed(0)} ms${serverNotes.at(-1) ? ` (server: ${serverNotes.at(-1)})` : ''}`);
    await cluster.kill(0);
    afterRestart ??= await logFootprint(dir); // what a restart leaves behind (ZooKeeper: a snapshot of what it replayed)
  }
  return { trialsMs, serverNotes, afterRestart };
}

function describeFootprint(f: LogFootprint): string {
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
  return `txn log ${f.log.length} file(s), ${mb(f.logBytes)} (${f.log.map((x) => x.path).join(', ')}); snapshots: ${f.snapshots.map((x) => `${x.path} ${mb(x.bytes)}`).join(', ') || 'none'}`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.profileDir) {
    // inherited by the zabkit server processes LocalCluster spawns (Node refuses --cpu-prof in NODE_OPTIONS,
    // so a preload starts the inspector's profiler); profiles are written when the servers exit
    await mkdir(o.profileDir, { recursive: true });
    process.env.BENCH_PROF_DIR = o.profileDir;
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${join(ROOT, 'packages', 'bench', 'profiling', 'cpu-profile.cjs')}`.trim();
  }
  const started = new Date();
  log(`mode ${o.quick ? 'quick' : 'full'}: ${o.rounds} round(s), window ${o.timing.windowMs} ms after ${o.timing.warmMs} ms warm-up, systems ${o.systems.join(', ')}`);
  const skipped: Partial<Record<SystemName, string>> = {};
  const missing: Record<SystemName, () => string | null> = { zabkit: () => null, zookeeper: zookeeperMissing, etcd: etcdMissing };
  for (const s of o.systems) {
    const why = missing[s]();
    if (why) {
      skipped[s] = why;
      log(`SKIPPING ${s}: ${why}`);
    }
  }
  const active = o.systems.filter((s) => !skipped[s]);
  const samples: Record<SystemName, Record<string, (number | null)[]>> = { zabkit: {}, zookeeper: {}, etcd: {} };
  const rawRuns: unknown[] = [];
  const record = (s: SystemName, f: Figures) => {
    for (const [k, v] of Object.entries(f)) (samples[s][k] ??= []).push(v);
  };
  const attempt = async (s: SystemName, what: Part, fn: (raw: Record<string, unknown>) => Promise<Figures>, round: number) => {
    if (skipped[s] || !o.only.has(what)) return;
    log(`${what}: ${s}${what === 'recovery' ? ` (${o.recoveryZnodes} znodes)` : what === 'recovery-txn-log' ? ` (${o.recoveryTxns} txns in the log)` : `, round ${round + 1}/${o.rounds}`}`);
    const raw: Record<string, unknown> = {};
    const t0 = Date.now();
    try {
      const f = await fn(raw);
      record(s, f);
      rawRuns.push({ system: s, what, round, seconds: (Date.now() - t0) / 1000, figures: f, detail: raw });
    } catch (err) {
      log(`${s} ${what} round ${round + 1} FAILED: ${(err as Error).stack ?? String(err)}`);
      rawRuns.push({ system: s, what, round, error: String(err), detail: raw });
      killAllTracked();
    }
  };
  for (let r = 0; r < o.rounds; r++) {
    // alternate the order every round: A B C, B C A, C A B, ...
    const order = active.map((_, i) => active[(i + r) % active.length]!);
    for (const s of order) {
      await attempt(s, '3-node', (raw) => suite3(s, o, r, raw), r);
      await attempt(s, '1-node', (raw) => suite1(s, o, raw), r);
    }
  }
  for (const s of active) {
    await attempt(s, 'recovery', (raw) => recovery(s, o, raw), 0);
    await attempt(s, 'recovery-txn-log', (raw) => recoveryTxnLog(s, o, raw), 0);
  }

  const allRows: Row[] = Object.entries(FIGURES).map(([figure, def]) => ({
    figure,
    unit: def.unit,
    better: def.better,
    zabkit: median(samples.zabkit[figure] ?? []),
    zookeeper: median(samples.zookeeper[figure] ?? []),
    etcd: median(samples.etcd[figure] ?? []),
  }));
  // with --only, the rows of the parts that did not run are left out (a full run shows every row)
  const partial = o.only.size < PARTS.length;
  const rows = partial ? allRows.filter((r) => r.zabkit !== null || r.zookeeper !== null || r.etcd !== null) : allRows;
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}`;
  const table = markdownTable(rows);
  const parts = partial ? ` (only ${[...o.only].join(', ')})` : '';
  const title = `zabkit vs ZooKeeper 3.8 vs etcd 3.4 — ${o.quick ? 'quick' : 'full'} run${parts} ${started.toISOString().slice(0, 16)}Z, medians of ${o.rounds} round(s)`;
  await mkdir(o.out, { recursive: true });
  await writeFile(join(o.out, 'latest.json'), JSON.stringify(rows, null, 2) + '\n');
  await writeFile(
    join(o.out, 'raw.json'),
    JSON.stringify({ started: started.toISOString(), finished: new Date().toISOString(), mode: o.quick ? 'quick' : 'full', machine, options: { ...o, only: [...o.only] }, skipped, samples, runs: rawRuns }, null, 2) + '\n',
  );
  const skippedText = Object.entries(skipped).map(([s, why]) => `- ${s} skipped: ${why}`).join('\n');
  await writeFile(join(o.out, 'table.md'), `# ${title}\n\nMachine: ${machine}\n\n${table}\n${skippedText ? `\n${skippedText}\n` : ''}`);
  await writeFile(join(o.out, 'chart.svg'), svgChart(rows, title));
  console.log(`\n${title}\nMachine: ${machine}\n\n${table}\n${skippedText}`);
  log(`wrote ${join(o.out, 'latest.json')}, raw.json, table.md, chart.svg`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAllTracked();
    process.exit(130);
  });
}
process.once('exit', killAllTracked);
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    killAllTracked();
    process.exit(1);
  },
);
