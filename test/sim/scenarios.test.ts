import { OpCode, PeerKind, epochOf, type Zxid } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { Checker } from './checker.js';
import { healAll } from './faults.js';
import { SimCluster, type SimConn, type SimOptions } from './sim-cluster.js';
import { enc, responses, connected } from './conn-frames.js';

/**
 * Scripted recovery scenarios named after classic ZooKeeper bugs. Each drives
 * the simulator step by step (no randomness decides the plot; the seed only
 * jitters delays) with the checkers on, then heals, waits for convergence and
 * runs the final checks (equal digests, acknowledged writes everywhere).
 */

interface World {
  sim: SimCluster;
  checker: Checker;
}

/** Runs a scenario; a failure names the seed and carries the last log lines. */
function scenario(opts: SimOptions, body: (w: World) => void): World {
  const sim = new SimCluster(opts);
  const checker = new Checker(sim);
  try {
    sim.startAll();
    if (!sim.run(10_000, () => sim.stable())) throw new Error('no stable leader at start');
    body({ sim, checker });
    return { sim, checker };
  } catch (e) {
    const tail = sim.logs.slice(-40).join('\n');
    throw new Error(`scenario failed (seed ${opts.seed}): ${(e as Error).message}\n--- last log lines ---\n${tail}`, { cause: e });
  }
}

/** A client session on `server` (waits for Connected). */
function session(sim: SimCluster, server: number, sessionId = 0n, passwd: Uint8Array = new Uint8Array(), lastZxid: Zxid = 0n): SimConn {
  const conn = sim.openConn(server, sessionId, passwd, lastZxid);
  if (!sim.run(5_000, () => connected(conn) !== undefined || conn.closed)) throw new Error(`no session on ${server}`);
  if (!connected(conn)) throw new Error(`server ${server} refused the session: ${JSON.stringify(conn.frames[0])}`);
  return conn;
}

let nextXid = 1;
/** Sends creates (unique values); returns their xids. Does not wait. */
function sendCreates(sim: SimCluster, conn: SimConn, prefix: string, n: number, mode: 'persistent' | 'ephemeral' = 'persistent'): number[] {
  const xids: number[] = [];
  for (let i = 0; i < n; i++) {
    const xid = nextXid++;
    xids.push(xid);
    sim.send(conn, xid, { op: OpCode.create, path: `/${prefix}${i}`, data: enc(`${prefix}${i}@${xid}`), mode });
  }
  return xids;
}

/** Waits for the replies to `xids`, reports the successful ones to the checker, returns how many succeeded. */
function collect(w: World, conn: SimConn, xids: number[], withinMs = 5_000): number {
  const want = new Set(xids);
  w.sim.run(withinMs, () => responses(conn).filter((r) => want.has(r.xid)).length === xids.length || conn.closed);
  let ok = 0;
  const sid = connected(conn)!.sessionId;
  for (const r of responses(conn)) {
    if (!want.has(r.xid) || r.err !== undefined) continue;
    ok++;
    w.checker.ack({ zxid: r.zxid, key: `${r.zxid.toString(16)}:${sid.toString(16)}:${r.xid}:create`, server: conn.server, at: w.sim.now });
  }
  return ok;
}

function writeAcked(w: World, server: number, prefix: string, n: number): void {
  const conn = session(w.sim, server);
  const ok = collect(w, conn, sendCreates(w.sim, conn, prefix, n));
  if (ok !== n) throw new Error(`only ${ok} of ${n} writes through ${server} succeeded`);
}

/** Heals every fault, waits until all servers follow one leader at one zxid, then runs the final checks. */
function settle(w: World): void {
  const { sim } = w;
  healAll(sim);
  sim.slowDisks.clear();
  const ok = sim.run(60_000, () => {
    if (!sim.stable()) return false;
    const z = sim.node(sim.ids[0]!)!.lastAppliedZxid();
    return sim.ids.every((id) => sim.node(id)!.lastAppliedZxid() === z);
  });
  if (!ok) throw new Error('did not converge after healing');
  w.checker.checkFinal();
}

/** Restarts the leader so the running servers move to a new epoch; returns that epoch. */
function newEpoch(w: World): number {
  const { sim } = w;
  const old = sim.node(sim.leaders()[0]!)!.status().epoch;
  sim.restart(sim.leaders()[0]!);
  if (!sim.run(10_000, () => sim.leaders().length === 1 && sim.node(sim.leaders()[0]!)!.status().epoch > old)) throw new Error('no new epoch');
  return sim.node(sim.leaders()[0]!)!.status().epoch;
}

const logged = (sim: SimCluster, re: RegExp) => sim.logs.filter((l) => re.test(l));
const hasPath = (sim: SimCluster, id: number, path: string) => sim.node(id)!.replica.tree.get(path) !== undefined;
const roles = (sim: SimCluster) => {
  const leader = sim.leaders()[0]!;
  const followers = sim.ids.filter((id) => id !== leader);
  return { leader, followers };
};

/**
 * Leaves `b` with a proposal logged that no quorum has: the leader's own
 * fsync is slow, `b`'s ack is slow, the third voter is cut off; then both
 * crash (the leader's copy never reached its disk). Returns the proposal's path.
 */
function strandProposalOn(w: World, leader: number, b: number, a: number): string {
  const { sim } = w;
  const conn = session(sim, leader);
  sim.setPartition([[leader, b], [a]]);
  sim.slowDisks.set(leader, 10_000);
  sim.slowLinks.set(`${b}>${leader}`, 10_000);
  sendCreates(sim, conn, 'stranded', 1);
  if (!sim.run(2_000, () => sim.disk(b).lastZxid() > sim.disk(leader).lastZxid())) throw new Error(`${b} never logged the proposal`);
  expect(responses(conn)).toHaveLength(0);
  sim.crash(leader);
  sim.crash(b);
  sim.setPartition(null);
  sim.slowDisks.clear();
  sim.slowLinks.clear();
  return '/stranded0';
}

describe('recovery scenarios (classic ZooKeeper bugs)', () => {
  it('highest-zxid server joins late: its uncommitted proposal is TRUNCated, committed txns survive', () => {
    const w = scenario({ voters: 3, seed: 11 }, (w) => {
      const { sim } = w;
      const { leader, followers } = roles(sim);
      const [a, b] = followers as [number, number];
      writeAcked(w, leader, 'before', 5);
      const stranded = strandProposalOn(w, leader, b, a);
      const bZxid = sim.disk(b).lastZxid();
      // The old leader and `a` form the new quorum without `b`, and take writes.
      sim.start(leader);
      expect(sim.run(10_000, () => sim.leaders().length === 1 && sim.ids.filter((id) => sim.node(id)?.leaderId() != null).length === 2)).toBe(true);
      writeAcked(w, sim.leaders()[0]!, 'after', 3);
      expect(sim.node(sim.leaders()[0]!)!.lastAppliedZxid()).toBeGreaterThan(bZxid);
      // Now `b`, whose epoch-1 proposal is above anything epoch 1 committed, comes back.
      sim.start(b);
      settle(w);
      expect(logged(sim, new RegExp(`\\[${b}\\] TRUNC from leader`))).not.toHaveLength(0);
      for (const id of sim.ids) {
        expect(hasPath(sim, id, stranded)).toBe(false);
        expect(hasPath(sim, id, '/before4')).toBe(true);
        expect(hasPath(sim, id, '/after2')).toBe(true);
      }
      expect(w.checker.truncated.size).toBeGreaterThan(0);
    });
    expect(w.checker.acked).toHaveLength(8);
  });

  it('highest-zxid server joins during the election: it wins and its logged proposal is committed', () => {
    scenario({ voters: 3, seed: 12 }, (w) => {
      const { sim } = w;
      const { leader, followers } = roles(sim);
      const [a, b] = followers as [number, number];
      writeAcked(w, leader, 'before', 5);
      const stranded = strandProposalOn(w, leader, b, a);
      // `a` is still up and LOOKING alone; `b` (highest zxid) and the old leader come back together.
      sim.start(b);
      sim.start(leader);
      expect(sim.run(10_000, () => sim.stable())).toBe(true);
      expect(sim.leaders()).toEqual([b]);
      settle(w);
      for (const id of sim.ids) expect(hasPath(sim, id, stranded)).toBe(true);
    });
  });

  it('leader crashes between SNAP and NEWLEADER: the learner keeps the snapshot, a new leader syncs everyone', () => {
    scenario({ voters: 3, seed: 21, committedLogSize: 2 }, (w) => {
      const { sim } = w;
      const { leader, followers } = roles(sim);
      const [lagger, other] = followers as [number, number];
      sim.crash(lagger);
      writeAcked(w, leader, 'n', 10);
      let snapSeen = false;
      let newLeaderSeen = false;
      sim.hooks.push({
        onDelivered: (from, to, msg) => {
          if (to !== lagger) return;
          if (msg.k === PeerKind.newLeader && from === leader) newLeaderSeen = true;
          if (msg.k === PeerKind.snap && msg.last && from === leader && !snapSeen) {
            snapSeen = true;
            sim.crash(leader);
          }
        },
      });
      sim.start(lagger);
      expect(sim.run(10_000, () => snapSeen)).toBe(true);
      expect(newLeaderSeen).toBe(false);
      expect(logged(sim, new RegExp(`\\[${lagger}\\] SNAP from leader ${leader}`))).toHaveLength(1);
      // The learner's snapshot is at most on its disk; it never became part of epoch 1's NEWLEADER.
      expect(sim.disk(lagger).currentEpoch).toBeLessThan(epochOf(sim.node(other)!.lastAppliedZxid()) + 1);
      expect(sim.run(10_000, () => sim.leaders().length === 1 && sim.stable())).toBe(true);
      writeAcked(w, sim.leaders()[0]!, 'm', 3);
      settle(w);
      for (const id of sim.ids) expect(hasPath(sim, id, '/n9')).toBe(true);
    });
  });

  it('a follower crashing mid-sync never has currentEpoch durable before the synced txns (torn disk, every cut)', () => {
    // Crash the follower right after NEWLEADER arrives, while the DIFF txns and currentEpoch are in
    // flight; the torn disk keeps a random prefix. Across seeds every prefix length shows up.
    const kept = new Set<string>();
    let durableEpoch = 0;
    for (let seed = 100; seed < 160; seed++) {
      scenario({ voters: 3, seed, tornDisk: true, maxFsyncMs: 30 }, (w) => {
        const { sim } = w;
        const { leader, followers } = roles(sim);
        const [f] = followers as [number, number];
        sim.crash(f);
        writeAcked(w, leader, 'd', 4);
        // A new epoch without f, so f's sync must move its currentEpoch forward.
        const epoch = newEpoch(w);
        const syncedTo = sim.node(sim.leaders()[0]!)!.lastAppliedZxid();
        expect(sim.disk(f).currentEpoch).toBeLessThan(epoch);
        sim.slowDisks.set(f, 50);
        let crashed = false;
        sim.hooks.push({
          onDelivered: (_from, to, msg) => {
            if (to !== f || msg.k !== PeerKind.newLeader || crashed) return;
            crashed = true;
            // Let the NEWLEADER's own Ready be issued first, then crash.
            sim.schedule(sim.now, () => sim.crash(f));
          },
          onCrash: (id, k, lost) => {
            if (id === f && crashed) kept.add(`${k}/${k + lost}`);
          },
        });
        sim.start(f);
        expect(sim.run(10_000, () => crashed && !sim.running(f))).toBe(true);
        const disk = sim.disk(f);
        if (disk.currentEpoch === epoch) {
          durableEpoch++;
          expect(disk.lastZxid()).toBeGreaterThanOrEqual(syncedTo);
        }
        settle(w);
      });
    }
    // Both outcomes happened: crashes that kept nothing and crashes that kept everything in flight.
    const cuts = [...kept];
    expect(cuts.some((c) => c.startsWith('0/'))).toBe(true);
    expect(cuts.some((c) => c.split('/')[0] === c.split('/')[1] && !c.startsWith('0/'))).toBe(true);
    // ...and in some of them the new currentEpoch did reach the disk (so the ordering was tested).
    expect(durableEpoch).toBeGreaterThan(0);
  });

  it('a follower never acks NEWLEADER before its fsync, even on a slow disk', () => {
    scenario({ voters: 3, seed: 31 }, (w) => {
      const { sim, checker } = w;
      const { leader: first, followers } = roles(sim);
      const [f] = followers as [number, number];
      sim.crash(f);
      writeAcked(w, first, 'x', 5);
      const epoch = newEpoch(w);
      const leader = sim.leaders()[0]!;
      expect(sim.disk(f).currentEpoch).toBeLessThan(epoch);
      sim.slowDisks.set(f, 300);
      let ackAt = -1;
      let durableAt = -1;
      sim.hooks.push({
        onDiskOp: (id, op) => {
          if (id === f && op.kind === 'currentEpoch' && durableAt < 0) durableAt = sim.now;
        },
        onDeliver: (from, to, msg) => {
          if (from !== f || to !== leader || msg.k !== PeerKind.ack) return;
          if (epochOf(msg.zxid) > 0 && msg.zxid === BigInt(epochOf(msg.zxid)) << 32n && ackAt < 0) {
            ackAt = sim.now;
            // The harness-level rule: nothing the follower issued is still waiting for its disk.
            expect(sim.disk(f).currentEpoch).toBe(epochOf(msg.zxid));
          }
        },
      });
      const before = checker.stats.newLeaderAcks;
      sim.start(f);
      expect(sim.run(10_000, () => ackAt >= 0)).toBe(true);
      expect(durableAt).toBeGreaterThan(0);
      expect(ackAt).toBeGreaterThanOrEqual(durableAt);
      // The ack left as soon as (not before) the slow fsync finished.
      expect(ackAt - durableAt).toBeLessThan(100);
      expect(sim.disk(f).currentEpoch).toBe(epoch);
      expect(checker.stats.newLeaderAcks).toBeGreaterThan(before);
      settle(w);
    });
  });

  it('stale follower becomes leader with a hole in its window: older learners get SNAP, equal ones an empty DIFF', () => {
    scenario({ voters: 5, seed: 41, committedLogSize: 3 }, (w) => {
      const { sim } = w;
      const { leader, followers } = roles(sim);
      // F: the follower that will win next (highest sid among equals); G: stays behind.
      const f = Math.max(...followers);
      const g = followers.find((id) => id !== f)!;
      sim.crash(g);
      writeAcked(w, leader, 'early', 3);
      sim.crash(f);
      writeAcked(w, leader, 'mid', 10);
      sim.start(f);
      expect(sim.run(10_000, () => sim.node(f)!.leaderId() === leader)).toBe(true);
      expect(logged(sim, new RegExp(`\\[${f}\\] SNAP from leader ${leader}`))).toHaveLength(1);
      // F's window starts at the snapshot: everything before it is a hole for DIFF purposes.
      writeAcked(w, leader, 'late', 2);
      sim.run(500);
      sim.crash(leader);
      expect(sim.run(10_000, () => sim.leaders().length === 1)).toBe(true);
      expect(sim.leaders()).toEqual([f]);
      sim.start(g);
      settle(w);
      expect(logged(sim, new RegExp(`\\[${f}\\] sync ${g}: SNAP`))).toHaveLength(1);
      expect(logged(sim, new RegExp(`\\[${g}\\] SNAP from leader ${f}`))).toHaveLength(1);
      for (const id of sim.ids) expect(hasPath(sim, id, '/early0')).toBe(true);
    });
  });

  it("ephemeral whose owner's server dies mid-proposal: the session moves, the node is consistent, then cleaned everywhere", () => {
    scenario({ voters: 3, seed: 51 }, (w) => {
      const { sim } = w;
      const { leader, followers } = roles(sim);
      const [f] = followers as [number, number];
      const conn = session(sim, f);
      const hello = connected(conn)!;
      // The create goes to the leader; the owner's server dies before the COMMIT can come back.
      let forwarded = false;
      sim.hooks.push({
        onDelivered: (from, to, msg) => {
          if (from === f && to === leader && msg.k === PeerKind.request && !forwarded) {
            forwarded = true;
            sim.crash(f);
          }
        },
      });
      sendCreates(sim, conn, 'eph', 1, 'ephemeral');
      expect(sim.run(2_000, () => forwarded)).toBe(true);
      expect(conn.closed).toBe(true);
      // The client moves its session to another live server.
      const other = sim.ids.find((id) => id !== f && sim.running(id))!;
      const moved = session(sim, other, hello.sessionId, hello.passwd, hello.zxid);
      expect(connected(moved)!.sessionId).toBe(hello.sessionId);
      sim.start(f);
      sim.run(1_000);
      const present = sim.ids.map((id) => hasPath(sim, id, '/eph0'));
      expect(new Set(present).size).toBe(1);
      expect(present[0]).toBe(true);
      // Keep the session alive for a while: the node survives the move.
      for (let i = 0; i < 5; i++) {
        sim.send(moved, nextXid++, { op: OpCode.ping });
        sim.run(500);
      }
      expect(sim.ids.every((id) => hasPath(sim, id, '/eph0'))).toBe(true);
      // Then the client goes silent: the session expires and the ephemeral goes everywhere.
      sim.closeConn(moved);
      sim.run(5_000);
      settle(w);
      expect(sim.ids.some((id) => hasPath(sim, id, '/eph0'))).toBe(false);
    });
  });

  it("a learner TRUNCated while a proposal is outstanding: its old ack no longer counts toward the quorum", () => {
    // Five voters. A logs and acks proposal P at once; the others' disks are slow. A's link to the
    // leader breaks, A comes back, and is TRUNCated below P (P is not committed yet); its re-append
    // of P is slow. When the slow acks arrive, P must not be committed on the strength of A's
    // pre-TRUNC ack: at that point only the leader and one other hold P. Crash those two and
    // every in-flight disk write: the three survivors must still have every acknowledged write.
    scenario({ voters: 5, seed: 71 }, (w) => {
      const { sim } = w;
      const { leader, followers } = roles(sim);
      const [a, c, ...rest] = followers as [number, number, number, number];
      const conn = session(sim, leader);
      sim.slowDisks.set(c, 1_500);
      for (const id of rest) sim.slowDisks.set(id, 6_000);
      const [xid] = sendCreates(sim, conn, 'p', 1);
      expect(sim.run(500, () => sim.disk(a).lastZxid() > sim.disk(c).lastZxid())).toBe(true);
      const p = sim.disk(a).lastZxid();
      sim.run(30);
      let truncated = false;
      sim.hooks.push({
        onDelivered: (_from, to, msg) => {
          if (to === a && msg.k === PeerKind.trunc && !truncated) {
            truncated = true;
            // A's disk turns slow right after the TRUNC: its re-append of P comes late.
            sim.schedule(sim.now, () => sim.slowDisks.set(a, 3_000));
          }
        },
      });
      sim.cutLink(leader, a);
      expect(sim.run(1_400, () => truncated && sim.disk(a).lastZxid() < p)).toBe(true);
      // C's slow ack arrives: the leader has acks from itself and C, plus A's from before the TRUNC.
      expect(sim.run(1_500, () => sim.disk(c).lastZxid() >= p)).toBe(true);
      sim.run(100);
      collect(w, conn, [xid!], 0);
      const copies = sim.ids.filter((id) => sim.disk(id).lastZxid() >= p);
      expect(copies.sort()).toEqual([leader, c].sort());
      // Two durable copies of five is no quorum: P must not be committed (nor acknowledged) yet.
      expect(w.checker.acked, `P acked with durable copies only on ${copies.join(',')}`).toHaveLength(0);
      expect(sim.node(leader)!.lastAppliedZxid()).toBeLessThan(p);
      // The two durable holders besides A die; so does every write still in flight.
      const doomed = copies.filter((id) => id !== a).slice(0, 2);
      sim.slowDisks.clear();
      for (const id of sim.ids) sim.crash(id);
      for (const id of sim.ids) if (!doomed.includes(id)) sim.start(id);
      expect(sim.run(10_000, () => sim.leaders().length === 1)).toBe(true);
      for (const id of doomed) sim.start(id);
      settle(w);
    });
  });

  it('DIFF, TRUNC and SNAP each run and leave identical replicas', () => {
    scenario({ voters: 3, seed: 61, committedLogSize: 4 }, (w) => {
      const { sim } = w;
      let { leader, followers } = roles(sim);
      // DIFF: a follower misses a few txns (inside the window).
      sim.crash(followers[0]!);
      writeAcked(w, leader, 'diff', 2);
      sim.start(followers[0]!);
      expect(sim.run(5_000, () => sim.stable())).toBe(true);
      expect(logged(sim, /sync \d+: DIFF of \d+ txn/)).toHaveLength(1);
      // SNAP: a follower misses more than the window holds.
      sim.crash(followers[1]!);
      writeAcked(w, leader, 'snap', 8);
      sim.start(followers[1]!);
      expect(sim.run(5_000, () => sim.stable())).toBe(true);
      expect(logged(sim, /SNAP from leader/)).toHaveLength(1);
      // TRUNC: a follower holds a proposal nobody else logged, then comes back to a new leader.
      ({ leader, followers } = roles(sim));
      const [a, b] = followers as [number, number];
      strandProposalOn(w, leader, b, a);
      sim.start(leader);
      expect(sim.run(10_000, () => sim.leaders().length === 1)).toBe(true);
      writeAcked(w, sim.leaders()[0]!, 'trunc', 2);
      sim.start(b);
      settle(w);
      expect(logged(sim, /TRUNC from leader/)).not.toHaveLength(0);
      expect(w.checker.stats.truncatedTxns).toBeGreaterThan(0);
    });
  });
});
