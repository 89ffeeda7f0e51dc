// One fault run: a real-process cluster, clients through TCP proxies, a
// register workload with compare-and-set on a few keys, a nemesis, then heal,
// final sync+reads on every server, and the checkers.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, ZabError, type ZabClient } from '@zabkit/client';
import { LocalCluster } from 'zabkit';
import { Proxy } from '../support/proxy.js';
import { formatEvent, pairOps, Recorder, type OpFn, type OpInput, type OpResultRecord, type RegisterValue, type RunHistory, type SessionLog } from './history.js';
import { checkLinearizable, type LinearizabilityResult } from './linearizability.js';
import { formatSchedule, Nemesis, planFaults, type FaultKind, type FaultLogEntry, runFaultWindow } from './nemesis.js';
import { Rng } from '../support/rng.js';
import { checkSessions, checkWatches, type CheckProblem } from './session-checker.js';
import { SessionTap } from './tap.js';

export interface RunConfig {
  name: string;
  nodes: number;
  seed: number;
  durationS: number;
  faults: readonly FaultKind[];
  /** Client sessions working at once (default 5). */
  clients?: number;
  /** Registers (default 4, one more per 30 s of duration). */
  keys?: number;
  tickTime?: number;
}

export interface RunReport {
  config: RunConfig;
  schedule: FaultLogEntry[];
  counts: Record<string, number>;
  linearizability: LinearizabilityResult;
  session: CheckProblem[];
  watches: CheckProblem[];
  lost: string[];
  divergent: string[];
  ok: boolean;
  /** Set when the run failed: where its history went. */
  historyFile?: string;
  text: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the cluster, retrying on fresh ports when a probed port was taken meanwhile (EADDRINUSE). */
export async function startCluster(cfg: RunConfig, onLog: (id: number, line: string) => void): Promise<{ cluster: LocalCluster; dir: string }> {
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'zabkit-jepsen-'));
    const cluster = new LocalCluster({ nodes: cfg.nodes, dataDir: dir, tickTime: cfg.tickTime ?? 200, onLog });
    try {
      await cluster.start();
      return { cluster, dir };
    } catch (err) {
      await cluster.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
      if (attempt >= 3 || !/EADDRINUSE/.test(String((err as Error).message))) throw err;
    }
  }
}

/** A client session of the workload; replaced by a new one (a new process label) when it expires. */
class Worker {
  private client: ZabClient | undefined;
  private tap: SessionTap | undefined;
  private generation = 0;
  private n = 0;
  private readonly known = new Map<string, number>();
  process = '';

  constructor(
    private readonly index: number,
    private readonly connectString: string,
    private readonly keys: readonly string[],
    private readonly rec: Recorder,
    private readonly sessions: SessionLog[],
    private readonly rng: Rng,
    private readonly counts: Record<string, number>,
  ) {}

  async run(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      if (!this.client || this.client.state === 'expired' || this.client.state === 'closed') {
        await this.client?.close().catch(() => {});
        this.client = undefined;
        try {
          const c = await connect(this.connectString, {
            sessionTimeoutMs: 4_000,
            requestTimeoutMs: 3_000,
            connectTimeoutMs: 1_000,
            retry: { retries: 1_000, minTimeout: 50, maxTimeout: 300 },
            signal: stop,
          });
          this.generation++;
          this.process = `c${this.index}.s${this.generation}`;
          this.tap = new SessionTap(c);
          this.sessions.push({ process: this.process, frames: this.tap.frames });
          this.known.clear();
          this.client = c;
          this.counts.sessions = (this.counts.sessions ?? 0) + 1;
        } catch {
          continue; // aborted by stop, or could not connect: the loop condition decides
        }
      }
      await this.step();
      // Pacing keeps the per-key history small enough to check; it is load shaping, not synchronisation.
      await sleep(this.rng.int(0, 20));
    }
  }

  async close(): Promise<void> {
    await this.client?.close({ timeoutMs: 2_000 }).catch(() => {});
  }

  private value(): string {
    return `${this.process}-${++this.n}`;
  }

  private async step(): Promise<void> {
    const r = this.rng.next();
    const key = this.rng.pick(this.keys);
    if (r < 0.3) await this.read(key, true, this.rng.chance(0.35));
    else if (r < 0.42) await this.read(key, false, this.rng.chance(0.35));
    else if (r < 0.65) await this.write(key);
    else if (r < 0.88) await this.cas(key);
    else {
      // Pipelined pairs: issued back to back on one session, they must take effect in that order.
      const other = this.rng.pick(this.keys);
      const kind = this.rng.int(0, 3);
      const pair =
        kind === 0
          ? [this.write(key), this.read(key, false, false)]
          : kind === 1
            ? [this.read(key, false, false), this.write(key)]
            : kind === 2
              ? [this.write(key), this.write(other)]
              : [this.cas(key), this.read(key, false, true)];
      await Promise.all(pair);
    }
  }

  /** Records one op; `body` gets `tag` to mark the request whose reply is the op's answer. */
  private async op(
    f: OpFn,
    key: string,
    input: OpInput,
    body: (op: number, tag: <T>(call: () => Promise<T>) => Promise<T>) => Promise<OpResultRecord>,
  ): Promise<void> {
    const client = this.client!;
    const tap = this.tap!;
    const op = this.rec.invoke(this.process, f, key, input);
    const done = (): { replyZxid?: string; zxidSeen: string } => {
      const z = tap.replyZxid(op);
      return { ...(z !== undefined ? { replyZxid: String(z) } : {}), zxidSeen: String(client.lastZxidSeen) };
    };
    try {
      const result = await body(op, (call) => tap.tag(op, call));
      this.rec.complete(op, 'ok', { result, ...done() });
      if (result.version !== undefined) this.known.set(key, Math.max(this.known.get(key) ?? 0, result.version));
      this.counts[`${f}:ok`] = (this.counts[`${f}:ok`] ?? 0) + 1;
    } catch (err) {
      const code = err instanceof ZabError ? err.code : `Error: ${(err as Error).message}`;
      // Only BadVersion is a definite "did not happen"; anything else might have been applied.
      this.rec.complete(op, code === 'BadVersion' ? 'fail' : 'info', { error: code, ...done() });
      this.counts[`${f}:${code === 'BadVersion' ? 'fail' : 'info'}`] = (this.counts[`${f}:${code === 'BadVersion' ? 'fail' : 'info'}`] ?? 0) + 1;
    }
  }

  private read(key: string, synced: boolean, watch: boolean): Promise<void> {
    const client = this.client!;
    return this.op('read', key, { synced }, async (op, tag) => {
      if (synced) await client.sync(key);
      let options = {};
      if (watch) {
        const w = this.rec.newWatch(this.process, key, op);
        const inv = this.rec.openEvent(op);
        if (inv) inv.input.watchId = w.id;
        options = {
          watch: (e: { type: string }) => {
            w.fired++;
            w.firedType = e.type;
          },
        };
      }
      const { data, stat } = await tag(() => client.getData(key, options));
      return { value: data === null ? null : Buffer.from(data).toString('utf8'), version: stat.version, mzxid: String(stat.mzxid) };
    });
  }

  private write(key: string): Promise<void> {
    const client = this.client!;
    const value = this.value();
    return this.op('write', key, { value }, async (_op, tag) => {
      const stat = await tag(() => client.setData(key, value));
      return { version: stat.version, mzxid: String(stat.mzxid) };
    });
  }

  private cas(key: string): Promise<void> {
    const client = this.client!;
    const value = this.value();
    const expected = this.known.get(key) ?? 0;
    return this.op('cas', key, { value, expected }, async (_op, tag) => {
      const stat = await tag(() => client.setData(key, value, { version: expected }));
      return { version: stat.version, mzxid: String(stat.mzxid) };
    });
  }
}

/** Reads every key on server `id` alone (sync first), recorded as linearizable reads of process final.n<id>. */
async function finalReads(cluster: LocalCluster, id: number, keys: readonly string[], rec: Recorder, sessions: SessionLog[]): Promise<Map<string, RegisterValue>> {
  const out = new Map<string, RegisterValue>();
  const c = await connect(cluster.address(id), { shuffle: false, requestTimeoutMs: 10_000, retry: { retries: 50, maxTimeout: 300 } });
  const tap = new SessionTap(c);
  const process = `final.n${id}`;
  sessions.push({ process, frames: tap.frames });
  try {
    for (const key of keys) {
      const op = rec.invoke(process, 'read', key, { synced: true });
      try {
        await c.sync(key);
        const { data, stat } = await tap.tag(op, () => c.getData(key));
        const value = data === null ? null : Buffer.from(data).toString('utf8');
        const z = tap.replyZxid(op);
        rec.complete(op, 'ok', { result: { value, version: stat.version, mzxid: String(stat.mzxid) }, ...(z !== undefined ? { replyZxid: String(z) } : {}) });
        out.set(key, { value, version: stat.version });
      } catch (err) {
        rec.complete(op, 'info', { error: err instanceof ZabError ? err.code : String(err) });
        throw new Error(`final read of ${key} on node ${id} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await c.close().catch(() => {});
  }
  return out;
}

export async function runFaults(cfg: RunConfig, print: (line: string) => void = console.log): Promise<RunReport> {
  const rng = new Rng(cfg.seed);
  const clients = cfg.clients ?? 5;
  // About 30 ops/s land on each key: longer runs get more keys so each key's search stays small.
  const nkeys = cfg.keys ?? (4 + Math.floor(cfg.durationS / 30));
  const logTail: string[] = [];
  const { cluster, dir } = await startCluster(cfg, (id, line) => {
    logTail.push(`[n${id}] ${line}`);
    if (logTail.length > 400) logTail.shift();
  });
  const proxies = new Map<number, Proxy>();
  const rec = new Recorder();
  const sessions: SessionLog[] = [];
  const counts: Record<string, number> = {};
  const workers: Worker[] = [];
  const base = `/jepsen-${cfg.seed.toString(36)}`;
  const keys = Array.from({ length: nkeys }, (_, i) => `${base}/k${i}`);
  const initial: Record<string, RegisterValue> = Object.fromEntries(keys.map((k) => [k, { value: 'init', version: 0 }]));
  const nemesis = new Nemesis(cluster, proxies, rng);
  const stop = new AbortController();
  let running: Promise<void>[] = [];
  try {
    for (const n of cluster.nodes) proxies.set(n.id, await Proxy.start(n.clientPort));
    await cluster.waitForLeader({ timeoutMs: 30_000 });
    const admin = await connect(cluster.connectString, { requestTimeoutMs: 10_000 });
    await admin.create(base, null);
    for (const k of keys) await admin.create(k, 'init');
    await admin.close();

    const connectString = [...proxies.values()].map((p) => p.address).join(',');
    for (let i = 1; i <= clients; i++) workers.push(new Worker(i, connectString, keys, rec, sessions, new Rng(cfg.seed * 31 + i), counts));
    const plan = planFaults(rng, cfg.faults, cfg.durationS * 1000);
    running = workers.map((w) => w.run(stop.signal));
    await runFaultWindow(nemesis, plan, cfg.durationS * 1000, cluster, cfg.nodes);
    stop.abort();
    await Promise.all(running);
    await Promise.all(workers.map((w) => w.close()));
    rec.closeOpen();

    const finals = new Map<number, Map<string, RegisterValue>>();
    for (const n of cluster.nodes) finals.set(n.id, await finalReads(cluster, n.id, keys, rec, sessions));
    return await report(cfg, rec, sessions, initial, keys, finals, nemesis.log, counts, logTail, print);
  } catch (err) {
    const msg =
      `[jepsen] ${cfg.name}: seed=${cfg.seed} aborted: ${(err as Error).message}\n  schedule:\n    ${formatSchedule(nemesis.log)}\n` +
      `  last server log lines:\n    ${logTail.slice(-40).join('\n    ')}`;
    print(msg);
    throw new Error(msg, { cause: err });
  } finally {
    stop.abort();
    await Promise.all(workers.map((w) => w.close()));
    await Promise.allSettled(running);
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all([...proxies.values()].map((p) => p.close()));
    await cluster.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

async function report(
  cfg: RunConfig,
  rec: Recorder,
  sessions: SessionLog[],
  initial: Record<string, RegisterValue>,
  keys: readonly string[],
  finals: Map<number, Map<string, RegisterValue>>,
  schedule: FaultLogEntry[],
  counts: Record<string, number>,
  logTail: string[],
  print: (line: string) => void,
): Promise<RunReport> {
  const t0 = performance.now();
  const lin = checkLinearizable(rec.events, initial);
  const checkMs = Math.round(performance.now() - t0);
  const session = checkSessions(rec.events, sessions);
  const watches = checkWatches(rec.events, rec.watches, sessions);

  // No acknowledged write lost: its version is reached on every server, and if the final
  // version is exactly its version, the final value is its value.
  const lost: string[] = [];
  const divergent: string[] = [];
  const ops = pairOps(rec.events);
  for (const key of keys) {
    const states = [...finals.entries()].map(([id, m]) => [id, m.get(key)!] as const);
    const first = states[0]![1];
    if (states.some(([, s]) => s.version !== first.version || s.value !== first.value)) {
      divergent.push(`${key}: ${states.map(([id, s]) => `n${id}=${s.value}@v${s.version}`).join(' ')}`);
    }
    for (const o of ops) {
      if (o.key !== key || o.f === 'read' || o.status !== 'ok' || o.result.version === undefined) continue;
      const v = o.result.version;
      if (first.version < v || (first.version === v && first.value !== o.input.value)) {
        lost.push(`${key}: op${o.op} by ${o.process} wrote ${o.input.value} as v${v}, final state ${first.value}@v${first.version}`);
      }
    }
  }

  const okOpsAll = ops.filter((o) => o.status === 'ok');
  if (okOpsAll.some((o) => o.replyZxid === undefined)) {
    session.push({ check: 'session-order', process: '-', message: `harness: ${okOpsAll.filter((o) => o.replyZxid === undefined).length} ok ops have no reply zxid (tap.ts lost track)` });
  }
  const ok = lin.verdict === 'ok' && session.length === 0 && watches.length === 0 && lost.length === 0 && divergent.length === 0;
  const total = ops.filter((o) => !o.process.startsWith('final.')).length;
  const by = (status: string) => ops.filter((o) => !o.process.startsWith('final.') && o.status === status).length;
  const fired = rec.watches.filter((w) => w.fired > 0).length;
  const lines: string[] = [];
  lines.push(`[jepsen] ${cfg.name}: seed=${cfg.seed} nodes=${cfg.nodes} clients=${cfg.clients ?? 5} keys=${keys.length} duration=${cfg.durationS}s`);
  lines.push(`  schedule (${schedule.length} faults):\n    ${formatSchedule(schedule)}`);
  lines.push(
    `  ops: ${total} (ok ${by('ok')}, fail ${by('fail')}, info ${by('info')}); ` +
      Object.entries(counts)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') +
      `; watches set ${rec.watches.length}, fired ${fired}`,
  );
  lines.push(
    `  linearizable: ${lin.verdict} (${checkMs} ms; ${lin.keys.map((k) => `${k.key.split('/').pop()}: ${k.ops} ops ${k.verdict}${k.reason ? ` [${k.reason}]` : ''}`).join(', ')})`,
  );
  // Coverage of the session / watch checks: an ok op whose reply the tap did not attribute is not checked.
  const okOps = ops.filter((o) => o.status === 'ok');
  const unattributed = okOps.filter((o) => o.replyZxid === undefined).length;
  const frames = sessions.reduce((n, s) => n + s.frames.length, 0);
  const eventsSeen = sessions.reduce((n, s) => n + s.frames.filter((f) => f.kind === 'event').length, 0);
  const reconnects = sessions.reduce((n, s) => n + s.frames.filter((f) => f.kind === 'reconnected').length, 0);
  lines.push(
    `  session order / monotonic zxids: ${session.length === 0 ? 'ok' : `${session.length} problem(s)`} ` +
      `(${okOps.length - unattributed}/${okOps.length} ok ops with their reply zxid; ${frames} frames, ${reconnects} reconnections)`,
  );
  lines.push(`  watches: ${watches.length === 0 ? 'ok' : `${watches.length} problem(s)`} (${eventsSeen} events received)`);
  lines.push(`  acknowledged writes lost: ${lost.length === 0 ? 'none' : lost.length}; final state on all ${finals.size} servers: ${divergent.length === 0 ? 'identical' : 'DIVERGENT'}`);
  for (const k of lin.keys.filter((k) => k.verdict === 'violation')) {
    lines.push(`  VIOLATION on ${k.key}: no linearization; deepest prefix ${k.deepest} ops, stuck at op${k.stuckAt?.op} (${k.stuckAt?.process} ${k.stuckAt?.f})`);
    if (k.partial) lines.push(`    state after the deepest prefix: ${k.partial.state.value}@v${k.partial.state.version}`);
    const near = new Set([k.stuckAt?.op]);
    const idx = rec.events.findIndex((e) => e.op === k.stuckAt?.op);
    const excerpt = rec.events.filter((e, i) => e.key === k.key && (near.has(e.op) || Math.abs(i - idx) < 60)).slice(-40);
    for (const e of excerpt) lines.push(`    ${formatEvent(e)}`);
  }
  for (const p of [...session, ...watches].slice(0, 20)) lines.push(`  ${p.check} (${p.process}): ${p.message}`);
  for (const l of [...lost, ...divergent].slice(0, 20)) lines.push(`  ${l}`);

  const r: RunReport = { config: cfg, schedule, counts, linearizability: lin, session, watches, lost, divergent, ok, text: '' };
  if (!ok || lin.verdict !== 'ok' || process.env.FAULT_KEEP_HISTORY) {
    const history: RunHistory & Record<string, unknown> = {
      config: cfg,
      schedule,
      verdicts: { linearizability: lin.keys.map(({ key, verdict, ops, steps, reason, deepest }) => ({ key, verdict, ops, steps, reason, deepest })), session, watches, lost, divergent },
      events: rec.events,
      watches: rec.watches,
      sessions,
      initial,
      serverLogTail: logTail,
    };
    const file = join(tmpdir(), `zabkit-jepsen-${cfg.name.replace(/[^a-z0-9]+/gi, '-')}-${cfg.seed}-${Date.now()}.json`);
    await writeFile(file, JSON.stringify(history, null, 1));
    r.historyFile = file;
    lines.push(`  history written to ${file}`);
  }
  r.text = lines.join('\n');
  print(r.text);
  return r;
}
