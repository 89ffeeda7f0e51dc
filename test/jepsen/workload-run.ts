// One fault run of the node and recipe workloads (workloads.ts) at once on a
// real-process cluster, clients through TCP proxies, a nemesis; then heal,
// wait for every follower, read the final state on every server alone (after
// sync) and run each workload's checker (workload-checkers.ts).
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@zabkit/client';
import { Proxy } from '../support/proxy.js';
import { formatSchedule, Nemesis, planFaults, type FaultKind, type FaultLogEntry, runFaultWindow } from './nemesis.js';
import { Rng } from '../support/rng.js';
import { startCluster } from './run.js';
import { checkCounter, checkLeaderTerms, checkQueue, checkSequential, checkUniqueCreates, type CounterState, type CreateOp, type FinalListing, type IncrementOp, type LeaderTermRecord, type QueueOp, type SeqListing, type SeqOp, type WorkloadProblem } from './workload-checkers.js';
import {
  ALL_WORKLOADS,
  FencedCounter,
  finalQueue,
  finalSequential,
  finalUnique,
  initialCounter,
  LatchParticipant,
  onServer,
  parseCounter,
  QueueConsumer,
  QueueProducer,
  SequentialCreates,
  UniqueCreates,
  type WorkloadEnv,
  type WorkloadKind,
} from './workloads.js';

export interface WorkloadRunConfig {
  name: string;
  nodes: number;
  seed: number;
  durationS: number;
  faults: readonly FaultKind[];
  workloads?: readonly WorkloadKind[];
  tickTime?: number;
}

export interface WorkloadRunReport {
  config: WorkloadRunConfig;
  schedule: FaultLogEntry[];
  counts: Record<string, number>;
  /** Per workload: its problems (empty = ok). */
  verdicts: Partial<Record<WorkloadKind, WorkloadProblem[]>>;
  ok: boolean;
  historyFile?: string;
  text: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runWorkloads(cfg: WorkloadRunConfig, print: (line: string) => void = console.log): Promise<WorkloadRunReport> {
  const kinds = cfg.workloads ?? ALL_WORKLOADS;
  const rng = new Rng(cfg.seed);
  const logTail: string[] = [];
  const { cluster, dir } = await startCluster({ ...cfg, faults: cfg.faults }, (id, line) => {
    logTail.push(`[n${id}] ${line}`);
    if (logTail.length > 400) logTail.shift();
  });
  const proxies = new Map<number, Proxy>();
  const counts: Record<string, number> = {};
  const base = `/wl-${cfg.seed.toString(36)}`;
  const paths = { unique: `${base}/unique`, seq: `${base}/seq`, lock: `${base}/lock`, counter: `${base}/counter`, queue: `${base}/queue`, latch: `${base}/latch` };
  const t0 = performance.now();
  let opId = 0;
  const hist = { unique: [] as CreateOp[], seq: [] as SeqOp[], counter: [] as IncrementOp[], queue: [] as QueueOp[], latch: [] as LeaderTermRecord[] };
  const nemesis = new Nemesis(cluster, proxies, rng);
  const stop = new AbortController();
  let running: Promise<void>[] = [];
  const latches: LatchParticipant[] = [];
  try {
    for (const n of cluster.nodes) proxies.set(n.id, await Proxy.start(n.clientPort));
    await cluster.waitForLeader({ timeoutMs: 30_000 });
    const admin = await connect(cluster.connectString, { requestTimeoutMs: 10_000 });
    await admin.create(base, null);
    for (const p of [paths.unique, paths.seq, paths.queue]) await admin.create(p, null);
    await admin.create(paths.counter, initialCounter());
    await admin.close();

    const env: WorkloadEnv = {
      connectString: [...proxies.values()].map((p) => p.address).join(','),
      base,
      seed: cfg.seed,
      now: () => Math.round(performance.now() - t0),
      counts,
      nextOp: () => ++opId,
    };
    const r = (i: number) => new Rng(cfg.seed * 37 + i);
    const loops: { run(s: AbortSignal): Promise<void> }[] = [];
    if (kinds.includes('unique')) for (let i = 1; i <= 2; i++) loops.push(new UniqueCreates(env, `u${i}`, r(i), paths.unique, hist.unique));
    if (kinds.includes('sequential')) for (let i = 1; i <= 3; i++) loops.push(new SequentialCreates(env, `q${i}`, r(10 + i), paths.seq, hist.seq));
    if (kinds.includes('counter')) for (let i = 1; i <= 3; i++) loops.push(new FencedCounter(env, `l${i}`, r(20 + i), paths.lock, paths.counter, hist.counter));
    if (kinds.includes('queue')) {
      for (let i = 1; i <= 2; i++) loops.push(new QueueProducer(env, `p${i}`, r(30 + i), paths.queue, hist.queue));
      for (let i = 1; i <= 2; i++) loops.push(new QueueConsumer(env, `k${i}`, r(40 + i), paths.queue, hist.queue));
    }
    if (kinds.includes('latch')) for (let i = 1; i <= 3; i++) latches.push(new LatchParticipant(env, `e${i}`, r(50 + i), paths.latch, hist.latch));
    loops.push(...latches);

    const plan = planFaults(rng, cfg.faults, cfg.durationS * 1000);
    running = loops.map((l) => l.run(stop.signal));
    await runFaultWindow(nemesis, plan, cfg.durationS * 1000, cluster, cfg.nodes);
    stop.abort();
    await Promise.all(running);
    for (const l of latches) l.finish();
    // Let closes and releases of the last sessions settle before the final reads (not a check: those come after sync).
    await sleep(200);

    const finals = {
      unique: new Map<number, FinalListing>(),
      seq: new Map<number, SeqListing>(),
      counter: new Map<number, CounterState>(),
      queue: new Map<number, string[]>(),
    };
    for (const n of cluster.nodes) {
      await onServer(cluster.address(n.id), async (c) => {
        if (kinds.includes('unique')) finals.unique.set(n.id, await finalUnique(c, paths.unique));
        if (kinds.includes('sequential')) finals.seq.set(n.id, await finalSequential(c, paths.seq));
        if (kinds.includes('counter')) {
          await c.sync(paths.counter);
          finals.counter.set(n.id, parseCounter((await c.getData(paths.counter)).data));
        }
        if (kinds.includes('queue')) finals.queue.set(n.id, await finalQueue(c, paths.queue));
      });
    }
    const verdicts: WorkloadRunReport['verdicts'] = {};
    if (kinds.includes('unique')) verdicts.unique = checkUniqueCreates(hist.unique, finals.unique);
    if (kinds.includes('sequential')) verdicts.sequential = checkSequential(hist.seq, finals.seq);
    if (kinds.includes('counter')) verdicts.counter = checkCounter(hist.counter, finals.counter);
    if (kinds.includes('queue')) verdicts.queue = checkQueue(hist.queue, finals.queue);
    if (kinds.includes('latch')) verdicts.latch = checkLeaderTerms(hist.latch);

    const ok = Object.values(verdicts).every((v) => v.length === 0);
    const tally = <T extends { status: string }>(l: readonly T[]) => {
      const by: Record<string, number> = {};
      for (const o of l) by[o.status] = (by[o.status] ?? 0) + 1;
      return `${l.length} (${Object.entries(by).map(([k, v]) => `${k} ${v}`).join(', ')})`;
    };
    const firstCounter = [...finals.counter.values()][0];
    const lines: string[] = [];
    lines.push(`[jepsen] ${cfg.name}: seed=${cfg.seed} nodes=${cfg.nodes} workloads=${kinds.join(',')} duration=${cfg.durationS}s`);
    lines.push(`  schedule (${nemesis.log.length} faults):\n    ${formatSchedule(nemesis.log)}`);
    lines.push(
      `  ops: unique creates ${tally(hist.unique)}; sequential ${tally(hist.seq)}; increments ${tally(hist.counter)}; queue ${tally(hist.queue)}; leader terms ${hist.latch.length}; ` +
        Object.entries(counts)
          .sort()
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
    );
    for (const [k, v] of Object.entries(verdicts)) {
      const extra =
        k === 'counter' && firstCounter
          ? ` (final count ${firstCounter.count}; ${hist.counter.filter((o) => o.status === 'ok').length} acknowledged increments, ${hist.counter.filter((o) => o.status === 'info').length} unknown)`
          : k === 'queue'
            ? ` (${[...finals.queue.values()][0]?.length ?? 0} items left)`
            : k === 'unique'
              ? ` (${[...finals.unique.values()][0]?.size ?? 0} nodes)`
              : k === 'sequential'
                ? ` (${[...finals.seq.values()][0]?.size ?? 0} nodes)`
                : '';
      lines.push(`  ${k}: ${v.length === 0 ? 'ok' : `${v.length} problem(s)`}${extra}`);
      for (const p of v.slice(0, 15)) lines.push(`    ${p.check}: ${p.message}`);
    }
    const report: WorkloadRunReport = { config: cfg, schedule: nemesis.log, counts, verdicts, ok, text: '' };
    if (!ok || process.env.FAULT_KEEP_HISTORY) {
      const file = join(tmpdir(), `zabkit-jepsen-${cfg.name.replace(/[^a-z0-9]+/gi, '-')}-${cfg.seed}-${Date.now()}.json`);
      const serial = (m: Map<unknown, unknown>) => Object.fromEntries([...m.entries()].map(([k, v]) => [String(k), v instanceof Map ? Object.fromEntries(v) : v]));
      await writeFile(
        file,
        JSON.stringify(
          {
            config: cfg,
            schedule: nemesis.log,
            counts,
            verdicts,
            history: hist,
            finals: { unique: serial(finals.unique), seq: serial(finals.seq), counter: serial(finals.counter), queue: serial(finals.queue) },
            serverLogTail: logTail,
          },
          (_k, v: unknown) => (v === Infinity ? 'Infinity' : v),
          1,
        ),
      );
      report.historyFile = file;
      lines.push(`  history written to ${file}`);
    }
    report.text = lines.join('\n');
    print(report.text);
    return report;
  } catch (err) {
    const msg =
      `[jepsen] ${cfg.name}: seed=${cfg.seed} aborted: ${(err as Error).message}\n  schedule:\n    ${formatSchedule(nemesis.log)}\n` +
      `  last server log lines:\n    ${logTail.slice(-40).join('\n    ')}`;
    print(msg);
    throw new Error(msg, { cause: err });
  } finally {
    stop.abort();
    await Promise.allSettled(running);
    await Promise.all([...proxies.values()].map((p) => p.close()));
    await cluster.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
