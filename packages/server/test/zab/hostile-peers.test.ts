import { MAX_EPOCH, OpCode, PeerKind, type PeerMessage, type ResponseFrame } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../../../test/sim/sim-cluster.js';
import { encodeTxn } from '../../src/core/txn-codec.js';
import type { Txn, TxnBody } from '../../src/core/txn.js';
import { responses, connected } from '../../../../test/sim/conn-frames.js';

// What a learner does with a leader that sends what no correct leader sends (and a leader with such a
// learner), on the pure core in the simulator: nothing bad is logged, persisted or applied, and the
// ensemble recovers once the fault is gone.

function stableCluster(seed: number, opts: Partial<ConstructorParameters<typeof SimCluster>[0]> = {}): { sim: SimCluster; leader: number; followers: number[] } {
  const sim = new SimCluster({ voters: 3, seed, ...opts });
  sim.startAll();
  expect(sim.run(10_000, () => sim.stable())).toBe(true);
  const leader = sim.leaders()[0]!;
  return { sim, leader, followers: sim.ids.filter((id) => id !== leader) };
}

/** Fails the test if any server ever persists an epoch above 2^32-1. */
function watchEpochs(sim: SimCluster): number[] {
  const bad: number[] = [];
  sim.hooks.push({
    onDiskOp: (_id, op) => {
      if ((op.kind === 'acceptedEpoch' || op.kind === 'currentEpoch') && !(op.epoch <= MAX_EPOCH)) bad.push(op.epoch);
    },
  });
  return bad;
}

/** Changes the first message of `kind` from `from` to `to` (as a faulty sender would have sent it). */
function tamperOnce(sim: SimCluster, from: number, to: number, kind: number, change: (msg: PeerMessage) => void): () => boolean {
  let done = false;
  sim.hooks.push({
    onDeliver: (f, t, msg) => {
      if (done || f !== from || t !== to || msg.k !== kind) return;
      done = true;
      change(msg);
    },
  });
  return () => done;
}

const logged = (sim: SimCluster, re: RegExp) => sim.logs.filter((l) => re.test(l));

function writeOne(sim: SimCluster, server: number, path: string, data: Uint8Array | null = null): ResponseFrame {
  const conn = sim.openConn(server);
  expect(sim.run(5_000, () => connected(conn) !== undefined)).toBe(true);
  sim.send(conn, 1, { op: OpCode.create, path, data, mode: 'persistent' });
  expect(sim.run(5_000, () => responses(conn).length === 1)).toBe(true);
  return responses(conn)[0]!;
}

const badTxn = (zxid: bigint, body: TxnBody, hdr: Partial<Txn['hdr']> = {}): Uint8Array =>
  encodeTxn({ hdr: { sessionId: 0n, cxid: 0, zxid, time: 1, ...hdr }, body });

describe('a learner and a faulty leader', () => {
  const cases: Array<[string, (zxid: bigint) => Uint8Array, RegExp]> = [
    ['bytes that are not msgpack', () => Uint8Array.of(0xc1, 0xc1), /sent an undecodable txn/],
    ['a map that is not a txn', () => encodeTxn({ nope: 1 } as never), /sent an undecodable txn/],
    [
      'a create without a leading slash',
      (z) => badTxn(z, { type: 'create', path: 'no-slash', data: null, ephemeralOwner: 0n, kind: 'normal', parentCVersion: 1, parentSeq: 1 }),
      /sent a bad txn .*create: path must start with '\/'/,
    ],
    ['a 3 MB setData', (z) => badTxn(z, { type: 'setData', path: '/a', data: new Uint8Array(3 * 1024 * 1024), version: 1 }), /setData of 3145728 bytes/],
    ['a session with a 1e15 ms timeout', (z) => badTxn(z, { type: 'createSession', timeoutMs: 1e15, passwd: new Uint8Array(16) }), /session timeout 1000000000000000/],
    ['a txn for another zxid', (z) => badTxn(z + 5n, { type: 'noop' }), /txn zxid .* in a message for/],
  ];

  it.each(cases)('drops a leader whose PROPOSAL holds %s, logs and applies none of it, then resyncs', (_what, txn, reason) => {
    const { sim, leader, followers } = stableCluster(3);
    const victim = followers[0]!;
    const tampered = tamperOnce(sim, leader, victim, PeerKind.proposal, (m) => {
      if (m.k === PeerKind.proposal) m.txn = txn(m.zxid);
    });
    const reply = writeOne(sim, leader, '/a');
    expect(reply.err).toBeUndefined();
    expect(tampered()).toBe(true);
    expect(logged(sim, new RegExp(`\\[${victim}\\] LOOKING: leader ${leader} .*${reason.source}`))).toHaveLength(1);
    expect(sim.run(10_000, () => sim.stable() && sim.node(victim)!.lastAppliedZxid() === sim.node(leader)!.lastAppliedZxid())).toBe(true);
    // Its log holds the real txn at that zxid, not the tampered one.
    const onDisk = sim.disk(victim).log.find((t) => t.hdr.zxid === reply.zxid);
    expect(onDisk?.body).toMatchObject({ type: 'create', path: '/a' });
    expect(sim.node(victim)!.treeDigest()).toBe(sim.node(leader)!.treeDigest());
  });

  it('refuses a LEADERINFO above 2^32-1 and never persists it', () => {
    const sim = new SimCluster({ voters: 3, seed: 5 });
    const bad = watchEpochs(sim);
    let tampered = false;
    sim.hooks.push({
      onDeliver: (_f, _t, msg) => {
        if (!tampered && msg.k === PeerKind.leaderInfo) {
          tampered = true;
          msg.newEpoch = 2 ** 32;
        }
      },
    });
    sim.startAll();
    expect(sim.run(20_000, () => tampered && sim.stable())).toBe(true);
    expect(logged(sim, /LOOKING: leader \d proposed epoch 4294967296, above the largest epoch 4294967295: refused/)).toHaveLength(1);
    expect(bad).toEqual([]);
  });
});

describe('a leader and a faulty learner', () => {
  const epochs: Array<[string, unknown]> = [
    ['2^32-1 (its next epoch would overflow)', MAX_EPOCH],
    ['2^32', 2 ** 32],
    ['2^53', 2 ** 53],
    ['a bigint', 3n],
  ];

  it.each(epochs)('does not count a FOLLOWERINFO with acceptedEpoch %s, leads with the others, persists no bad epoch', (_what, value) => {
    const sim = new SimCluster({ voters: 3, seed: 9 });
    const bad = watchEpochs(sim);
    let tampered = false;
    sim.hooks.push({
      onDeliver: (f, _t, msg) => {
        if (!tampered && msg.k === PeerKind.followerInfo && f === 1) {
          tampered = true;
          (msg as { acceptedEpoch: unknown }).acceptedEpoch = value;
        }
      },
    });
    sim.startAll();
    expect(sim.run(20_000, () => tampered && sim.stable())).toBe(true);
    expect(logged(sim, /ERROR: learner 1 reports acceptedEpoch .*: not counting it/)).toHaveLength(1);
    expect(bad).toEqual([]);
    expect(sim.leaders()).toHaveLength(1);
  });

  it('with every acceptedEpoch at 2^32-1 nobody leads, says why, and persists no epoch above it', () => {
    const sim = new SimCluster({ voters: 3, seed: 2 });
    // as the epoch files would hold them (written, so the start does not take the disk for a new one)
    for (const id of sim.ids) {
      sim.disk(id).apply({ kind: 'acceptedEpoch', epoch: MAX_EPOCH });
      sim.disk(id).apply({ kind: 'currentEpoch', epoch: MAX_EPOCH });
    }
    const bad = watchEpochs(sim);
    sim.startAll();
    sim.run(5_000);
    expect(sim.leaders()).toEqual([]);
    expect(logged(sim, /ERROR: cannot choose an epoch above acceptedEpoch 4294967295/).length).toBeGreaterThan(0);
    expect(logged(sim, /LOOKING: no epoch above 4294967295 to lead in/).length).toBeGreaterThan(0);
    expect(bad).toEqual([]);
  });
});

describe('requests forwarded by a follower are checked as a client request is', () => {
  it('answers bad writes with an error txn and applies none; drops bad createSessions; a session is written only by its server', () => {
    const { sim, leader, followers } = stableCluster(21);
    const [a, b] = followers as [number, number];
    const owner = sim.openConn(a);
    expect(sim.run(5_000, () => connected(owner) !== undefined)).toBe(true);
    const sid = connected(owner)!.sessionId;
    sim.send(owner, 1, { op: OpCode.create, path: '/eph', data: null, mode: 'ephemeral' });
    expect(sim.run(5_000, () => responses(owner).length === 1)).toBe(true);
    sim.run(500);
    const lnode = sim.node(leader)!;
    const digest = lnode.treeDigest();
    const sessions = lnode.status().sessions;
    const forward = (from: number, sessionId: bigint, req: unknown) =>
      sim.inject(from, leader, { k: PeerKind.request, sessionId, cxid: 7, req } as PeerMessage);

    forward(a, sid, { op: OpCode.setData, path: 'eph', data: null, version: -1 });
    forward(a, sid, { op: OpCode.create, path: '/big', data: new Uint8Array(3 * 1024 * 1024), mode: 'persistent' });
    forward(a, sid, { op: OpCode.getData, path: '/eph', watch: false });
    forward(b, sid, { op: OpCode.closeSession });
    forward(b, sid, { op: OpCode.create, path: '/evil', data: null, mode: 'ephemeral' });
    forward(b, (BigInt(a) << 56n) | 77n, { op: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(16) });
    forward(a, sid, { op: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(16) });
    forward(b, (BigInt(b) << 56n) | 78n, { op: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(3) });
    forward(b, (BigInt(b) << 56n) | 79n, { op: 'createSession', timeoutMs: -5, passwd: new Uint8Array(16) });
    sim.run(1_000);

    expect(logged(sim, new RegExp(`refusing a write from ${a} .*path must start with`))).toHaveLength(1);
    expect(logged(sim, new RegExp(`refusing a write from ${a} .*3145728 bytes of data, the limit is 1048576`))).toHaveLength(1);
    expect(logged(sim, new RegExp(`refusing a write from ${a} .*operation 4 is not a write`))).toHaveLength(1);
    expect(logged(sim, new RegExp(`dropping a createSession from ${b}: session id .* is not in server ${b}'s id space`))).toHaveLength(1);
    expect(logged(sim, new RegExp(`dropping a createSession from ${a}: session id .* is already in use`))).toHaveLength(1);
    expect(logged(sim, new RegExp(`dropping a createSession from ${b}: passwd is not 16 bytes`))).toHaveLength(1);
    expect(logged(sim, new RegExp(`dropping a createSession from ${b}: timeout -5 is not a positive integer`))).toHaveLength(1);
    // Nothing changed: the session lives (b could not close it), its ephemeral too, no node was added.
    expect(lnode.treeDigest()).toBe(digest);
    expect(lnode.status().sessions).toBe(sessions);
    expect(lnode.replica.sessions.get(sid)?.closing).toBe(false);
    expect(lnode.replica.tree.get('/eph')).toBeDefined();
    // The errors went through the log, so every server answered them alike (and applied nothing).
    expect(sim.run(5_000, () => sim.ids.every((id) => sim.node(id)!.lastAppliedZxid() === lnode.lastAppliedZxid()))).toBe(true);
    for (const id of sim.ids) expect(sim.node(id)!.treeDigest()).toBe(digest);
  });

  it("clamps a forwarded session's timeout to [min, max] as a local one", () => {
    const { sim, leader, followers } = stableCluster(22);
    const b = followers[1]!;
    const id = (BigInt(b) << 56n) | 90n;
    sim.inject(b, leader, { k: PeerKind.request, sessionId: id, cxid: 0, req: { op: 'createSession', timeoutMs: 1e15, passwd: new Uint8Array(16) } });
    sim.run(1_000);
    // The sim's tick is 100 ms: sessions are between 2 and 20 ticks.
    expect(sim.node(leader)!.replica.sessions.get(id)?.timeoutMs).toBe(2_000);
  });
});
