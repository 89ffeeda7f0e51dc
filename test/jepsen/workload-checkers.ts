// Checkers of the node and recipe workloads (workloads.ts): unique creates,
// sequential nodes, the lock-protected counter with fencing, the queue and the
// leader latch. Each takes a small, plain history (what the clients did, with
// ok / fail / info outcomes) and the final state read from every server, and
// returns a list of problems (empty = the guarantee held).

/** ok = took effect; fail = certainly did not (a definite server refusal); info = unknown. */
export type Outcome = 'ok' | 'fail' | 'info';

/** Error codes that are a server's definite refusal: the op did not take effect. */
export const DEFINITE_FAILURES: ReadonlySet<string> = new Set(['NodeExists', 'NoNode', 'BadVersion', 'NotEmpty', 'BadArguments', 'NoChildrenForEphemerals', 'InvalidACL', 'NoAuth']);

export interface WorkloadProblem {
  check: string;
  message: string;
}

const problem = (check: string, message: string): WorkloadProblem => ({ check, message });

// ---- unique creates --------------------------------------------------------

export interface CreateOp {
  op: number;
  process: string;
  /** Child name (unique per op). */
  name: string;
  status: Outcome;
  error?: string;
}

/** Final children of the workload's directory on one server: name -> data (as read after sync). */
export type FinalListing = Map<string, string | null>;

/**
 * Every ok create's node exists on every server; no failed create exists; no node exists that no
 * create (ok or info) made; no node's data differs from what its create wrote (data = the name);
 * every server holds the same set.
 */
export function checkUniqueCreates(ops: readonly CreateOp[], finals: ReadonlyMap<number, FinalListing>): WorkloadProblem[] {
  const out: WorkloadProblem[] = [];
  const byName = new Map<string, CreateOp[]>();
  for (const o of ops) byName.set(o.name, [...(byName.get(o.name) ?? []), o]);
  for (const [name, list] of byName) if (list.length > 1) out.push(problem('harness', `name ${name} was used by ${list.length} creates`));
  const servers = [...finals.entries()];
  for (const [id, listing] of servers) {
    for (const o of ops) {
      if (o.status === 'ok' && !listing.has(o.name)) out.push(problem('create-lost', `op${o.op} by ${o.process} created ${o.name} (ok) but it is missing on n${id}`));
      if (o.status === 'fail' && listing.has(o.name)) out.push(problem('failed-create-exists', `op${o.op} by ${o.process} failed (${o.error}) but ${o.name} exists on n${id}`));
    }
    for (const [name, data] of listing) {
      const made = byName.get(name);
      if (!made) out.push(problem('phantom', `${name} exists on n${id} but no create made it`));
      else if (data !== name) out.push(problem('wrong-data', `${name} on n${id} holds ${JSON.stringify(data)}`));
    }
  }
  if (servers.length > 1) {
    const [id0, first] = servers[0]!;
    for (const [id, listing] of servers.slice(1)) {
      const a = [...first.keys()].sort().join(',');
      const b = [...listing.keys()].sort().join(',');
      if (a !== b) out.push(problem('divergent', `children differ between n${id0} (${first.size}) and n${id} (${listing.size})`));
    }
  }
  return out;
}

// ---- sequential nodes ------------------------------------------------------

export interface SeqOp {
  op: number;
  process: string;
  /** create: the unique value written as data; delete: the sequence number deleted. */
  f: 'create' | 'delete';
  value?: string;
  /** create ok: the sequence number the server gave; delete: the number deleted. */
  seq?: number;
  status: Outcome;
  error?: string;
}

/** Final sequential children on one server: sequence number -> data. */
export type SeqListing = Map<number, string | null>;

/**
 * Sequence numbers of ok creates are unique; within one session they increase in issue order; every
 * ok create that no ok or info delete removed exists at the end with its data; a node at the end
 * never holds another create's number (no reuse, also after deletes); no created value appears
 * twice (an info create applied twice); no failed create exists; servers agree.
 */
export function checkSequential(ops: readonly SeqOp[], finals: ReadonlyMap<number, SeqListing>): WorkloadProblem[] {
  const out: WorkloadProblem[] = [];
  const bySeq = new Map<number, SeqOp>();
  const lastByProcess = new Map<string, SeqOp>();
  const creates = ops.filter((o) => o.f === 'create');
  const byValue = new Map(creates.map((o) => [o.value!, o]));
  for (const o of creates) {
    if (o.status !== 'ok' || o.seq === undefined) continue;
    const prev = bySeq.get(o.seq);
    if (prev) out.push(problem('seq-duplicate', `sequence ${o.seq} given to op${prev.op} (${prev.process}, ${prev.value}) and op${o.op} (${o.process}, ${o.value})`));
    else bySeq.set(o.seq, o);
    const last = lastByProcess.get(o.process);
    if (last && o.seq <= last.seq!) out.push(problem('seq-order', `${o.process}: op${o.op} got ${o.seq} after its op${last.op} got ${last.seq}`));
    lastByProcess.set(o.process, o);
  }
  const deleted = new Set(ops.filter((o) => o.f === 'delete' && o.status !== 'fail').map((o) => o.seq!));
  const servers = [...finals.entries()];
  for (const [id, listing] of servers) {
    for (const o of creates) {
      if (o.status === 'ok' && o.seq !== undefined && !deleted.has(o.seq)) {
        if (!listing.has(o.seq)) out.push(problem('create-lost', `op${o.op} by ${o.process} created sequence ${o.seq} (${o.value}) but it is missing on n${id}`));
      }
    }
    const seenValue = new Map<string, number>();
    for (const [seq, data] of listing) {
      const owner = bySeq.get(seq);
      if (owner && data !== owner.value) out.push(problem('seq-reused', `sequence ${seq} on n${id} holds ${JSON.stringify(data)}, but op${owner.op} (${owner.process}) got it for ${owner.value}`));
      const made = data === null ? undefined : byValue.get(data);
      if (!made) out.push(problem('phantom', `sequence ${seq} on n${id} holds ${JSON.stringify(data)}, which no create wrote`));
      else if (made.status === 'fail') out.push(problem('failed-create-exists', `op${made.op} by ${made.process} failed (${made.error}) but its value is at sequence ${seq} on n${id}`));
      else if (made.status === 'ok' && made.seq !== seq) out.push(problem('seq-mismatch', `op${made.op} got sequence ${made.seq} but its value sits at ${seq} on n${id}`));
      if (data !== null) {
        const other = seenValue.get(data);
        if (other !== undefined) out.push(problem('create-twice', `${data} exists twice on n${id}: sequences ${other} and ${seq}`));
        seenValue.set(data, seq);
      }
    }
  }
  if (servers.length > 1) {
    const [id0, first] = servers[0]!;
    const key = (l: SeqListing) => [...l.entries()].sort((a, b) => a[0] - b[0]).map(([s, d]) => `${s}=${d}`).join(',');
    for (const [id, listing] of servers.slice(1)) if (key(first) !== key(listing)) out.push(problem('divergent', `sequential children differ between n${id0} and n${id}`));
  }
  return out;
}

/** The sequence number of a sequential node name (the last 10 digits). */
export function seqOf(name: string): number {
  const m = /(\d{10})$/.exec(name);
  if (!m) throw new Error(`not a sequential node name: ${name}`);
  return Number(m[1]);
}

// ---- lock-protected counter with fencing ------------------------------------

export interface IncrementOp {
  op: number;
  process: string;
  /** The holder's fencing token (hex). */
  token: string;
  status: Outcome | 'fenced';
  error?: string;
}

/** The counter node as it ends: the count and the chain of increments applied (op id and token each). */
export interface CounterState {
  count: number;
  chain: { op: number; token: string }[];
}

/**
 * 0 lost updates: the count equals the number of increments applied, every ok increment is in the
 * chain, no failed or fenced one is, none twice, no unknown op; tokens along the chain never go
 * down (a stale holder never wrote after a newer one); every server agrees.
 */
export function checkCounter(ops: readonly IncrementOp[], finals: ReadonlyMap<number, CounterState>): WorkloadProblem[] {
  const out: WorkloadProblem[] = [];
  const byOp = new Map(ops.map((o) => [o.op, o]));
  const servers = [...finals.entries()];
  for (const [id, st] of servers) {
    if (st.count !== st.chain.length) out.push(problem('counter', `n${id}: count ${st.count} but ${st.chain.length} increments in the chain`));
    const applied = new Set<number>();
    let prev: bigint | undefined;
    for (const { op, token } of st.chain) {
      if (applied.has(op)) out.push(problem('counter-duplicate', `n${id}: op${op} applied twice`));
      applied.add(op);
      const o = byOp.get(op);
      if (!o) out.push(problem('phantom', `n${id}: op${op} in the chain was never issued`));
      else if (o.status === 'fail' || o.status === 'fenced') out.push(problem('failed-applied', `n${id}: op${op} by ${o.process} ended ${o.status}${o.error ? ` (${o.error})` : ''} but was applied`));
      const t = BigInt(token);
      if (prev !== undefined && t < prev) out.push(problem('fencing', `n${id}: op${op} wrote with token 0x${t.toString(16)} after a write with token 0x${prev.toString(16)}`));
      prev = prev === undefined || t > prev ? t : prev;
    }
    for (const o of ops) if (o.status === 'ok' && !applied.has(o.op)) out.push(problem('lost-update', `n${id}: op${o.op} by ${o.process} (token ${o.token}) was acknowledged but is not in the counter`));
  }
  if (servers.length > 1) {
    const [id0, first] = servers[0]!;
    for (const [id, st] of servers.slice(1)) if (JSON.stringify(st) !== JSON.stringify(first)) out.push(problem('divergent', `counter differs between n${id0} (${first.count}) and n${id} (${st.count})`));
  }
  return out;
}

// ---- queue ----------------------------------------------------------------

export interface QueueOp {
  op: number;
  process: string;
  f: 'put' | 'ack';
  /** The (unique) item put, or the item a lease held when it was acked. */
  item: string;
  status: Outcome;
  error?: string;
}

/**
 * No acknowledged put lost: each ok put's item was acked (ok or info) or is still queued; no item
 * taken twice: acked ok by two consumers, or acked ok and still queued, or queued twice; no item
 * that was never put; no failed put queued; servers agree on what is left.
 */
export function checkQueue(ops: readonly QueueOp[], finals: ReadonlyMap<number, string[]>): WorkloadProblem[] {
  const out: WorkloadProblem[] = [];
  const puts = new Map(ops.filter((o) => o.f === 'put').map((o) => [o.item, o]));
  const acks = new Map<string, QueueOp[]>();
  for (const o of ops) if (o.f === 'ack' && o.status !== 'fail') acks.set(o.item, [...(acks.get(o.item) ?? []), o]);
  for (const [item, list] of acks) {
    const oks = list.filter((o) => o.status === 'ok');
    if (oks.length > 1) out.push(problem('taken-twice', `${item} acked by ${oks.map((o) => `op${o.op} (${o.process})`).join(' and ')}`));
    const put = puts.get(item);
    if (!put) out.push(problem('phantom', `${item} was taken but never put`));
    else if (put.status === 'fail') out.push(problem('failed-put-taken', `${item}: put op${put.op} failed (${put.error}) but a consumer took it`));
  }
  const servers = [...finals.entries()];
  for (const [id, left] of servers) {
    const seen = new Set<string>();
    for (const item of left) {
      if (seen.has(item)) out.push(problem('duplicate', `${item} is queued twice on n${id}`));
      seen.add(item);
      const put = puts.get(item);
      if (!put) out.push(problem('phantom', `${item} is queued on n${id} but was never put`));
      else if (put.status === 'fail') out.push(problem('failed-put-queued', `${item}: put op${put.op} failed (${put.error}) but it is queued on n${id}`));
      if ((acks.get(item) ?? []).some((o) => o.status === 'ok')) out.push(problem('taken-twice', `${item} was acked but is still queued on n${id}`));
    }
    for (const [item, put] of puts) {
      if (put.status === 'ok' && !seen.has(item) && !acks.has(item)) out.push(problem('lost', `${item}: put op${put.op} by ${put.process} was acknowledged but it was neither taken nor is it queued on n${id}`));
    }
  }
  if (servers.length > 1) {
    const [id0, first] = servers[0]!;
    for (const [id, left] of servers.slice(1)) if ([...left].sort().join() !== [...first].sort().join()) out.push(problem('divergent', `queue contents differ between n${id0} (${first.length}) and n${id} (${left.length})`));
  }
  return out;
}

// ---- leader latch -----------------------------------------------------------

export interface LeaderTermRecord {
  process: string;
  /** The term's fencing token (hex). */
  token: string;
  /** ms when isLeader fired. */
  start: number;
  /** ms when notLeader fired (or the run ended). */
  end: number;
}

/**
 * At most one leader per fencing token: no token is held by two participants or twice; tokens
 * strictly increase in the order the terms began; two terms that overlap in time have different
 * tokens (implied) and the later one the larger token.
 */
export function checkLeaderTerms(terms: readonly LeaderTermRecord[]): WorkloadProblem[] {
  const out: WorkloadProblem[] = [];
  const byToken = new Map<string, LeaderTermRecord>();
  for (const t of terms) {
    const k = BigInt(t.token).toString(16);
    const prev = byToken.get(k);
    if (prev) out.push(problem('token-shared', `token 0x${k} held by ${prev.process} [${prev.start}-${prev.end}] and by ${t.process} [${t.start}-${t.end}]`));
    else byToken.set(k, t);
    if (t.end < t.start) out.push(problem('harness', `${t.process}: term 0x${k} ends before it starts`));
  }
  const sorted = [...terms].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (BigInt(b.token) <= BigInt(a.token)) {
      out.push(problem('token-order', `${b.process}'s term (token ${b.token}) began at ${b.start} ms after ${a.process}'s term (token ${a.token}) began at ${a.start} ms`));
    }
  }
  return out;
}
