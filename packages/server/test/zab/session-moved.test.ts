import { OpCode } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../../../test/sim/sim-cluster.js';
import { responses, connected } from '../../../../test/sim/conn-frames.js';

describe('sessions across servers', () => {
  it('a write on the old connection after the session moved fails with SessionMoved', () => {
    const sim = new SimCluster({ voters: 3, seed: 7 });
    sim.startAll();
    expect(sim.run(10_000, () => sim.stable())).toBe(true);
    const [a, b] = sim.ids.filter((id) => id !== sim.leaders()[0]) as [number, number];
    const first = sim.openConn(a);
    expect(sim.run(5_000, () => connected(first) !== undefined)).toBe(true);
    const hello = connected(first)!;
    sim.send(first, 1, { op: OpCode.create, path: '/owned', data: null, mode: 'ephemeral' });
    expect(sim.run(5_000, () => responses(first).length === 1)).toBe(true);

    // Let b catch up (a server behind the client's zxid refuses it), then the same
    // session reconnects through b as if the client thought a was gone.
    sim.run(500);
    const second = sim.openConn(b, hello.sessionId, hello.passwd, responses(first)[0]!.zxid);
    expect(sim.run(5_000, () => connected(second) !== undefined)).toBe(true);
    expect(connected(second)!.sessionId).toBe(hello.sessionId);

    // A stale write still in flight on a is refused; the session and its ephemeral are intact.
    sim.send(first, 2, { op: OpCode.setData, path: '/owned', data: null, version: -1 });
    expect(sim.run(5_000, () => responses(first).length === 2)).toBe(true);
    expect(responses(first)[1]!.err).toBe('SessionMoved');
    sim.send(second, 3, { op: OpCode.exists, path: '/owned', watch: false });
    expect(sim.run(5_000, () => responses(second).length === 1)).toBe(true);
    const body = responses(second)[0]!.body as { stat: { ephemeralOwner: bigint; version: number } | null };
    expect(body.stat?.ephemeralOwner).toBe(hello.sessionId);
    expect(body.stat?.version).toBe(0);
  });

  it('a session whose server died keeps its ephemeral by reconnecting to another server in time', () => {
    const sim = new SimCluster({ voters: 3, seed: 11 });
    sim.startAll();
    expect(sim.run(10_000, () => sim.stable())).toBe(true);
    const follower = sim.ids.find((id) => id !== sim.leaders()[0])!;
    const other = sim.ids.find((id) => id !== follower)!;
    const conn = sim.openConn(follower);
    expect(sim.run(5_000, () => connected(conn) !== undefined)).toBe(true);
    const hello = connected(conn)!;
    sim.send(conn, 1, { op: OpCode.create, path: '/mine', data: null, mode: 'ephemeral' });
    expect(sim.run(5_000, () => responses(conn).length === 1)).toBe(true);
    sim.run(500);
    sim.crash(follower);
    const moved = sim.openConn(other, hello.sessionId, hello.passwd, responses(conn)[0]!.zxid);
    expect(sim.run(5_000, () => connected(moved) !== undefined)).toBe(true);
    // Well past the session timeout, the session lives on (the new server forwards its pings as touches).
    for (let i = 0; i < 10; i++) {
      sim.send(moved, 10 + i, { op: OpCode.ping });
      sim.run(1_000);
    }
    sim.send(moved, 100, { op: OpCode.exists, path: '/mine', watch: false });
    expect(sim.run(5_000, () => responses(moved).some((r) => r.xid === 100))).toBe(true);
    const r = responses(moved).find((x) => x.xid === 100)!;
    expect((r.body as { stat: unknown }).stat).not.toBeNull();
  });
});
