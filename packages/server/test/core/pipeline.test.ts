import { FrameKind, OpCode, type ResponseFrame, type Stat } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { Harness, bytes, type Client } from './harness.js';

const manual = (): { h: Harness; c: Client } => {
  const h = new Harness();
  const c = h.client();
  h.autoPersist = false;
  return { h, c };
};

const responses = (c: Client): ResponseFrame[] => c.frames().filter((f): f is ResponseFrame => f.k === FrameKind.response);

describe('write pipeline', () => {
  it('replies to a write only after its txn is persisted', () => {
    const { h, c } = manual();
    const xid = c.send({ op: OpCode.create, path: '/a', data: null, mode: 'persistent' });
    h.flush();
    expect(c.response(xid)).toBeUndefined();
    expect(h.log.at(-1)?.body).toMatchObject({ type: 'create', path: '/a' });
    h.core.persisted(h.core.lastProposedZxid(), h.now);
    h.flush();
    expect(c.response(xid)?.err).toBeUndefined();
  });

  it('a pipelined read waits for the same session\'s write and sees it; replies stay in request order', () => {
    const { h, c } = manual();
    const w = c.send({ op: OpCode.create, path: '/a', data: bytes('1'), mode: 'persistent' });
    const r = c.send({ op: OpCode.getData, path: '/a', watch: false });
    const p = c.send({ op: OpCode.ping });
    const bad = c.send({ op: OpCode.getData, path: 'bad', watch: false });
    h.flush();
    expect(responses(c)).toEqual([]);
    h.persistAll();
    expect(responses(c).map((x) => x.xid)).toEqual([w, r, p, bad]);
    expect(c.response(r)?.body).toMatchObject({ data: bytes('1') });
    expect(c.response(bad)?.err).toBe('BadArguments');
  });

  it("another session's read is not held up by a session's outstanding write", () => {
    const { h, c } = manual();
    h.autoPersist = true;
    const other = h.client();
    h.autoPersist = false;
    c.send({ op: OpCode.create, path: '/a', data: null, mode: 'persistent' });
    const r = other.send({ op: OpCode.exists, path: '/a', watch: false });
    h.flush();
    expect(other.response(r)?.body).toEqual({ stat: null });
  });

  it('group commit: several writes, one persisted() call, replies in order with increasing zxids', () => {
    const { h, c } = manual();
    const xids = [
      c.send({ op: OpCode.create, path: '/g', data: null, mode: 'persistent' }),
      c.send({ op: OpCode.create, path: '/g/1', data: null, mode: 'persistent' }),
      c.send({ op: OpCode.setData, path: '/g', data: bytes('x'), version: 0 }),
      c.send({ op: OpCode.delete, path: '/g/1', version: 0 }),
    ];
    h.flush();
    const proposed = h.log.slice(-4);
    expect(proposed.map((t) => t.body.type)).toEqual(['create', 'create', 'setData', 'delete']);
    expect(responses(c)).toEqual([]);
    h.core.persisted(proposed.at(-1)!.hdr.zxid, h.now);
    h.flush();
    const rs = responses(c);
    expect(rs.map((x) => x.xid)).toEqual(xids);
    expect(rs.every((x) => x.err === undefined)).toBe(true);
    const zxids = rs.map((x) => x.zxid);
    expect([...zxids].sort((a, b) => (a < b ? -1 : 1))).toEqual(zxids);
    expect(new Set(zxids).size).toBe(4);
    expect(h.core.status().outstandingRequests).toBe(0);
  });

  it('prep sees outstanding changes: writes pipelined before any commit validate against each other', () => {
    const { h, c } = manual();
    const a = c.send({ op: OpCode.create, path: '/p', data: null, mode: 'persistent' });
    const b = c.send({ op: OpCode.create, path: '/p/c', data: null, mode: 'persistent' });
    const dup = c.send({ op: OpCode.create, path: '/p', data: null, mode: 'persistent' });
    const s1 = c.send({ op: OpCode.create, path: '/p/s-', data: null, mode: 'persistent-sequential' });
    const del = c.send({ op: OpCode.delete, path: '/p', version: -1 });
    const set = c.send({ op: OpCode.setData, path: '/p', data: null, version: 0 });
    const set2 = c.send({ op: OpCode.setData, path: '/p', data: null, version: 0 });
    h.persistAll();
    expect(c.response(a)?.err).toBeUndefined();
    expect(c.response(b)?.err).toBeUndefined();
    expect(c.response(dup)?.err).toBe('NodeExists');
    expect(c.response(s1)?.body).toMatchObject({ path: '/p/s-0000000001' });
    expect(c.response(del)?.err).toBe('NotEmpty');
    expect((c.response(set)?.body as { stat: Stat }).stat.version).toBe(1);
    expect(c.response(set2)?.err).toBe('BadVersion');
  });

  it('persisting part of the batch answers only the covered writes', () => {
    const { h, c } = manual();
    const x1 = c.send({ op: OpCode.create, path: '/1', data: null, mode: 'persistent' });
    const x2 = c.send({ op: OpCode.create, path: '/2', data: null, mode: 'persistent' });
    h.flush();
    const first = h.log.at(-2)!.hdr.zxid;
    h.core.persisted(first, h.now);
    h.flush();
    expect(responses(c).map((r) => r.xid)).toEqual([x1]);
    expect(h.core.lastAppliedZxid()).toBe(first);
    h.persistAll();
    expect(responses(c).map((r) => r.xid)).toEqual([x1, x2]);
  });

  it('sync replies after every previously proposed write is applied', () => {
    const { h, c } = manual();
    h.autoPersist = true;
    const other = h.client();
    h.autoPersist = false;
    other.send({ op: OpCode.create, path: '/s', data: null, mode: 'persistent' });
    const sx = c.send({ op: OpCode.sync, path: '/s' });
    h.flush();
    expect(c.response(sx)).toBeUndefined();
    h.persistAll();
    const r = c.response(sx);
    expect(r?.body).toEqual({ path: '/s' });
    expect(r?.zxid).toBe(h.core.lastAppliedZxid());
  });

  // SUSPECTED BUG in src/core/zab/replica.ts (Replica.apply), skipped until fixed: a sync is answered
  // once its target zxid is applied, but Replica.apply returns early for a createSession txn and skips
  // replies.drainAfterApply for session-0 txns (container / TTL removals), so a sync whose target is
  // such a txn is not answered until some later txn happens to be applied. ServerCore called
  // drainAfterApply after every commit and passed both tests.
  it("sync waits for (and is answered after) another session's createSession", () => {
    const { h, c } = manual();
    const conn = h.rawConnect();
    const sx = c.send({ op: OpCode.sync, path: '/' });
    h.flush();
    expect(c.response(sx)).toBeUndefined();
    h.persistAll();
    expect(h.frames(conn)[0]?.k).toBe(FrameKind.connected);
    expect(c.response(sx)?.body).toEqual({ path: '/' });
  });

  it('sync waits for (and is answered after) a server-made txn: a container removal', () => {
    const h = new Harness({ containerCheckIntervalMs: 1000 });
    const c = h.client();
    c.create('/c', null, 'container');
    c.create('/c/x');
    c.delete('/c/x');
    h.autoPersist = false;
    h.tick(2000);
    expect(h.log.at(-1)?.body).toMatchObject({ type: 'delete', path: '/c' });
    const sx = c.send({ op: OpCode.sync, path: '/c' });
    h.flush();
    expect(c.response(sx)).toBeUndefined();
    h.persistAll();
    expect(c.response(sx)?.body).toEqual({ path: '/c' });
    expect(c.response(sx)?.zxid).toBe(h.log.at(-1)?.hdr.zxid);
  });

  it('every response carries the last applied zxid', () => {
    const h = new Harness();
    const c = h.client();
    c.create('/a');
    const z = h.core.lastAppliedZxid();
    expect(c.getData('/a').zxid).toBe(z);
    expect(c.getData('/missing').zxid).toBe(z);
    expect(h.core.status()).toMatchObject({ zxid: z, epoch: 1, znodes: 3, sessions: 1 });
  });

  it('zxids use the epoch the node was elected in (its durable acceptedEpoch + 1)', () => {
    const h = new Harness({}, new Harness().core.restore(null, [], { epochs: { acceptedEpoch: 6, currentEpoch: 6 } }));
    const c = h.client();
    const r = c.create('/a');
    expect(r.zxid >> 32n).toBe(7n);
    expect(h.core.status()).toMatchObject({ epoch: 7, role: 'leader' });
  });

  it('an event reaches a session before any reply that reveals data newer than it', () => {
    const { h, c } = manual();
    h.autoPersist = true;
    const b = h.client();
    c.create('/x');
    c.getData('/x', true);
    h.autoPersist = false;
    c.send({ op: OpCode.create, path: '/mine', data: null, mode: 'persistent' });
    b.send({ op: OpCode.setData, path: '/x', data: bytes('b'), version: -1 });
    c.send({ op: OpCode.getData, path: '/x', watch: false });
    c.send({ op: OpCode.create, path: '/mine2', data: null, mode: 'persistent' });
    c.send({ op: OpCode.getData, path: '/x', watch: false });
    h.persistAll();
    const frames = c.frames();
    const ev = frames.findIndex((f) => f.k === FrameKind.event);
    expect(ev).toBeGreaterThan(0);
    const evZxid = (frames[ev] as { zxid: bigint }).zxid;
    frames.forEach((f, i) => {
      if (f.k === FrameKind.response && f.zxid >= evZxid && f.xid > 2) expect(i).toBeGreaterThan(ev);
    });
    const last = frames.at(-1) as ResponseFrame;
    expect(last.body).toMatchObject({ data: bytes('b') });
  });
});
