/**
 * `pnpm bench [--quick] [--rounds N] [--systems zabkit,zookeeper,etcd] [--profile DIR]`
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
import type { Cluster, KvClient, SystemName } from './systems/types.js';
import { SYSTEMS } from './systems/types.js';
import { ZabkitCluster } from './systems/zabkit.js';
import { ZookeeperCluster, zookeeperMissing } from './systems/zookeeper.js';
import { VALUE, killAllTracked, median, now, rssMb, sleep } from './util.js';
import { runFailover, runLoad, runLock, serverCpu, withRssPeak, type Timing } from './workloads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const OUT = join(ROOT, 'bench', 'results');

interface Options {
  quick: boolean;
  rounds: number;
  systems: SystemName[];
  timing: Timing;
  failoverTrials: number;
  recoveryZnodes: number;
  recoveryTrials: number;
  profileDir: string | null;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const systems = (arg('--systems')?.split(',') ?? SYSTEMS) as SystemName[];
  for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`unknown system ${s}`);
  const profileDir = arg('--profile') ? resolve(arg('--profile')!) : null;
  return {
    quick,
    rounds: Number(arg('--rounds') ?? (quick ? 1 : 3)),
    systems,
    timing: quick ? { warmMs: 300, windowMs: 1_000, maxOps: 100_000 } : { warmMs: 1_000, windowMs: 4_000, maxOps: 500_000 },
    failoverTrials: quick ? 1 : 2,
    recoveryZnodes: Number(arg('--recovery-znodes') ?? (quick ? 5_000 : 100_000)),
    recoveryTrials: quick ? 1 : 3,
    profileDir,
  };
}

function makeCluster(system: SystemName, size: number): Cluster {
  if (system === 'zabkit') return new ZabkitCluster(size);
  if (system === 'zookeeper') return new ZookeeperCluster(size);
  return new EtcdCluster(size);
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
  const attempt = async (s: SystemName, what: string, fn: (raw: Record<string, unknown>) => Promise<Figures>, round: number) => {
    if (skipped[s]) return;
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
      log(`round ${r + 1}/${o.rounds}: ${s} 3 nodes`);
      await attempt(s, '3-node', (raw) => suite3(s, o, r, raw), r);
      log(`round ${r + 1}/${o.rounds}: ${s} 1 node`);
      await attempt(s, '1-node', (raw) => suite1(s, o, raw), r);
    }
  }
  for (const s of active) {
    log(`recovery: ${s} (${o.recoveryZnodes} znodes)`);
    await attempt(s, 'recovery', (raw) => recovery(s, o, raw), 0);
  }

  const rows: Row[] = Object.entries(FIGURES).map(([figure, def]) => ({
    figure,
    unit: def.unit,
    better: def.better,
    zabkit: median(samples.zabkit[figure] ?? []),
    zookeeper: median(samples.zookeeper[figure] ?? []),
    etcd: median(samples.etcd[figure] ?? []),
  }));
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}`;
  const table = markdownTable(rows);
  const title = `zabkit vs ZooKeeper 3.8 vs etcd 3.4 — ${o.quick ? 'quick' : 'full'} run ${started.toISOString().slice(0, 16)}Z, medians of ${o.rounds} round(s)`;
  await mkdir(OUT, { recursive: true });
  await writeFile(join(OUT, 'latest.json'), JSON.stringify(rows, null, 2) + '\n');
  await writeFile(
    join(OUT, 'raw.json'),
    JSON.stringify({ started: started.toISOString(), finished: new Date().toISOString(), mode: o.quick ? 'quick' : 'full', machine, options: o, skipped, samples, runs: rawRuns }, null, 2) + '\n',
  );
  const skippedText = Object.entries(skipped).map(([s, why]) => `- ${s} skipped: ${why}`).join('\n');
  await writeFile(join(OUT, 'table.md'), `# ${title}\n\nMachine: ${machine}\n\n${table}\n${skippedText ? `\n${skippedText}\n` : ''}`);
  await writeFile(join(OUT, 'chart.svg'), svgChart(rows, title));
  console.log(`\n${title}\nMachine: ${machine}\n\n${table}\n${skippedText}`);
  log(`wrote ${join(OUT, 'latest.json')}, raw.json, table.md, chart.svg`);
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
