// Node and recipe workloads for the fault runs (workload-run.ts): unique
// creates, persistent-sequential creates (and deletes), a lock-protected
// counter with fencing (@zabkit/lock), a FIFO queue (@zabkit/queue) and a
// leader latch (@zabkit/leader). Each client loop records what it did as a
// plain history for its checker in workload-checkers.ts.
import { connect, ZabError, type ZabClient } from '@zabkit/client';
import { LeaderLatch } from '@zabkit/leader';
import { Mutex, type Lease } from '@zabkit/lock';
import { FifoQueue, LOCK_SUFFIX } from '@zabkit/queue';
import { Rng } from '../support/rng.js';
import {
  DEFINITE_FAILURES,
  seqOf,
  type CounterState,
  type CreateOp,
  type FinalListing,
  type IncrementOp,
  type LeaderTermRecord,
  type Outcome,
  type QueueOp,
  type SeqListing,
  type SeqOp,
} from './workload-checkers.js';

export type WorkloadKind = 'unique' | 'sequential' | 'counter' | 'queue' | 'latch';
export const ALL_WORKLOADS: readonly WorkloadKind[] = ['unique', 'sequential', 'counter', 'queue', 'latch'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const codeOf = (err: unknown): string => (err instanceof ZabError ? err.code : `Error: ${(err as Error)?.message ?? String(err)}`);
export const outcomeOf = (err: unknown): Outcome => (DEFINITE_FAILURES.has(codeOf(err)) ? 'fail' : 'info');

/** Shared by every workload of a run. */
export interface WorkloadEnv {
  connectString: string;
  /** Root of this run's nodes, e.g. /wl-abc. */
  base: string;
  seed: number;
  /** ms since the run started. */
  now(): number;
  counts: Record<string, number>;
  nextOp(): number;
}

const bump = (counts: Record<string, number>, k: string): void => {
  counts[k] = (counts[k] ?? 0) + 1;
};

/** Connects a workload client through the (proxied, faulty) connect string. */
async function workloadClient(env: WorkloadEnv, stop: AbortSignal): Promise<ZabClient> {
  return connect(env.connectString, {
    sessionTimeoutMs: 4_000,
    requestTimeoutMs: 3_000,
    connectTimeoutMs: 1_000,
    retry: { retries: 1_000, minTimeout: 50, maxTimeout: 300 },
    signal: stop,
  });
}

/** A client loop that replaces its session when it expires; `step` gets the live client and a process label. */
abstract class Loop {
  protected client: ZabClient | undefined;
  protected process = '';
  private generation = 0;

  constructor(
    protected readonly env: WorkloadEnv,
    protected readonly label: string,
    protected readonly rng: Rng,
  ) {}

  async run(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      if (!this.client || this.client.state === 'expired' || this.client.state === 'closed') {
        await this.retire();
        try {
          this.client = await workloadClient(this.env, stop);
          this.process = `${this.label}.s${++this.generation}`;
          bump(this.env.counts, 'sessions');
          await this.opened(this.client, stop);
        } catch {
          continue;
        }
      }
      try {
        await this.step(this.client, stop);
      } catch (err) {
        bump(this.env.counts, `${this.label.replace(/\d+$/, '')}:harness-error:${codeOf(err)}`);
      }
      await sleep(this.rng.int(0, 20));
    }
    await this.retire();
  }

  protected async opened(_client: ZabClient, _stop: AbortSignal): Promise<void> {}
  protected async closing(): Promise<void> {}
  protected abstract step(client: ZabClient, stop: AbortSignal): Promise<void>;

  private async retire(): Promise<void> {
    if (!this.client) return;
    await this.closing().catch(() => {});
    await this.client.close({ timeoutMs: 2_000 }).catch(() => {});
    this.client = undefined;
  }
}

// ---- unique creates ----

export class UniqueCreates extends Loop {
  private n = 0;
  constructor(
    env: WorkloadEnv,
    label: string,
    rng: Rng,
    readonly dir: string,
    readonly ops: CreateOp[],
  ) {
    super(env, label, rng);
  }

  protected async step(client: ZabClient): Promise<void> {
    const name = `${this.process}-${++this.n}`;
    const rec: CreateOp = { op: this.env.nextOp(), process: this.process, name, status: 'info' };
    this.ops.push(rec);
    try {
      await client.create(`${this.dir}/${name}`, name);
      rec.status = 'ok';
    } catch (err) {
      rec.status = outcomeOf(err);
      rec.error = codeOf(err);
    }
    bump(this.env.counts, `unique:${rec.status}`);
  }
}

// ---- sequential nodes ----

export class SequentialCreates extends Loop {
  private n = 0;
  private readonly mine: number[] = [];
  constructor(
    env: WorkloadEnv,
    label: string,
    rng: Rng,
    readonly dir: string,
    readonly ops: SeqOp[],
  ) {
    super(env, label, rng);
  }

  protected override async opened(): Promise<void> {
    this.mine.length = 0;
  }

  protected async step(client: ZabClient): Promise<void> {
    if (this.mine.length > 0 && this.rng.chance(0.2)) {
      // Deletes leave gaps; the numbers must never be handed out again.
      const seq = this.mine.splice(this.rng.int(0, this.mine.length - 1), 1)[0]!;
      const rec: SeqOp = { op: this.env.nextOp(), process: this.process, f: 'delete', seq, status: 'info' };
      this.ops.push(rec);
      try {
        await client.delete(`${this.dir}/n-${String(seq).padStart(10, '0')}`);
        rec.status = 'ok';
      } catch (err) {
        rec.status = outcomeOf(err);
        rec.error = codeOf(err);
      }
      bump(this.env.counts, `seq-delete:${rec.status}`);
      return;
    }
    const value = `${this.process}-${++this.n}`;
    const rec: SeqOp = { op: this.env.nextOp(), process: this.process, f: 'create', value, status: 'info' };
    this.ops.push(rec);
    try {
      const path = await client.create(`${this.dir}/n-`, value, { mode: 'persistent-sequential' });
      rec.status = 'ok';
      rec.seq = seqOf(path);
      this.mine.push(rec.seq);
    } catch (err) {
      rec.status = outcomeOf(err);
      rec.error = codeOf(err);
    }
    bump(this.env.counts, `seq-create:${rec.status}`);
  }
}

// ---- lock-protected counter with fencing ----

interface CounterData {
  count: number;
  /** Highest fencing token that wrote (hex). */
  token: string;
  chain: { op: number; token: string }[];
}

export class FencedCounter extends Loop {
  private mutex: Mutex | undefined;
  constructor(
    env: WorkloadEnv,
    label: string,
    rng: Rng,
    readonly lockPath: string,
    readonly counterPath: string,
    readonly ops: IncrementOp[],
  ) {
    super(env, label, rng);
  }

  protected override async opened(client: ZabClient): Promise<void> {
    this.mutex = new Mutex(client, this.lockPath, { lostAfterSuspendedMs: 0 });
  }

  protected override async closing(): Promise<void> {
    await this.mutex?.close().catch(() => {});
    this.mutex = undefined;
  }

  protected async step(client: ZabClient): Promise<void> {
    let lease: Lease;
    try {
      lease = await this.mutex!.acquire({ timeoutMs: 2_000 });
    } catch (err) {
      bump(this.env.counts, `lock:acquire-${codeOf(err)}`);
      return;
    }
    bump(this.env.counts, 'lock:acquired');
    try {
      // A few increments per holding; the holder may go stale at any point (its session expiring).
      for (let i = this.rng.int(1, 3); i > 0 && !lease.signal.aborted; i--) await this.increment(client, lease);
    } finally {
      await lease.release().catch(() => {});
    }
    // Pacing: the counter's chain (one entry per increment) must stay well below the node size limit in long runs.
    await sleep(this.rng.int(20, 80));
  }

  private async increment(client: ZabClient, lease: Lease): Promise<void> {
    const token = `0x${lease.fencingToken.toString(16)}`;
    const rec: IncrementOp = { op: this.env.nextOp(), process: this.process, token, status: 'info' };
    let read: { data: CounterData; version: number };
    try {
      const { data, stat } = await client.getData(this.counterPath);
      read = { data: JSON.parse(Buffer.from(data!).toString('utf8')) as CounterData, version: stat.version };
    } catch (err) {
      bump(this.env.counts, `counter:read-${codeOf(err)}`);
      return; // nothing written: not an increment
    }
    this.ops.push(rec);
    if (lease.fencingToken < BigInt(read.data.token)) {
      // The resource refuses a lower token: a newer holder has written.
      rec.status = 'fenced';
      bump(this.env.counts, 'counter:fenced');
      return;
    }
    const next: CounterData = { count: read.data.count + 1, token, chain: [...read.data.chain, { op: rec.op, token }] };
    try {
      // The version check makes "the token I compared is still the latest" atomic with the write.
      await client.multi([
        { type: 'check', path: this.counterPath, version: read.version },
        { type: 'setData', path: this.counterPath, data: JSON.stringify(next), version: read.version },
      ]);
      rec.status = 'ok';
    } catch (err) {
      rec.status = outcomeOf(err);
      rec.error = codeOf(err);
    }
    bump(this.env.counts, `counter:${rec.status}`);
  }
}

export function parseCounter(data: Uint8Array | null): CounterState {
  const d = JSON.parse(Buffer.from(data!).toString('utf8')) as CounterData;
  return { count: d.count, chain: d.chain };
}

export const initialCounter = (): string => JSON.stringify({ count: 0, token: '0x0', chain: [] } satisfies CounterData);

// ---- queue ----

export class QueueProducer extends Loop {
  private n = 0;
  private queue: FifoQueue<string> | undefined;
  constructor(
    env: WorkloadEnv,
    label: string,
    rng: Rng,
    readonly path: string,
    readonly ops: QueueOp[],
  ) {
    super(env, label, rng);
  }

  protected override async opened(client: ZabClient): Promise<void> {
    this.queue = new FifoQueue<string>(client, this.path);
  }

  protected async step(): Promise<void> {
    const item = `${this.process}-${++this.n}`;
    const rec: QueueOp = { op: this.env.nextOp(), process: this.process, f: 'put', item, status: 'info' };
    this.ops.push(rec);
    try {
      await this.queue!.put(item);
      rec.status = 'ok';
    } catch (err) {
      rec.status = outcomeOf(err);
      rec.error = codeOf(err);
    }
    bump(this.env.counts, `queue-put:${rec.status}`);
    await sleep(this.rng.int(10, 40));
  }
}

export class QueueConsumer extends Loop {
  private queue: FifoQueue<string> | undefined;
  constructor(
    env: WorkloadEnv,
    label: string,
    rng: Rng,
    readonly path: string,
    readonly ops: QueueOp[],
  ) {
    super(env, label, rng);
  }

  protected override async opened(client: ZabClient): Promise<void> {
    this.queue = new FifoQueue<string>(client, this.path);
  }

  protected override async closing(): Promise<void> {
    await this.queue?.close().catch(() => {});
  }

  protected async step(): Promise<void> {
    let lease;
    try {
      lease = await this.queue!.take({ lease: true, timeoutMs: 1_000 });
    } catch (err) {
      bump(this.env.counts, `queue-take:${codeOf(err)}`);
      return;
    }
    const rec: QueueOp = { op: this.env.nextOp(), process: this.process, f: 'ack', item: lease.value, status: 'info' };
    this.ops.push(rec);
    try {
      await lease.ack();
      rec.status = 'ok';
    } catch (err) {
      rec.status = outcomeOf(err);
      rec.error = codeOf(err);
      await lease.release().catch(() => {});
    }
    bump(this.env.counts, `queue-ack:${rec.status}`);
  }
}

// ---- leader latch ----

export class LatchParticipant extends Loop {
  private latch: LeaderLatch | undefined;
  private open: LeaderTermRecord | undefined;
  constructor(
    env: WorkloadEnv,
    label: string,
    rng: Rng,
    readonly path: string,
    readonly terms: LeaderTermRecord[],
  ) {
    super(env, label, rng);
  }

  protected override async opened(client: ZabClient): Promise<void> {
    const latch = new LeaderLatch(client, this.path, { id: this.process });
    latch.on('isLeader', (term) => {
      this.endTerm();
      this.open = { process: this.process, token: `0x${term.fencingToken.toString(16)}`, start: this.env.now(), end: Infinity };
      this.terms.push(this.open);
      bump(this.env.counts, 'latch:terms');
    });
    latch.on('notLeader', () => this.endTerm());
    latch.on('error', () => bump(this.env.counts, 'latch:error-event'));
    this.latch = latch;
    await latch.start();
  }

  private endTerm(): void {
    if (this.open) this.open.end = this.env.now();
    this.open = undefined;
  }

  protected override async closing(): Promise<void> {
    await this.latch?.close().catch(() => {});
    this.endTerm();
    this.latch = undefined;
  }

  protected async step(): Promise<void> {
    // Leaders step down now and then so terms change hands without faults too.
    await sleep(this.rng.int(100, 400));
    if (this.latch?.hasLeadership && this.rng.chance(0.3)) {
      const old = this.latch;
      this.latch = undefined;
      await old.close().catch(() => {});
      this.endTerm();
      await this.opened(this.client!).catch(() => bump(this.env.counts, 'latch:rejoin-failed'));
    }
  }

  /** Ends the open term at the run's end. */
  finish(): void {
    this.endTerm();
  }
}

// ---- final state, read on each server alone after sync ----

export async function onServer<T>(address: string, fn: (c: ZabClient) => Promise<T>): Promise<T> {
  const c = await connect(address, { shuffle: false, requestTimeoutMs: 10_000, retry: { retries: 50, maxTimeout: 300 } });
  try {
    return await fn(c);
  } finally {
    await c.close().catch(() => {});
  }
}

/** Children of `dir` with their data (as strings). */
export async function listWithData(c: ZabClient, dir: string): Promise<Map<string, string | null>> {
  await c.sync(dir);
  const names = await c.getChildren(dir);
  const datas = await Promise.all(names.map((n) => c.getData(`${dir}/${n}`).then((r) => (r.data === null ? null : Buffer.from(r.data).toString('utf8')))));
  return new Map(names.map((n, i) => [n, datas[i]!]));
}

export async function finalUnique(c: ZabClient, dir: string): Promise<FinalListing> {
  return listWithData(c, dir);
}

export async function finalSequential(c: ZabClient, dir: string): Promise<SeqListing> {
  const m = await listWithData(c, dir);
  return new Map([...m.entries()].map(([n, d]) => [seqOf(n), d]));
}

/** Items still queued (lock nodes skipped; data decoded with the queue's default JSON codec). */
export async function finalQueue(c: ZabClient, dir: string): Promise<string[]> {
  const m = await listWithData(c, dir);
  return [...m.entries()].filter(([n]) => !n.endsWith(LOCK_SUFFIX)).map(([, d]) => JSON.parse(d!) as string);
}
