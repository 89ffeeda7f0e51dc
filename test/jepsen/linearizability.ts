// A linearizability checker for a versioned register (a znode's data + version),
// in the style of Wing & Gong / Lowe / Porcupine: depth-first search over the
// order in which pending operations take effect, memoised on (set of linearized
// operations, model state), one independent search per key (P-compositionality:
// a history is linearizable iff its restriction to every key is).
//
// Modelled operations on one key, state = (value, version):
// - read (only reads issued after `sync`): must return exactly the state;
// - write v (setData, version -1): state becomes (v, version+1), and an ok
//   reply's version must be that new version;
// - cas e v (setData with expected version e): ok iff version == e, then as a
//   write; a BadVersion failure asserts version != e and changes nothing.
// An info operation (timeout, connection loss) may take effect at any moment
// after its invocation or never: its completion is at +infinity, and a read it
// issued constrains nothing. Any other failure of a write is treated as info
// (conservative: can only hide anomalies, never invent one).
//
// The search is bounded (operations per key and search steps); hitting a bound
// gives "unknown", never "ok".
import { pairOps, type HistoryEvent, type Operation, type RegisterValue } from './history.js';

export type Verdict = 'ok' | 'violation' | 'unknown';

export interface KeyVerdict {
  key: string;
  verdict: Verdict;
  ops: number;
  steps: number;
  /** violation: the operation that could not be linearized at the deepest point of the search. */
  stuckAt?: Operation;
  /** violation: how many operations the longest linearizable prefix held. */
  deepest?: number;
  /** violation: one longest linearization found (op ids in order) and the state after it. */
  partial?: { order: number[]; state: RegisterValue };
  /** unknown: why. */
  reason?: string;
}

export interface LinearizabilityResult {
  verdict: Verdict;
  keys: KeyVerdict[];
}

export interface CheckOptions {
  /** Refuse (unknown) keys with more operations than this. Default 4000. */
  maxOpsPerKey?: number;
  /**
   * Give up (unknown) a key's search after this many steps. Default 20,000,000 (about 30 s): a run
   * with five leader pauses and ~20 writes of unknown outcome on one key needed 2.3M steps to prove
   * linearizable, past the 2M this used to be, and failed the fault suite as "unknown".
   */
  maxSteps?: number;
}

/** What a modelled operation looks like to the search. */
interface ModelOp {
  id: number;
  kind: 'read' | 'write' | 'cas' | 'cas-failed';
  value?: string | null;
  version?: number;
  expected?: number;
  call: number;
  ret: number;
  source: Operation;
}

function modelOps(ops: readonly Operation[]): ModelOp[] {
  const out: ModelOp[] = [];
  for (const o of ops) {
    const base = { id: o.op, call: o.call, source: o } as const;
    if (o.f === 'read') {
      // Only reads after sync are linearizable reads; reads without a result constrain nothing.
      if (!o.input.synced || o.status !== 'ok') continue;
      out.push({ ...base, kind: 'read', value: o.result.value ?? null, version: o.result.version!, ret: o.ret });
    } else if (o.f === 'write') {
      if (o.status === 'ok') out.push({ ...base, kind: 'write', value: o.input.value!, version: o.result.version!, ret: o.ret });
      else out.push({ ...base, kind: 'write', value: o.input.value!, ret: Infinity });
    } else {
      const expected = o.input.expected!;
      if (o.status === 'ok') out.push({ ...base, kind: 'cas', value: o.input.value!, version: o.result.version!, expected, ret: o.ret });
      else if (o.status === 'fail' && o.error === 'BadVersion') out.push({ ...base, kind: 'cas-failed', expected, ret: o.ret });
      else out.push({ ...base, kind: 'cas', value: o.input.value!, expected, ret: Infinity });
    }
  }
  return out;
}

/** The register model: the next state, or null if `op` cannot take effect (with its result) in `s`. */
function step(s: RegisterValue, op: ModelOp): RegisterValue | null {
  switch (op.kind) {
    case 'read':
      return s.value === op.value && s.version === op.version ? s : null;
    case 'write':
      if (op.version !== undefined && op.version !== s.version + 1) return null;
      return { value: op.value!, version: s.version + 1 };
    case 'cas':
      if (s.version !== op.expected) {
        // An info cas that found another version simply did nothing; an ok one cannot be here.
        return op.ret === Infinity ? s : null;
      }
      if (op.version !== undefined && op.version !== s.version + 1) return null;
      return { value: op.value!, version: s.version + 1 };
    case 'cas-failed':
      return s.version !== op.expected ? s : null;
  }
}

const stateKey = (s: RegisterValue): string => `${s.version}\u0000${s.value === null ? '\u0001' : s.value}`;

interface Entry {
  isCall: boolean;
  op: ModelOp;
  index: number; // position of the op in `ops`
  match: Entry | null; // call -> its return entry
  prev: Entry | null;
  next: Entry | null;
}

/** Checks one key's operations from `initial`. */
export function checkKey(key: string, initial: RegisterValue, ops: readonly Operation[], options: CheckOptions = {}): KeyVerdict {
  const maxOps = options.maxOpsPerKey ?? 4000;
  const maxSteps = options.maxSteps ?? 20_000_000;
  const mops = modelOps(ops);
  if (mops.length > maxOps) {
    return { key, verdict: 'unknown', ops: mops.length, steps: 0, reason: `${mops.length} operations on the key, the bound is ${maxOps}` };
  }
  // Entries sorted by time; a return at +infinity sorts after everything (ties keep call order).
  const events: { time: number; isCall: boolean; i: number }[] = [];
  mops.forEach((o, i) => {
    events.push({ time: o.call, isCall: true, i });
    events.push({ time: o.ret, isCall: false, i });
  });
  events.sort((a, b) => (a.time === b.time ? (a.isCall === b.isCall ? a.i - b.i : a.isCall ? 1 : -1) : a.time - b.time));
  // A sentinel head makes unlinking uniform.
  const head: Entry = { isCall: false, op: null as unknown as ModelOp, index: -1, match: null, prev: null, next: null };
  let tail = head;
  const calls: Entry[] = new Array(mops.length);
  const rets: Entry[] = new Array(mops.length);
  for (const ev of events) {
    const e: Entry = { isCall: ev.isCall, op: mops[ev.i]!, index: ev.i, match: null, prev: tail, next: null };
    tail.next = e;
    tail = e;
    if (ev.isCall) calls[ev.i] = e;
    else rets[ev.i] = e;
  }
  for (let i = 0; i < mops.length; i++) calls[i]!.match = rets[i]!;

  const lift = (e: Entry): void => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Entry): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };

  const words = Math.ceil(mops.length / 32) || 1;
  const bits = new Uint32Array(words);
  const bitsKey = (): string => String.fromCharCode(...new Uint16Array(bits.buffer));
  const cache = new Set<string>();
  const stack: { entry: Entry; state: RegisterValue }[] = [];
  let state = initial;
  let entry = head.next;
  let steps = 0;
  let deepest = -1;
  let stuckAt: ModelOp | undefined;
  let partial: { order: number[]; state: RegisterValue } | undefined;

  while (head.next !== null) {
    if (++steps > maxSteps) {
      return { key, verdict: 'unknown', ops: mops.length, steps, reason: `search gave up after ${maxSteps} steps` };
    }
    const e = entry!;
    if (e.isCall) {
      const next = step(state, e.op);
      if (next !== null) {
        bits[e.index >>> 5]! |= 1 << (e.index & 31);
        const k = bitsKey() + '|' + stateKey(next);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ entry: e, state });
          state = next;
          lift(e);
          entry = head.next;
          continue;
        }
        bits[e.index >>> 5]! &= ~(1 << (e.index & 31));
      }
      entry = e.next;
    } else {
      // A return reached before its call was linearized: backtrack.
      if (stack.length > deepest) {
        deepest = stack.length;
        stuckAt = e.op;
        partial = { order: stack.map((s) => s.entry.op.id), state };
      }
      const top = stack.pop();
      if (!top) {
        const v: KeyVerdict = { key, verdict: 'violation', ops: mops.length, steps, deepest };
        if (stuckAt) v.stuckAt = stuckAt.source;
        if (partial) v.partial = partial;
        return v;
      }
      state = top.state;
      bits[top.entry.index >>> 5]! &= ~(1 << (top.entry.index & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { key, verdict: 'ok', ops: mops.length, steps };
}

/** Checks a whole history, key by key. */
export function checkLinearizable(
  events: readonly HistoryEvent[],
  initial: Record<string, RegisterValue>,
  options: CheckOptions = {},
): LinearizabilityResult {
  const byKey = new Map<string, Operation[]>();
  for (const o of pairOps(events)) {
    let list = byKey.get(o.key);
    if (!list) byKey.set(o.key, (list = []));
    list.push(o);
  }
  const keys: KeyVerdict[] = [];
  for (const [key, ops] of [...byKey.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    keys.push(checkKey(key, initial[key] ?? { value: null, version: 0 }, ops, options));
  }
  const verdict: Verdict = keys.some((k) => k.verdict === 'violation') ? 'violation' : keys.every((k) => k.verdict === 'ok') ? 'ok' : 'unknown';
  return { verdict, keys };
}
