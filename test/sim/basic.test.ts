import { OpCode, PeerKind } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { SimCluster } from './sim-cluster.js';
import { enc, responses, connected } from './conn-frames.js';

describe('simulated ZAB cluster', () => {
  it('three voters elect one leader and replicate writes sent to a follower', () => {
    const sim = new SimCluster({ voters: 3, seed: 1 });
    sim.startAll();
    expect(sim.run(10_000, () => sim.stable())).toBe(true);
    const leader = sim.leaders()[0]!;
    const follower = sim.ids.find((id) => id !== leader)!;
    const conn = sim.openConn(follower);
    expect(sim.run(5_000, () => connected(conn) !== undefined)).toBe(true);
    for (let i = 0; i < 20; i++) sim.send(conn, i + 1, { op: OpCode.create, path: `/n${i}`, data: enc(`v${i}`), mode: 'persistent' });
    expect(sim.run(5_000, () => responses(conn).length === 20)).toBe(true);
    expect(responses(conn).map((r) => r.err ?? 'ok')).toEqual(Array(20).fill('ok'));
    expect(responses(conn).map((r) => r.xid)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    sim.run(2_000);
    const digests = new Set(sim.ids.map((id) => sim.node(id)!.treeDigest()));
    expect(digests.size).toBe(1);
    expect(sim.node(leader)!.status().znodes).toBe(2 + 20);
  });

  it('acks and commits are cumulative: a burst of proposals costs a follower far fewer ACKs and COMMITs than txns', () => {
    const sim = new SimCluster({ voters: 3, seed: 3 });
    sim.startAll();
    expect(sim.run(10_000, () => sim.stable())).toBe(true);
    const leader = sim.leaders()[0]!;
    const conn = sim.openConn(leader);
    expect(sim.run(5_000, () => connected(conn) !== undefined)).toBe(true);
    const seen = { proposals: 0, acks: 0, commits: 0 };
    const follower = sim.ids.find((id) => id !== leader)!;
    sim.hooks.push({
      onDeliver: (from, to, msg) => {
        if (from === leader && to === follower && msg.k === PeerKind.proposal) seen.proposals++;
        if (from === leader && to === follower && msg.k === PeerKind.commit) seen.commits++;
        if (from === follower && to === leader && msg.k === PeerKind.ack) seen.acks++;
      },
    });
    const n = 50;
    for (let i = 0; i < n; i++) sim.send(conn, i + 1, { op: OpCode.create, path: `/b${i}`, data: enc(`v${i}`), mode: 'persistent' });
    expect(sim.run(5_000, () => responses(conn).length === n)).toBe(true);
    expect(responses(conn).map((r) => r.err ?? 'ok')).toEqual(Array(n).fill('ok'));
    sim.run(2_000);
    expect(seen.proposals, JSON.stringify(seen)).toBeGreaterThanOrEqual(n);
    expect(seen.acks, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(seen.acks).toBeLessThan(n / 2);
    expect(seen.commits).toBeGreaterThan(0);
    expect(seen.commits).toBeLessThan(n / 2);
    // Every txn still reached every replica, in the same order.
    expect(new Set(sim.ids.map((id) => sim.node(id)!.treeDigest())).size).toBe(1);
    expect(sim.node(follower)!.lastAppliedZxid()).toBe(sim.node(leader)!.lastAppliedZxid());
  });

  it('a single voter is a cluster of one', () => {
    const sim = new SimCluster({ voters: 1, seed: 2 });
    sim.startAll();
    expect(sim.run(5_000, () => sim.stable())).toBe(true);
    const conn = sim.openConn(1);
    expect(sim.run(1_000, () => connected(conn) !== undefined)).toBe(true);
    sim.send(conn, 1, { op: OpCode.create, path: '/a', data: null, mode: 'persistent' });
    expect(sim.run(1_000, () => responses(conn).length === 1)).toBe(true);
    expect(responses(conn)[0]!.err).toBeUndefined();
  });
});
