// The checkers on small hand-made histories that are, and are not, linearizable
// (and that do and do not keep the session / watch guarantees): a checker that
// never says "violation" proves nothing.
import { describe, expect, it } from 'vitest';
import { Recorder, type RegisterValue, type SessionLog, type TapFrame } from './history.js';
import { checkLinearizable } from './linearizability.js';
import { checkSessions, checkWatches } from './session-checker.js';
import { Rng } from '../support/rng.js';

const init: Record<string, RegisterValue> = { x: { value: 'init', version: 0 }, y: { value: 'init', version: 0 } };

/** Tiny DSL over Recorder: invoke returns the op id; ok/fail/info complete it. */
function hist() {
  const r = new Recorder();
  return {
    r,
    write: (p: string, key: string, value: string) => r.invoke(p, 'write', key, { value }),
    cas: (p: string, key: string, expected: number, value: string) => r.invoke(p, 'cas', key, { value, expected }),
    read: (p: string, key: string) => r.invoke(p, 'read', key, { synced: true }),
    okWrite: (op: number, version: number, mzxid = 0) => r.complete(op, 'ok', { result: { version, mzxid: String(mzxid) }, replyZxid: String(mzxid) }),
    okRead: (op: number, value: string | null, version: number, zxid = 0, mzxid = zxid) =>
      r.complete(op, 'ok', { result: { value, version, mzxid: String(mzxid) }, replyZxid: String(zxid) }),
    fail: (op: number, error: string) => r.complete(op, 'fail', { error }),
    info: (op: number, error = 'ConnectionLoss') => r.complete(op, 'info', { error }),
    check: (opts = {}) => checkLinearizable(r.events, init, opts),
  };
}

describe('linearizability checker: histories that are linearizable', () => {
  it('sequential writes and reads', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.okWrite(w, 1);
    const r = h.read('b', 'x');
    h.okRead(r, '1', 1);
    const c = h.cas('b', 'x', 1, '2');
    h.okWrite(c, 2);
    const r2 = h.read('a', 'x');
    h.okRead(r2, '2', 2);
    expect(h.check().verdict).toBe('ok');
  });

  it('a read concurrent with a write may see either value', () => {
    for (const seeNew of [false, true]) {
      const h = hist();
      const w = h.write('a', 'x', '1');
      const r = h.read('b', 'x');
      h.okRead(r, seeNew ? '1' : 'init', seeNew ? 1 : 0);
      h.okWrite(w, 1);
      expect(h.check().verdict).toBe('ok');
    }
  });

  it('concurrent writes ordered by the versions they got, readers agreeing', () => {
    const h = hist();
    const a = h.write('a', 'x', 'A');
    const b = h.write('b', 'x', 'B');
    const r1 = h.read('c', 'x');
    h.okWrite(b, 1);
    h.okWrite(a, 2);
    h.okRead(r1, 'B', 1);
    const r2 = h.read('d', 'x');
    h.okRead(r2, 'A', 2);
    expect(h.check().verdict).toBe('ok');
  });

  it('an info write may have taken effect ...', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.info(w);
    const r = h.read('b', 'x');
    h.okRead(r, '1', 1);
    expect(h.check().verdict).toBe('ok');
  });

  it('... or not, and it may take effect long after its client gave up', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.info(w, 'OperationTimeout');
    const r = h.read('b', 'x');
    h.okRead(r, 'init', 0);
    const r2 = h.read('b', 'x');
    h.okRead(r2, '1', 1);
    expect(h.check().verdict).toBe('ok');
  });

  it('a failed cas (BadVersion) on a version that had moved on', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.okWrite(w, 1);
    const c = h.cas('b', 'x', 0, '2');
    h.fail(c, 'BadVersion');
    const r = h.read('b', 'x');
    h.okRead(r, '1', 1);
    expect(h.check().verdict).toBe('ok');
  });

  it('an info cas whose version was stale simply did nothing', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.okWrite(w, 1);
    const c = h.cas('b', 'x', 0, '2');
    h.info(c);
    const r = h.read('a', 'x');
    h.okRead(r, '1', 1);
    expect(h.check().verdict).toBe('ok');
  });

  it('a generated history of a real register with 6 concurrent processes and 1500 operations', () => {
    const rng = new Rng(7);
    const h = hist();
    const state = { value: 'init' as string | null, version: 0 };
    const pending: { op: number; apply: () => () => void }[] = [];
    let n = 0;
    // Each process has at most one op open; an op takes effect at a random moment between invoke and completion.
    const open = new Map<string, { op: number; done: boolean; complete: () => void }>();
    for (let step = 0; step < 6000 && n < 1500; step++) {
      const p = `p${rng.int(0, 5)}`;
      const cur = open.get(p);
      if (!cur) {
        const k = rng.next();
        n++;
        if (k < 0.4) {
          const op = h.read(p, 'x');
          let seen: { value: string | null; version: number } | undefined;
          pending.push({ op, apply: () => ((seen = { ...state }), () => h.okRead(op, seen!.value, seen!.version)) });
        } else if (k < 0.7) {
          const v = `w${n}`;
          const op = h.write(p, 'x', v);
          pending.push({ op, apply: () => ((state.value = v), state.version++, (() => { const ver = state.version; return () => h.okWrite(op, ver); })()) });
        } else {
          const v = `c${n}`;
          const expected = rng.chance(0.5) ? state.version : Math.max(0, state.version - 1);
          const op = h.cas(p, 'x', expected, v);
          pending.push({
            op,
            apply: () => {
              if (state.version !== expected) return () => h.fail(op, 'BadVersion');
              state.value = v;
              state.version++;
              const ver = state.version;
              return rng.chance(0.05) ? () => h.info(op) : () => h.okWrite(op, ver);
            },
          });
        }
        const entry = pending[pending.length - 1]!;
        const rec = { op: entry.op, done: false, complete: () => {} };
        open.set(p, rec);
      } else if (!cur.done) {
        const idx = pending.findIndex((q) => q.op === cur.op);
        cur.complete = pending[idx]!.apply();
        pending.splice(idx, 1);
        cur.done = true;
      } else {
        cur.complete();
        open.delete(p);
      }
    }
    const res = h.check();
    expect(res.keys[0]!.ops).toBeGreaterThan(1000);
    expect(res.verdict).toBe('ok');
  });
});

describe('linearizability checker: histories that are NOT linearizable', () => {
  it('a stale read after a completed write', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.okWrite(w, 1);
    const r = h.read('b', 'x');
    h.okRead(r, 'init', 0);
    const res = h.check();
    expect(res.verdict).toBe('violation');
    expect(res.keys[0]!.stuckAt?.op).toBeDefined();
  });

  it('an acknowledged write lost: a later read shows the value before it', () => {
    const h = hist();
    const w1 = h.write('a', 'x', '1');
    h.okWrite(w1, 1);
    const w2 = h.write('a', 'x', '2');
    h.okWrite(w2, 2);
    const r = h.read('b', 'x');
    h.okRead(r, '1', 1);
    expect(h.check().verdict).toBe('violation');
  });

  it('two writes read in both orders by different readers', () => {
    const h = hist();
    const a = h.write('a', 'x', 'A');
    const b = h.write('b', 'x', 'B');
    const r1 = h.read('c', 'x');
    h.okRead(r1, 'A', 1);
    const r2 = h.read('d', 'x');
    h.okRead(r2, 'B', 1);
    const r3 = h.read('c', 'x');
    h.okRead(r3, 'B', 2);
    const r4 = h.read('d', 'x');
    h.okRead(r4, 'A', 2);
    h.info(a);
    h.info(b);
    expect(h.check().verdict).toBe('violation');
  });

  it('a cas that succeeds on a stale version', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.okWrite(w, 1);
    const c = h.cas('b', 'x', 0, '2');
    h.okWrite(c, 1);
    expect(h.check().verdict).toBe('violation');
  });

  it('a cas that fails with BadVersion although the version matched', () => {
    const h = hist();
    const c = h.cas('b', 'x', 0, '2');
    h.fail(c, 'BadVersion');
    expect(h.check().verdict).toBe('violation');
  });

  it('two acknowledged writes that got the same version (a forked history)', () => {
    const h = hist();
    const a = h.write('a', 'x', 'A');
    const b = h.write('b', 'x', 'B');
    h.okWrite(a, 1);
    h.okWrite(b, 1);
    expect(h.check().verdict).toBe('violation');
  });

  it('an info write seen, then unseen', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.info(w);
    const r = h.read('b', 'x');
    h.okRead(r, '1', 1);
    const r2 = h.read('b', 'x');
    h.okRead(r2, 'init', 0);
    expect(h.check().verdict).toBe('violation');
  });

  it('an info write seen before it was invoked', () => {
    const h = hist();
    const r = h.read('b', 'x');
    h.okRead(r, '1', 1);
    const w = h.write('a', 'x', '1');
    h.info(w);
    expect(h.check().verdict).toBe('violation');
  });

  it('keys are checked independently: only the broken key is blamed', () => {
    const h = hist();
    const wx = h.write('a', 'x', '1');
    h.okWrite(wx, 1);
    const wy = h.write('a', 'y', '1');
    h.okWrite(wy, 1);
    const ry = h.read('b', 'y');
    h.okRead(ry, 'init', 0);
    const rx = h.read('b', 'x');
    h.okRead(rx, '1', 1);
    const res = h.check();
    expect(res.verdict).toBe('violation');
    expect(res.keys.map((k) => [k.key, k.verdict])).toEqual([
      ['x', 'ok'],
      ['y', 'violation'],
    ]);
  });

  it('reads without sync are not held to linearizability (only the session checks see them)', () => {
    const h = hist();
    const w = h.write('a', 'x', '1');
    h.okWrite(w, 1);
    const r = h.r.invoke('b', 'read', 'x', {});
    h.okRead(r, 'init', 0);
    expect(h.check().verdict).toBe('ok');
  });
});

describe('linearizability checker: bounds give unknown, never ok', () => {
  const many = () => {
    const h = hist();
    // Lots of concurrent info writes and reads that fit no order until the last read.
    const ws = Array.from({ length: 14 }, (_, i) => h.write(`p${i}`, 'x', `v${i}`));
    for (const w of ws) h.info(w);
    const r = h.read('q', 'x');
    h.okRead(r, 'nope', 99);
    return h;
  };
  it('too many operations on a key', () => {
    const res = many().check({ maxOpsPerKey: 5 });
    expect(res.verdict).toBe('unknown');
    expect(res.keys[0]!.reason).toMatch(/bound/);
  });
  it('too many search steps', () => {
    const res = many().check({ maxSteps: 100 });
    expect(res.verdict).toBe('unknown');
    expect(res.keys[0]!.reason).toMatch(/steps/);
  });
  it('within the bounds the same history is a violation', () => {
    expect(many().check().verdict).toBe('violation');
  });
});

describe('session checker', () => {
  const session = (process: string, frames: TapFrame[]): SessionLog => ({ process, frames });

  it('accepts a session whose ops take effect in issue order', () => {
    const h = hist();
    const w = h.write('s', 'x', '1');
    h.okWrite(w, 1, 10);
    const r = h.r.invoke('s', 'read', 'y', {});
    h.okRead(r, 'init', 0, 12, 3);
    const w2 = h.write('s', 'y', '2');
    h.okWrite(w2, 1, 13);
    const frames: TapFrame[] = [
      { kind: 'reply', zxid: '10', opCode: 5, op: w },
      { kind: 'reply', zxid: '12', opCode: 4, op: r },
      { kind: 'reply', zxid: '13', opCode: 5, op: w2 },
    ];
    expect(checkSessions(h.r.events, [session('s', frames)])).toEqual([]);
  });

  it('a read served older than a write the session made before it', () => {
    const h = hist();
    const w = h.write('s', 'x', '1');
    h.okWrite(w, 1, 10);
    const r = h.r.invoke('s', 'read', 'y', {});
    h.okRead(r, 'init', 0, 8, 3);
    const p = checkSessions(h.r.events, []);
    expect(p.map((x) => x.check)).toEqual(['session-order']);
  });

  it('a write that took effect before a write the session issued earlier (pipelined)', () => {
    const h = hist();
    const a = h.write('s', 'x', '1');
    const b = h.write('s', 'y', '1');
    h.okWrite(b, 1, 10);
    h.okWrite(a, 1, 11);
    expect(checkSessions(h.r.events, []).map((x) => x.check)).toEqual(['session-order']);
  });

  it('a version read that goes back (monotonic reads / read-your-writes)', () => {
    const h = hist();
    const w = h.write('s', 'x', '1');
    h.okWrite(w, 1, 10);
    const r = h.r.invoke('s', 'read', 'x', {});
    h.okRead(r, 'init', 0, 11, 2);
    expect(checkSessions(h.r.events, []).map((x) => x.check)).toEqual(['monotonic-reads']);
  });

  it('zxids going backward on the frame stream, e.g. after a failover to a stale server', () => {
    const frames: TapFrame[] = [
      { kind: 'reply', zxid: '20', opCode: 4 },
      { kind: 'suspended', reason: 'gone' },
      { kind: 'reconnected', server: 'b', lastZxidSeen: '20' },
      { kind: 'reply', zxid: '15', opCode: 4 },
    ];
    expect(checkSessions([], [session('s', frames)]).map((x) => x.check)).toEqual(['monotonic-zxid']);
  });
});

describe('watch checker', () => {
  /** Session s: read x with a watch at mzxid 5 (reply at 6); then `rest` frames; op ids from the history. */
  const setup = () => {
    const h = hist();
    const r = h.r.invoke('s', 'read', 'x', { watchId: 1 });
    h.okRead(r, 'a', 1, 6, 5);
    const w = h.r.newWatch('s', 'x', r);
    return { h, r, w, frames: [{ kind: 'reply', zxid: '6', opCode: 4, op: r }] as TapFrame[] };
  };

  it('accepts an event that comes before the newer data', () => {
    const { h, frames, w } = setup();
    const r2 = h.r.invoke('s', 'read', 'x', {});
    h.okRead(r2, 'b', 2, 9, 7);
    w.fired = 1;
    frames.push({ kind: 'event', zxid: '7', type: 'NodeDataChanged', path: 'x' }, { kind: 'reply', zxid: '9', opCode: 4, op: r2 });
    expect(checkWatches(h.r.events, h.r.watches, [{ process: 's', frames }])).toEqual([]);
  });

  it('newer data read before the event', () => {
    const { h, frames, w } = setup();
    const r2 = h.r.invoke('s', 'read', 'x', {});
    h.okRead(r2, 'b', 2, 9, 7);
    w.fired = 1;
    frames.push({ kind: 'reply', zxid: '9', opCode: 4, op: r2 }, { kind: 'event', zxid: '7', type: 'NodeDataChanged', path: 'x' });
    const p = checkWatches(h.r.events, h.r.watches, [{ process: 's', frames }]);
    expect(p.map((x) => x.check)).toEqual(['watch-before-data']);
  });

  it("the session's own write answered before its watch fired", () => {
    const { h, frames } = setup();
    const w2 = h.write('s', 'x', 'b');
    h.okWrite(w2, 2, 7);
    frames.push({ kind: 'reply', zxid: '7', opCode: 5, op: w2 });
    const p = checkWatches(h.r.events, h.r.watches, [{ process: 's', frames }]);
    expect(p.map((x) => x.check)).toEqual(['watch-before-data']);
  });

  it('a one-shot watch that fired twice', () => {
    const { h, w } = setup();
    w.fired = 2;
    expect(checkWatches(h.r.events, h.r.watches, []).map((x) => x.check)).toEqual(['watch-once']);
  });

  it('events out of zxid order', () => {
    const frames: TapFrame[] = [
      { kind: 'event', zxid: '9', type: 'NodeDataChanged', path: 'x' },
      { kind: 'event', zxid: '8', type: 'NodeDataChanged', path: 'y' },
    ];
    expect(checkSessions([], [{ process: 's', frames }]).map((x) => x.check)).toEqual(['watch-order']);
  });

  it('an event for a change the watch had already seen', () => {
    const { h, frames } = setup();
    frames.push({ kind: 'event', zxid: '4', type: 'NodeDataChanged', path: 'x' });
    expect(checkWatches(h.r.events, h.r.watches, [{ process: 's', frames }]).map((x) => x.check)).toEqual(['watch-stale']);
  });
});
