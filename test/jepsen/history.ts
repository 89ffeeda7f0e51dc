// The history of a run: every client operation as an invoke event followed by
// one completion (ok / fail / info), Jepsen style. Events are appended in real
// time order by one process (the test), so an event's index is its timestamp.

/** What an operation does. `read` and `cas` / `write` act on one register (a znode's data + version). */
export type OpFn = 'read' | 'write' | 'cas';

/** ok = took effect with this result; fail = certainly did not; info = unknown (timeout, connection loss). */
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/** A register's state: the znode's data and its version. */
export interface RegisterValue {
  value: string | null;
  version: number;
}

export interface OpInput {
  /** write / cas: the (unique) value written. */
  value?: string;
  /** cas: the version setData expects. */
  expected?: number;
  /** read: issued after a `sync` on the same session (a linearizable read). */
  synced?: boolean;
  /** read: a one-shot data watch was set with it (its id). */
  watchId?: number;
}

export interface OpResultRecord {
  /** read: what was read. */
  value?: string | null;
  /** read: the version read; write / cas: the version the write produced. */
  version?: number;
  /** mzxid of the znode in the reply's Stat (read: of the data read; write: the write's own zxid). */
  mzxid?: string;
}

export interface HistoryEvent {
  /** Position in the history (the logical clock). */
  index: number;
  /** Operation id: an invoke and its completion share it. */
  op: number;
  type: EventType;
  /** The session (client process) label, e.g. "c2.s1": client 2, its first session. */
  process: string;
  f: OpFn;
  key: string;
  input: OpInput;
  /** On completion. */
  result?: OpResultRecord;
  /** On fail / info: the error code. */
  error?: string;
  /** On completion: zxid of the reply frame that answered it (the serving server's last applied zxid). */
  replyZxid?: string;
  /** On completion: the client's lastZxidSeen afterwards. */
  zxidSeen?: string;
  /** Wall clock (ms since the run started), for humans. */
  at: number;
}

/** A watch registration and what became of it. */
export interface WatchRecord {
  id: number;
  process: string;
  key: string;
  /** The op (a read) that set it. */
  setBy: number;
  /** How many times its callback ran (must be at most 1). */
  fired: number;
  firedType?: string;
}

/** One frame a session received, in arrival order (see tap.ts). */
export type TapFrame =
  | { kind: 'reply'; zxid: string; opCode: number; op?: number; err?: string }
  | { kind: 'event'; zxid: string; type: string; path: string }
  | { kind: 'reconnected'; server: string; lastZxidSeen: string }
  | { kind: 'suspended'; reason: string };

export interface SessionLog {
  process: string;
  frames: TapFrame[];
}

/** Everything a run recorded, as written to the JSON file of a failing run. */
export interface RunHistory {
  events: HistoryEvent[];
  watches: WatchRecord[];
  sessions: SessionLog[];
  /** Initial value of every key (version 0). */
  initial: Record<string, RegisterValue>;
}

/** Appends events in real-time order. */
export class Recorder {
  readonly events: HistoryEvent[] = [];
  readonly watches: WatchRecord[] = [];
  private nextOp = 1;
  private nextWatch = 1;
  private readonly open = new Map<number, HistoryEvent>();
  private readonly t0 = performance.now();

  invoke(process: string, f: OpFn, key: string, input: OpInput = {}): number {
    const op = this.nextOp++;
    const e: HistoryEvent = { index: this.events.length, op, type: 'invoke', process, f, key, input, at: this.now() };
    this.events.push(e);
    this.open.set(op, e);
    return op;
  }

  complete(op: number, type: Exclude<EventType, 'invoke'>, extra: Pick<HistoryEvent, 'result' | 'error' | 'replyZxid' | 'zxidSeen'> = {}): void {
    const inv = this.open.get(op);
    if (!inv) throw new Error(`op ${op} is not open`);
    this.open.delete(op);
    const e: HistoryEvent = { ...inv, index: this.events.length, type, at: this.now() };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) (e as unknown as Record<string, unknown>)[k] = v;
    this.events.push(e);
  }

  /** The invoke event of an op still in flight (to annotate its input). */
  openEvent(op: number): HistoryEvent | undefined {
    return this.open.get(op);
  }

  newWatch(process: string, key: string, setBy: number): WatchRecord {
    const w: WatchRecord = { id: this.nextWatch++, process, key, setBy, fired: 0 };
    this.watches.push(w);
    return w;
  }

  /** Ops still open (their worker was abandoned): completed as info. */
  closeOpen(): void {
    for (const op of [...this.open.keys()]) this.complete(op, 'info', { error: 'abandoned' });
  }

  private now(): number {
    return Math.round((performance.now() - this.t0) * 10) / 10;
  }
}

/** An operation with its invoke and completion paired up. */
export interface Operation {
  op: number;
  process: string;
  f: OpFn;
  key: string;
  input: OpInput;
  status: 'ok' | 'fail' | 'info';
  result: OpResultRecord;
  error?: string;
  call: number;
  /** Index of the completion; Infinity for info (it may take effect at any later time, or never). */
  ret: number;
  replyZxid?: bigint;
  /** Index of the invoke in the session's issue order. */
}

/** Pairs invokes with completions. An invoke with no completion counts as info. */
export function pairOps(events: readonly HistoryEvent[]): Operation[] {
  const byOp = new Map<number, Operation>();
  const out: Operation[] = [];
  for (const e of events) {
    if (e.type === 'invoke') {
      const o: Operation = { op: e.op, process: e.process, f: e.f, key: e.key, input: e.input, status: 'info', result: {}, call: e.index, ret: Infinity };
      byOp.set(e.op, o);
      out.push(o);
      continue;
    }
    const o = byOp.get(e.op);
    if (!o) throw new Error(`completion of op ${e.op} without an invoke`);
    o.status = e.type;
    if (e.result) o.result = e.result;
    if (e.error !== undefined) o.error = e.error;
    if (e.replyZxid !== undefined) o.replyZxid = BigInt(e.replyZxid);
    o.ret = e.type === 'info' ? Infinity : e.index;
  }
  return out;
}

/** One line per event, for failure reports. */
export function formatEvent(e: HistoryEvent): string {
  const input =
    e.f === 'read'
      ? `${e.input.synced ? 'sync+' : ''}read${e.input.watchId ? ` watch#${e.input.watchId}` : ''}`
      : e.f === 'write'
        ? `write ${e.input.value}`
        : `cas v${e.input.expected}->${e.input.value}`;
  const res =
    e.type === 'invoke'
      ? ''
      : e.type === 'ok'
        ? e.f === 'read'
          ? ` => ${e.result?.value} v${e.result?.version}`
          : ` => v${e.result?.version}`
        : ` (${e.error})`;
  const z = e.replyZxid ? ` zxid=0x${BigInt(e.replyZxid).toString(16)}` : '';
  const m = e.result?.mzxid ? ` mzxid=0x${BigInt(e.result.mzxid).toString(16)}` : '';
  return `#${e.index} t=${e.at}ms ${e.process} op${e.op} ${e.type.padEnd(6)} ${e.key} ${input}${res}${m}${z}`;
}
