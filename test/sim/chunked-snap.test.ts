import { OpCode, PeerKind, counterOf, epochOf, type SnapMsg } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { Checker } from './checker.js';
import { SimCluster, type SimOptions } from './sim-cluster.js';
import { responses, connected } from './conn-frames.js';

// SNAP travels as one message per byte-bounded snapshot chunk; the learner installs it only whole.
// And a leader whose zxid counter runs out hands over to a new epoch.

const KiB = 1024;

function start(opts: SimOptions): { sim: SimCluster; checker: Checker; leader: number; lagger: number } {
  const sim = new SimCluster(opts);
  const checker = new Checker(sim);
  sim.startAll();
  expect(sim.run(10_000, () => sim.stable())).toBe(true);
  const leader = sim.leaders()[0]!;
  return { sim, checker, leader, lagger: sim.ids.find((id) => id !== leader)! };
}

/** `n` creates of `size` bytes each through `server`, all acknowledged (reported to the checker). */
function writeBig(sim: SimCluster, checker: Checker, server: number, prefix: string, n: number, size: number): void {
  const conn = sim.openConn(server);
  expect(sim.run(5_000, () => connected(conn) !== undefined)).toBe(true);
  const sid = connected(conn)!.sessionId;
  for (let i = 1; i <= n; i++) sim.send(conn, i, { op: OpCode.create, path: `/${prefix}${i}`, data: new Uint8Array(size).fill(i), mode: 'persistent' });
  expect(sim.run(10_000, () => responses(conn).length === n)).toBe(true);
  for (const r of responses(conn)) {
    expect(r.err).toBeUndefined();
    checker.ack({ zxid: r.zxid, key: `${r.zxid.toString(16)}:${sid.toString(16)}:${r.xid}:create`, server, at: sim.now });
  }
}

/** Records the SNAP messages delivered to `to`. */
function snapsTo(sim: SimCluster, to: number): SnapMsg[] {
  const got: SnapMsg[] = [];
  sim.hooks.push({ onDeliver: (_f, t, msg) => void (t === to && msg.k === PeerKind.snap && got.push(msg)) });
  return got;
}

const converged = (sim: SimCluster) => () => sim.stable() && new Set(sim.ids.map((id) => sim.node(id)!.lastAppliedZxid())).size === 1;

describe('chunked SNAP', () => {
  it('a learner far behind gets a ~1.2 MB snapshot as several bounded chunks, in order, and installs it whole', () => {
    const { sim, checker, leader, lagger } = start({ voters: 3, seed: 41, committedLogSize: 3 });
    sim.crash(lagger);
    writeBig(sim, checker, leader, 'big', 12, 100 * KiB);
    const snaps = snapsTo(sim, lagger);
    sim.start(lagger);
    expect(sim.run(20_000, converged(sim))).toBe(true);
    // header + sessions + at least 1.2 MB of nodes in chunks of about 256 KiB
    expect(snaps.length).toBeGreaterThanOrEqual(5);
    expect(snaps.map((m) => m.index)).toEqual(snaps.map((_, i) => i));
    expect(snaps.map((m) => m.last)).toEqual(snaps.map((_, i) => i === snaps.length - 1));
    for (const m of snaps) expect(m.chunk.byteLength).toBeLessThan(256 * KiB + 101 * KiB);
    expect(sim.logs.filter((l) => new RegExp(`\\[${lagger}\\] SNAP from leader ${leader} at 0x[0-9a-f]+ \\(${snaps.length} chunk\\(s\\)\\)`).test(l))).toHaveLength(1);
    expect(sim.node(lagger)!.treeDigest()).toBe(sim.node(leader)!.treeDigest());
    checker.checkFinal();
  });

  it('a chunk out of order drops the leader and installs nothing; the next sync succeeds', () => {
    const { sim, checker, leader, lagger } = start({ voters: 3, seed: 42, committedLogSize: 3 });
    sim.crash(lagger);
    writeBig(sim, checker, leader, 'o', 6, 100 * KiB);
    let tampered = false;
    sim.hooks.push({
      onDeliver: (_f, t, msg) => {
        if (!tampered && t === lagger && msg.k === PeerKind.snap && msg.index === 1) {
          tampered = true;
          msg.index = 2;
        }
      },
    });
    sim.start(lagger);
    expect(sim.run(20_000, converged(sim))).toBe(true);
    expect(tampered).toBe(true);
    expect(sim.logs.filter((l) => new RegExp(`\\[${lagger}\\] LOOKING: leader ${leader}: SNAP chunk 2 .* out of order \\(expected 1`).test(l))).toHaveLength(1);
    // one install, from the second, whole SNAP
    expect(sim.disk(lagger).snapshots).toHaveLength(1);
    checker.checkFinal();
  });

  it('a learner refuses to assemble a SNAP above maxSnapshotBytes and stays out of the ensemble', () => {
    const { sim, checker, leader, lagger } = start({ voters: 3, seed: 43, committedLogSize: 3, zab: { maxSnapshotBytes: 300 * KiB } });
    sim.crash(lagger);
    writeBig(sim, checker, leader, 'm', 6, 100 * KiB);
    sim.start(lagger);
    sim.run(5_000);
    expect(sim.logs.some((l) => new RegExp(`\\[${lagger}\\] LOOKING: leader ${leader}: SNAP larger than maxSnapshotBytes \\(307200\\)`).test(l))).toBe(true);
    expect(sim.disk(lagger).snapshots).toEqual([]);
    expect(sim.node(lagger)!.role()).not.toBe('follower');
    // the two others serve on
    expect(sim.leaders()).toEqual([leader]);
  });
});

describe('zxid counter exhaustion', () => {
  it('a leader whose counter reaches 2^32-1 goes LOOKING and the ensemble goes on in a new epoch; no write is lost', () => {
    const { sim, checker } = start({ voters: 3, seed: 44, zab: { zxidCounterStart: 0xffff_fff0 } });
    const epochs = new Set<number>();
    let acked = 0;
    for (let round = 0; round < 40 && acked < 40; round++) {
      const leader = sim.leaders()[0];
      if (leader === undefined) {
        sim.run(1_000);
        continue;
      }
      const conn = sim.openConn(leader);
      if (!sim.run(5_000, () => connected(conn) !== undefined || conn.closed) || conn.closed) continue;
      const sid = connected(conn)!.sessionId;
      for (let i = 0; i < 10; i++) sim.send(conn, i + 1, { op: OpCode.create, path: `/c${round}-${i}`, data: null, mode: 'persistent' });
      sim.run(5_000, () => responses(conn).length === 10 || conn.closed);
      for (const r of responses(conn)) {
        if (r.err !== undefined) continue;
        acked++;
        epochs.add(epochOf(r.zxid));
        checker.ack({ zxid: r.zxid, key: `${r.zxid.toString(16)}:${sid.toString(16)}:${r.xid}:create`, server: leader, at: sim.now });
      }
      sim.run(2_000, () => sim.stable());
    }
    expect(acked).toBeGreaterThanOrEqual(40);
    // the first epoch used its last counter (a write, a session creation or an expiry)
    expect(sim.ids.some((id) => sim.disk(id).log.some((t) => counterOf(t.hdr.zxid) === 0xffff_ffff))).toBe(true);
    expect(epochs.size).toBeGreaterThanOrEqual(2);
    expect(sim.logs.some((l) => /LOOKING: zxid counter exhausted: a new epoch is needed/.test(l))).toBe(true);
    expect(sim.run(20_000, converged(sim))).toBe(true);
    checker.checkFinal();
  });
});
