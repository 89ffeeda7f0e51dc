// Per-session guarantees and watch guarantees, checked on the recorded history
// plus each session's received-frame log (tap.ts).
//
// Session order (zab-reference §5: "each client's requests take effect in the
// order it sent them; a client never sees a server older than the newest zxid
// it has seen"): walking a session's ok operations in issue order, every write
// (its own zxid = the Stat's mzxid of its reply) must come after everything the
// session did or saw before it, and every read (served at the reply's zxid)
// must not be older than it. Per key, a session never reads a version older
// than one it already read or wrote. Across the whole frame log (replies and
// events, over every reconnection to every server) zxids never go backward.
//
// Watches (§8): a one-shot watch fires at most once; events arrive in zxid
// order; and once a read set a watch on a key at mzxid m, the session must not
// see that key at a newer mzxid (a read or its own write) before the event.
import { pairOps, type HistoryEvent, type Operation, type SessionLog, type WatchRecord } from './history.js';

export interface CheckProblem {
  check: 'session-order' | 'monotonic-zxid' | 'monotonic-reads' | 'watch-once' | 'watch-order' | 'watch-before-data' | 'watch-stale';
  process: string;
  message: string;
  ops?: number[];
}

const hex = (z: bigint | undefined): string => (z === undefined ? '?' : `0x${z.toString(16)}`);

/** zxid at which an ok op took effect on the session's view: a write's own zxid, a read's serving zxid. */
function point(o: Operation): bigint | undefined {
  if (o.status !== 'ok') return undefined;
  if (o.f === 'read') return o.replyZxid;
  return o.result.mzxid !== undefined ? BigInt(o.result.mzxid) : undefined;
}

export function checkSessions(events: readonly HistoryEvent[], sessions: readonly SessionLog[]): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const byProcess = new Map<string, Operation[]>();
  for (const o of pairOps(events)) {
    let l = byProcess.get(o.process);
    if (!l) byProcess.set(o.process, (l = []));
    l.push(o); // pairOps keeps invoke order = issue order
  }
  for (const [process, ops] of byProcess) {
    // 1. Issue order: writes strictly after everything before them, reads not older.
    let hw = 0n;
    let hwOp: Operation | undefined;
    const seen = new Map<string, { version: number; op: Operation }>();
    for (const o of ops) {
      const p = point(o);
      if (p === undefined) continue;
      if (o.f === 'read' && o.result.mzxid !== undefined && BigInt(o.result.mzxid) > p) {
        problems.push({ check: 'session-order', process, ops: [o.op], message: `op${o.op} read data at mzxid ${hex(BigInt(o.result.mzxid))} from a reply at zxid ${hex(p)}` });
      }
      const bad = o.f === 'read' ? p < hw : p <= hw;
      if (bad && hwOp) {
        problems.push({
          check: 'session-order',
          process,
          ops: [hwOp.op, o.op],
          message: `op${o.op} (${o.f} ${o.key}) took effect at ${hex(p)}, not after op${hwOp.op} (${hwOp.f} ${hwOp.key}) issued before it at ${hex(hw)}`,
        });
      }
      if (p > hw) {
        hw = p;
        hwOp = o;
      }
      // 2. Per key: versions a session sees never go back (monotonic reads, read-your-writes).
      const v = o.result.version;
      if (v !== undefined) {
        const prev = seen.get(o.key);
        if (prev && (o.f === 'read' ? v < prev.version : v <= prev.version)) {
          problems.push({
            check: 'monotonic-reads',
            process,
            ops: [prev.op.op, o.op],
            message: `op${o.op} (${o.f} ${o.key}) saw version ${v} after op${prev.op.op} had seen version ${prev.version}`,
          });
        }
        if (!prev || v > prev.version) seen.set(o.key, { version: v, op: o });
      }
    }
  }
  // 3. zxids on the frame stream never go backward, across reconnections.
  for (const s of sessions) {
    let max = 0n;
    let maxAt = -1;
    s.frames.forEach((f, i) => {
      if (f.kind !== 'reply' && f.kind !== 'event') return;
      const z = BigInt(f.zxid);
      if (z < max) {
        const what = f.kind === 'event' ? `event ${f.type} ${f.path}` : `reply${f.op !== undefined ? ` to op${f.op}` : ''}`;
        problems.push({
          check: f.kind === 'event' ? 'watch-order' : 'monotonic-zxid',
          process: s.process,
          ...(f.kind === 'reply' && f.op !== undefined ? { ops: [f.op] } : {}),
          message: `frame ${i} (${what}) carries zxid ${hex(z)} after frame ${maxAt} carried ${hex(max)}${framesAround(s, maxAt, i)}`,
        });
      }
      if (z > max) {
        max = z;
        maxAt = i;
      }
    });
  }
  return problems;
}

function framesAround(s: SessionLog, from: number, to: number): string {
  const lines = s.frames.slice(Math.max(0, from - 1), to + 1).map((f, k) => `    [${Math.max(0, from - 1) + k}] ${JSON.stringify(f)}`);
  return '\n' + lines.join('\n');
}

/**
 * Watch checks. `keyPath` maps a key to the znode path events carry.
 */
export function checkWatches(
  events: readonly HistoryEvent[],
  watches: readonly WatchRecord[],
  sessions: readonly SessionLog[],
  keyPath: (key: string) => string = (k) => k,
): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const ops = new Map(pairOps(events).map((o) => [o.op, o]));
  const logs = new Map(sessions.map((s) => [s.process, s]));
  for (const w of watches) {
    if (w.fired > 1) problems.push({ check: 'watch-once', process: w.process, ops: [w.setBy], message: `watch#${w.id} on ${w.key} fired ${w.fired} times` });
  }
  for (const w of watches) {
    const setter = ops.get(w.setBy);
    const log = logs.get(w.process);
    if (!setter || setter.status !== 'ok' || setter.result.mzxid === undefined || !log) continue;
    const m = BigInt(setter.result.mzxid);
    const path = keyPath(w.key);
    const setAt = log.frames.findIndex((f) => f.kind === 'reply' && f.op === w.setBy);
    if (setAt < 0) continue;
    let eventAt = -1;
    for (let i = setAt + 1; i < log.frames.length; i++) {
      const f = log.frames[i]!;
      if (f.kind === 'event' && f.path === path) {
        eventAt = i;
        break;
      }
    }
    // The first later frame revealing the key at a newer mzxid than the watch was set on.
    for (let i = setAt + 1; i < log.frames.length; i++) {
      const f = log.frames[i]!;
      if (f.kind !== 'reply' || f.op === undefined) continue;
      const o = ops.get(f.op);
      if (!o || o.key !== w.key || o.status !== 'ok' || o.result.mzxid === undefined) continue;
      const mz = BigInt(o.result.mzxid);
      if (mz <= m) continue;
      if (eventAt < 0 || eventAt > i) {
        problems.push({
          check: 'watch-before-data',
          process: w.process,
          ops: [w.setBy, o.op],
          message:
            `watch#${w.id} on ${w.key} set by op${w.setBy} at mzxid ${hex(m)}: op${o.op} (${o.f}) saw mzxid ${hex(mz)} in frame ${i} ` +
            (eventAt < 0 ? 'and the event never came' : `before the event (frame ${eventAt})`) +
            framesAround(log, setAt, Math.max(i, eventAt)),
        });
      }
      break;
    }
    if (eventAt >= 0) {
      const ev = log.frames[eventAt]!;
      if (ev.kind === 'event' && BigInt(ev.zxid) <= m) {
        problems.push({
          check: 'watch-stale',
          process: w.process,
          ops: [w.setBy],
          message: `watch#${w.id} on ${w.key} set at mzxid ${hex(m)} got an event at zxid ${hex(BigInt(ev.zxid))} (not newer)`,
        });
      }
    }
  }
  return problems;
}
