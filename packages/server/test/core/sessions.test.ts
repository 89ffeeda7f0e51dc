import { FrameKind, OpCode, type ConnectRefusedFrame, type ResponseFrame, type ServerFrame } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

const refusal = (frames: ServerFrame[]): ConnectRefusedFrame | undefined =>
  frames.find((f): f is ConnectRefusedFrame => f.k === FrameKind.connectRefused);

describe('connect', () => {
  it('creates a session with a clamped timeout, after its txn is persisted', () => {
    const h = new Harness({ tickTimeMs: 100, minSessionTimeoutMs: 200, maxSessionTimeoutMs: 2000, sessionIdBase: 0x100n });
    h.autoPersist = false;
    const connId = h.rawConnect({ timeoutMs: 50 });
    expect(h.frames(connId)).toEqual([]);
    h.persistAll();
    const connected = h.frames(connId)[0];
    expect(connected).toMatchObject({ k: FrameKind.connected, timeoutMs: 200, sessionId: 0x101n, serverId: 1 });
    h.autoPersist = true;
    const big = h.client();
    expect(big.sessionId).toBe(0x102n);
    const c3 = h.client();
    expect(c3.timeoutMs).toBe(2000);
    expect(h.core.status().sessions).toBe(3);
  });

  it('refuses an unknown session with SessionExpired and a wrong password with AuthFailed', () => {
    const h = new Harness();
    const c = h.client();
    const unknown = h.rawConnect({ sessionId: 0x999n, passwd: new Uint8Array(16) });
    expect(refusal(h.frames(unknown))?.err).toBe('SessionExpired');
    expect(h.closed.has(unknown)).toBe(true);
    const bad = h.rawConnect({ sessionId: c.sessionId, passwd: new Uint8Array(16).fill(77) });
    expect(refusal(h.frames(bad))?.err).toBe('AuthFailed');
    expect(h.closed.has(bad)).toBe(true);
    expect(h.closed.has(c.connId)).toBe(false);
  });

  it('refuses a client that has seen a newer zxid than the server (NotServing)', () => {
    const h = new Harness();
    const c = h.client();
    c.create('/a');
    const ahead = h.core.lastAppliedZxid() + 5n;
    const conn = h.rawConnect({ sessionId: c.sessionId, passwd: c.passwd, lastZxidSeen: ahead });
    const r = refusal(h.frames(conn));
    expect(r?.err).toBe('NotServing');
    expect(r?.message).toMatch(/another server/);
    const fresh = h.rawConnect({ lastZxidSeen: ahead });
    expect(refusal(h.frames(fresh))?.err).toBe('NotServing');
  });

  it('a reconnect moves the session to the new connection and closes the old one', () => {
    const h = new Harness();
    const c = h.client();
    c.create('/e', null, 'ephemeral');
    const c2 = h.client(c, h.core.lastAppliedZxid());
    expect(c2.sessionId).toBe(c.sessionId);
    expect(h.closed.get(c.connId)).toMatch(/moved/);
    expect(c2.stat('/e')?.ephemeralOwner).toBe(c.sessionId);
  });

  it('closes a connection that sends a request without a session', () => {
    const h = new Harness();
    h.core.request(42, { k: FrameKind.request, xid: 1, req: { op: OpCode.ping } }, h.now);
    h.flush();
    expect(h.closed.has(42)).toBe(true);
    expect(h.frames(42)).toEqual([]);
  });

  it('ping answers with the current zxid and keeps the session alive', () => {
    const h = new Harness({ tickTimeMs: 100, minSessionTimeoutMs: 200, maxSessionTimeoutMs: 1000 });
    const c = h.client();
    c.create('/z');
    for (let i = 0; i < 10; i++) {
      h.tick(300);
      const r = c.call({ op: OpCode.ping });
      expect(r.err).toBeUndefined();
      expect(r.zxid).toBe(h.core.lastAppliedZxid());
    }
    expect(h.core.status().sessions).toBe(1);
  });
});

describe('expiry and close', () => {
  it('expiry deletes the ephemerals and fires watches for other sessions', () => {
    const h = new Harness({ tickTimeMs: 100, minSessionTimeoutMs: 200, maxSessionTimeoutMs: 1000 });
    const owner = h.client();
    const other = h.client();
    owner.create('/svc');
    owner.create('/svc/a', null, 'ephemeral');
    owner.create('/svc/b', null, 'ephemeral-sequential');
    other.getData('/svc/a', true);
    other.getChildren('/svc', true);
    owner.disconnect();
    h.tick(500);
    other.call({ op: OpCode.ping });
    h.tick(600);
    expect(other.children('/svc')).toEqual([]);
    expect(other.takeEvents()).toEqual(['NodeDeleted /svc/a', 'NodeChildrenChanged /svc']);
    expect(h.core.status().sessions).toBe(1);
    expect(h.core.status().ephemerals).toBe(0);
    const again = h.rawConnect({ sessionId: owner.sessionId, passwd: owner.passwd });
    expect(refusal(h.frames(again))?.err).toBe('SessionExpired');
    // the closeSession txn is in the log, attributed to the expired session
    expect(h.log.at(-1)).toMatchObject({ hdr: { sessionId: owner.sessionId }, body: { type: 'closeSession' } });
  });

  it('does not expire a session that keeps being touched', () => {
    const h = new Harness({ tickTimeMs: 100, minSessionTimeoutMs: 200, maxSessionTimeoutMs: 1000 });
    const c = h.client();
    c.create('/e', null, 'ephemeral');
    h.tick(900);
    c.call({ op: OpCode.ping });
    h.tick(900);
    expect(c.stat('/e')).not.toBeNull();
    h.tick(1001);
    expect(h.core.status().ephemerals).toBe(0);
    expect(h.closed.get(c.connId)).toMatch(/expired/);
  });

  it('closeSession: own watches fire first, then the reply, then the connection closes', () => {
    const h = new Harness();
    const c = h.client();
    const other = h.client();
    c.create('/e', null, 'ephemeral');
    c.exists('/e', true);
    other.exists('/e', true);
    const xid = c.send({ op: OpCode.closeSession });
    h.flush();
    const frames = c.frames();
    const last = frames.at(-1) as ResponseFrame;
    expect(last).toMatchObject({ k: FrameKind.response, xid, op: OpCode.closeSession });
    expect(last.err).toBeUndefined();
    expect(c.takeEvents()).toEqual(['NodeDeleted /e']);
    expect(other.takeEvents()).toEqual(['NodeDeleted /e']);
    expect(h.closed.get(c.connId)).toMatch(/closed/);
    expect(other.stat('/e')).toBeNull();
    expect(h.core.status().sessions).toBe(1);
  });

  it('a write pipelined after closeSession is neither applied nor answered on the closed connection', () => {
    const h = new Harness();
    h.autoPersist = false;
    const connId = h.rawConnect();
    h.persistAll();
    h.flush();
    const c = h.frames(connId)[0];
    expect(c?.k).toBe(FrameKind.connected);
    h.core.request(connId, { k: FrameKind.request, xid: 1, req: { op: OpCode.closeSession } }, h.now);
    h.core.request(connId, { k: FrameKind.request, xid: 2, req: { op: OpCode.create, path: '/x', data: null, mode: 'persistent' } }, h.now);
    h.persistAll();
    const responses = h.frames(connId).filter((f): f is ResponseFrame => f.k === FrameKind.response);
    expect(responses.map((r) => r.xid)).toEqual([1]);
    expect(h.core.lastAppliedZxid()).toBe(h.core.lastProposedZxid());
    expect(h.log.some((t) => t.body.type === 'create')).toBe(false);
  });
});
