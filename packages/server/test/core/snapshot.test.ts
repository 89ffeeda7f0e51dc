import { FrameKind, OpCode, epochOf, makeZxid, type ConnectedFrame } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { decodeTxn, encodeTxn, type Txn } from '../../src/core/index.js';
import { Harness, bytes, type Client } from './harness.js';

/** A tree with a bit of everything: data, null vs empty, sequentials, ephemerals, containers, deletes, multi. */
function populate(h: Harness): Client {
  const c = h.client();
  c.create('/app', bytes('config'));
  c.create('/app/empty', new Uint8Array(0));
  c.create('/q');
  for (let i = 0; i < 5; i++) c.create('/q/item-', bytes(`job ${i}`), 'persistent-sequential');
  c.delete('/q/item-0000000004');
  c.create('/e', null, 'ephemeral');
  c.create('/box', null, 'container');
  c.create('/ttl', bytes('t'), 'ttl', 60_000);
  c.setData('/app', bytes('config v2'));
  c.call({
    op: OpCode.multi,
    ops: [
      { op: OpCode.create, path: '/m', data: null, mode: 'persistent' },
      { op: OpCode.setData, path: '/m', data: bytes('m'), version: 0 },
    ],
  });
  const gone = h.client();
  gone.create('/gone-eph', null, 'ephemeral');
  gone.call({ op: OpCode.closeSession });
  return c;
}

const roundTrip = (txns: Txn[]): Txn[] => txns.map((t) => decodeTxn(encodeTxn(t)));

describe('txn codec', () => {
  it('round-trips every txn of a busy log, bigints and bytes included', () => {
    const h = new Harness();
    populate(h);
    const back = roundTrip(h.log);
    expect(back).toEqual(h.log);
    for (let i = 0; i < h.log.length; i++) {
      expect(Buffer.from(encodeTxn(back[i] as Txn)).equals(Buffer.from(encodeTxn(h.log[i] as Txn)))).toBe(true);
    }
    const create = back.find((t) => t.body.type === 'create' && t.body.path === '/app');
    expect(create?.body).toMatchObject({ type: 'create', data: bytes('config'), ephemeralOwner: 0n });
    expect(typeof create?.hdr.zxid).toBe('bigint');
    expect(() => decodeTxn(new Uint8Array([0xc0]))).toThrow(TypeError);
  });
});

describe('snapshots and replay', () => {
  it('a snapshot restores the same tree, sessions and counters', () => {
    const h = new Harness();
    const c = populate(h);
    const chunks = [...h.core.snapshotChunks()];
    const core = h.core.restore(chunks, []);
    expect(core.treeDigest()).toBe(h.core.treeDigest());
    expect(core.lastAppliedZxid()).toBe(h.core.lastAppliedZxid());
    expect(core.status()).toMatchObject({ sessions: 1, ephemerals: 1, znodes: h.core.status().znodes });

    // the restored server accepts the live session back, and continues zxids and sequence numbers
    // (its election starts a new epoch: the next zxid is the first of epoch + 1)
    const h2 = new Harness({}, core);
    const c2 = h2.client(c, h.core.lastAppliedZxid());
    expect(c2.sessionId).toBe(c.sessionId);
    const r = c2.create('/q/item-', null, 'persistent-sequential');
    expect((r.body as { path: string }).path).toBe('/q/item-0000000005');
    expect(r.zxid).toBe(makeZxid(epochOf(h.core.lastAppliedZxid()) + 1, 1));
    expect(r.zxid).toBeGreaterThan(h.core.lastAppliedZxid());
    expect(c2.getData('/app/empty').body).toMatchObject({ data: new Uint8Array(0) });
    expect((c2.getData('/app').body as { data: unknown }).data).toEqual(bytes('config v2'));
  });

  it('replaying the whole log from nothing gives the same digest', () => {
    const h = new Harness();
    populate(h);
    const core = h.core.restore(null, roundTrip(h.log));
    expect(core.treeDigest()).toBe(h.core.treeDigest());
    expect(core.status().sessions).toBe(h.core.status().sessions);
  });

  it('replay over a snapshot is idempotent: applying the whole log again changes nothing', () => {
    const h = new Harness();
    populate(h);
    const chunks = [...h.core.snapshotChunks()];
    const core = h.core.restore(chunks, roundTrip(h.log));
    expect(core.treeDigest()).toBe(h.core.treeDigest());
    expect(core.status()).toMatchObject({ sessions: 1, ephemerals: 1 });
  });

  it('a fuzzy snapshot (writes while it is written) is made consistent by replaying from its zxid', () => {
    const h = new Harness();
    const c = populate(h);
    for (let i = 0; i < 1500; i++) c.create(`/app/n${i}`, bytes(String(i)));
    const iter = h.core.snapshotChunks()[Symbol.iterator]();
    const chunks: Uint8Array[] = [];
    const first = iter.next();
    if (!first.done) chunks.push(first.value);
    const from = h.core.lastAppliedZxid();
    // writes land while the snapshot is being written
    c.setData('/app', bytes('later'));
    c.delete('/app/n3');
    c.create('/app/late');
    c.create('/q/item-', null, 'persistent-sequential');
    c.create('/e2', null, 'ephemeral');
    c.delete('/e');
    for (let r = iter.next(); !r.done; r = iter.next()) {
      chunks.push(r.value);
      if (chunks.length === 2) c.setData('/app/n1400', bytes('changed mid-snapshot'));
    }
    expect(chunks.length).toBeGreaterThan(2);
    const after = roundTrip(h.log.filter((t) => t.hdr.zxid > from));
    const core = h.core.restore(chunks, after);
    expect(core.treeDigest()).toBe(h.core.treeDigest());
  });

  it('digest differs when the trees differ', () => {
    const a = new Harness();
    const b = new Harness();
    a.client().create('/x', bytes('1'));
    b.client().create('/x', bytes('2'));
    expect(a.core.treeDigest()).not.toBe(b.core.treeDigest());
    expect(a.core.treeDigest()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('restored sessions expire if their client never comes back', () => {
    const h = new Harness({ tickTimeMs: 100, minSessionTimeoutMs: 200, maxSessionTimeoutMs: 1000 });
    populate(h);
    const h2 = new Harness({}, h.core.restore([...h.core.snapshotChunks()], []));
    h2.tick(10); // the new leader gave the restored sessions a full timeout from its election
    expect(h2.core.status().ephemerals).toBe(1);
    h2.tick(1500);
    expect(h2.core.status()).toMatchObject({ sessions: 0, ephemerals: 0 });
    const conn = h2.rawConnect();
    expect((h2.frames(conn)[0] as ConnectedFrame).k).toBe(FrameKind.connected);
  });
});
