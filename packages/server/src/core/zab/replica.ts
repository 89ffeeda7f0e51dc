import {
  FrameKind,
  OpCode,
  PROTOCOL_VERSION,
  requestDataBytes,
  validateRequest,
  type ConnectFrame,
  type ErrorCode,
  type Request,
  type RequestFrame,
  type ServerFrame,
  type Zxid,
} from '@zabkit/protocol';
import type { CoreOptions, OutboxEntry } from '../api.js';
import { DataTree } from '../data-tree.js';
import { eventFrame, responseFrame, writeResponse } from '../final.js';
import { executeRead } from '../reads.js';
import { ReplyQueues } from '../reply-queue.js';
import { SessionTable, clampTimeout, samePasswd } from '../sessions.js';
import { readSnapshot, writeSnapshot } from '../snapshot.js';
import type { Txn } from '../txn.js';
import { WatchManager } from '../watches.js';

/**
 * Where a server sends what it cannot decide alone: the leader decides it
 * locally, a learner forwards it to the leader. Answers come back through
 * the Replica (applied txns, revalidated(), syncTarget()).
 */
export interface WriteSink {
  createSession(sessionId: bigint, timeoutMs: number, passwd: Uint8Array, now: number): void;
  /** A session reconnected here: is it still alive at the leader? Answer via Replica.revalidated. */
  revalidate(sessionId: bigint, now: number): void;
  submit(sessionId: bigint, cxid: number, req: Request, now: number): void;
  /** Answer via Replica.syncTarget with the leader's last proposed zxid. */
  sync(sessionId: bigint, xid: number): void;
  touch(sessionId: bigint, now: number): void;
}

interface Conn {
  sessionId: bigint | null;
  /** A session id being created or revalidated for this connection. */
  pending: bigint | null;
}

/**
 * The part of a server every role has: the data tree, the session table, the
 * watches, and the client connections with their ordered reply queues.
 * It applies committed txns and answers clients; writes go to a WriteSink.
 */
export class Replica {
  readonly tree = new DataTree();
  readonly sessions = new SessionTable();
  readonly watches: WatchManager;
  readonly replies: ReplyQueues;
  private readonly conns = new Map<number, Conn>();
  /** session id -> connection waiting for its createSession / revalidation. */
  private readonly waiting = new Map<bigint, number>();
  private outbox: OutboxEntry[] = [];
  private nextSessionSeq = 0n;
  lastApplied: Zxid = 0n;
  /** Clients are served only while the server is synced with an established leader. */
  serving = false;
  sink: WriteSink | null = null;

  constructor(private readonly options: CoreOptions) {
    this.watches = new WatchManager(options.maxWatchesPerSession);
    this.replies = new ReplyQueues({
      lastApplied: () => this.lastApplied,
      read: (sid, req) => executeRead(this.tree, this.watches, sid, req),
      event: (connId, sid, e) => this.sendIfLive(connId, sid, eventFrame(this.lastApplied, e)),
      send: (connId, sid, frame) => this.sendIfLive(connId, sid, frame),
      closed: (connId, sid) => {
        if (this.conns.get(connId)?.sessionId === sid) {
          this.conns.delete(connId);
          this.close(connId, 'session closed');
        }
      },
    });
  }

  // ---- state --------------------------------------------------------------------

  /** Replaces all state with a snapshot (restart, TRUNC reload, SNAP); txns after it are applied by the caller. */
  load(snapshotChunks: readonly Uint8Array[] | null): void {
    this.tree.reset();
    this.sessions.clear();
    this.watches.clear();
    this.lastApplied = snapshotChunks && snapshotChunks.length > 0 ? readSnapshot(snapshotChunks, this.tree, this.sessions) : 0n;
  }

  snapshotChunks(): Iterable<Uint8Array> {
    return writeSnapshot(this.lastApplied, this.tree, this.sessions);
  }

  takeOutbox(): OutboxEntry[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Stops serving: every client connection is closed (clients move on and come back). */
  stopServing(reason: string): void {
    this.serving = false;
    for (const connId of this.conns.keys()) this.close(connId, reason);
    this.conns.clear();
    this.waiting.clear();
    this.replies.clear();
    this.watches.clear();
    for (const s of this.sessions.all()) s.connId = null;
  }

  // ---- applying committed txns ---------------------------------------------------------

  /** Applies one committed txn; fires watches and answers the local client that sent it. */
  apply(txn: Txn): void {
    const { hdr, body } = txn;
    const closing = body.type === 'closeSession' ? this.sessions.get(hdr.sessionId) : undefined;
    const outcome = this.tree.applyTxn(txn);
    if (body.type === 'createSession') this.sessions.add(hdr.sessionId, body.timeoutMs, body.passwd, null);
    const events = this.watches.trigger(outcome.triggers);
    if (body.type === 'closeSession') this.sessions.remove(hdr.sessionId);
    this.lastApplied = hdr.zxid;
    for (const e of events) {
      const s = e.sessionId === hdr.sessionId && closing ? closing : this.sessions.get(e.sessionId);
      if (s && s.connId !== null && this.conns.get(s.connId)?.sessionId === s.id) this.send(s.connId, eventFrame(hdr.zxid, e));
    }
    if (body.type === 'createSession') {
      this.sessionCreated(hdr.sessionId, txn.hdr.time);
      this.replies.drainAfterApply(null);
      return;
    }
    if (hdr.sessionId !== 0n) {
      this.replies.answerWriteByXid(hdr.sessionId, hdr.cxid, (w) => writeResponse(w.xid, w.op, outcome, w.message));
    }
    this.replies.drainAfterApply(hdr.sessionId !== 0n ? hdr.sessionId : null);
    if (closing) {
      this.watches.removeSession(closing.id);
      if (closing.connId !== null) {
        const connId = closing.connId;
        if (this.conns.get(connId)?.sessionId === closing.id) {
          this.conns.delete(connId);
          this.close(connId, 'session expired');
        }
      }
      this.replies.drop(closing.id);
    }
  }

  private sessionCreated(sessionId: bigint, now: number): void {
    const connId = this.waiting.get(sessionId);
    if (connId === undefined) return;
    this.waiting.delete(sessionId);
    const conn = this.conns.get(connId);
    const s = this.sessions.get(sessionId);
    if (!conn || conn.pending !== sessionId || !s) return;
    conn.pending = null;
    conn.sessionId = sessionId;
    s.connId = connId;
    this.sessions.touch(sessionId, now);
    this.sendConnected(connId, sessionId);
  }

  /** The leader's answer to revalidate(). */
  revalidated(sessionId: bigint, valid: boolean, now: number): void {
    const connId = this.waiting.get(sessionId);
    if (connId === undefined) return;
    this.waiting.delete(sessionId);
    const conn = this.conns.get(connId);
    if (!conn || conn.pending !== sessionId) return;
    conn.pending = null;
    const s = this.sessions.get(sessionId);
    if (!valid || !s) {
      this.refuse(connId, 'SessionExpired', `session 0x${sessionId.toString(16)} has expired`);
      return;
    }
    if (s.connId !== null && s.connId !== connId) {
      this.conns.delete(s.connId);
      this.close(s.connId, 'session moved to another connection');
    }
    // Watches belong to a connection; the client re-arms them with setWatches.
    this.watches.removeSession(sessionId);
    s.connId = connId;
    conn.sessionId = sessionId;
    this.sessions.touch(sessionId, now);
    this.sendConnected(connId, sessionId);
  }

  /** The leader's answer to a forwarded sync. */
  syncTarget(sessionId: bigint, xid: number, zxid: Zxid): void {
    this.replies.setSyncTarget(sessionId, xid, zxid);
    this.replies.drain(sessionId);
  }

  // ---- client inputs ----------------------------------------------------------------------

  connect(connId: number, frame: ConnectFrame, now: number, newPasswd: Uint8Array): void {
    const existing = this.conns.get(connId);
    if (existing && (existing.sessionId !== null || existing.pending !== null)) {
      this.conns.delete(connId);
      this.close(connId, 'second connect frame on one connection');
      return;
    }
    if (!this.serving || !this.sink) {
      this.refuse(connId, 'NotServing', 'this server is not serving (electing or syncing with a leader): try another server');
      return;
    }
    if (frame.protocolVersion !== PROTOCOL_VERSION) {
      this.refuse(connId, 'BadArguments', `protocol version ${frame.protocolVersion} is not supported (server speaks ${PROTOCOL_VERSION})`);
      return;
    }
    if (frame.lastZxidSeen > this.lastApplied) {
      this.refuse(
        connId,
        'NotServing',
        `this server is behind the client (client saw zxid 0x${frame.lastZxidSeen.toString(16)}, server has 0x${this.lastApplied.toString(16)}): try another server`,
      );
      return;
    }
    if (frame.sessionId === 0n) {
      const id = this.allocateSessionId();
      const timeoutMs = clampTimeout(frame.timeoutMs, this.options.minSessionTimeoutMs, this.options.maxSessionTimeoutMs);
      this.conns.set(connId, { sessionId: null, pending: id });
      this.waiting.set(id, connId);
      this.sink.createSession(id, timeoutMs, newPasswd, now);
      return;
    }
    const s = this.sessions.get(frame.sessionId);
    if (!s || s.closing) {
      this.refuse(connId, 'SessionExpired', `session 0x${frame.sessionId.toString(16)} has expired`);
      return;
    }
    if (!samePasswd(s.passwd, frame.passwd)) {
      this.refuse(connId, 'AuthFailed', `wrong password for session 0x${frame.sessionId.toString(16)}`);
      return;
    }
    const prior = this.waiting.get(s.id);
    if (prior !== undefined && prior !== connId) {
      this.conns.delete(prior);
      this.close(prior, 'session moved to another connection');
    }
    this.conns.set(connId, { sessionId: null, pending: s.id });
    this.waiting.set(s.id, connId);
    this.sink.revalidate(s.id, now);
  }

  request(connId: number, frame: RequestFrame, now: number): void {
    const conn = this.conns.get(connId);
    const s = conn?.sessionId != null ? this.sessions.get(conn.sessionId) : undefined;
    if (!conn || !s || s.connId !== connId || !this.sink) {
      this.conns.delete(connId);
      this.close(connId, 'request on a connection without a session');
      return;
    }
    const sid = s.id;
    const { req, xid } = frame;
    const op = typeof (req as { op?: unknown } | null)?.op === 'number' ? (req as { op: number }).op : 0;
    this.sessions.touch(sid, now);
    this.sink.touch(sid, now);
    const problem = validateRequest(req);
    const reply = (err: ErrorCode, message: string) =>
      this.replies.push(sid, { kind: 'frame', connId, frame: responseFrame(xid, op, { err, message }) });
    if (s.closing) reply('SessionExpired', 'the session is closing');
    else if (problem !== null) reply('BadArguments', problem);
    else if (requestDataBytes(req) > this.options.maxDataBytes) {
      reply('RequestTooLarge', `request carries ${requestDataBytes(req)} bytes of data, the limit is ${this.options.maxDataBytes}`);
    } else this.dispatch(connId, sid, xid, req, now);
    this.replies.drain(sid);
  }

  private dispatch(connId: number, sid: bigint, xid: number, req: Request, now: number): void {
    const sink = this.sink!;
    switch (req.op) {
      case OpCode.closeSession:
      case OpCode.create:
      case OpCode.delete:
      case OpCode.setData:
      case OpCode.check:
      case OpCode.multi:
        this.replies.push(sid, { kind: 'write', connId, xid, op: req.op, zxid: -1n, frame: null, closeAfter: req.op === OpCode.closeSession });
        sink.submit(sid, xid, req, now);
        return;
      case OpCode.ping:
        this.replies.push(sid, { kind: 'frame', connId, frame: responseFrame(xid, req.op, { body: {} }) });
        return;
      case OpCode.sync:
        this.replies.push(sid, { kind: 'sync', connId, xid, path: req.path, target: null });
        sink.sync(sid, xid);
        return;
      default:
        this.replies.push(sid, { kind: 'read', connId, xid, req });
    }
  }

  disconnect(connId: number): void {
    const conn = this.conns.get(connId);
    this.conns.delete(connId);
    if (!conn) return;
    if (conn.pending !== null && this.waiting.get(conn.pending) === connId) this.waiting.delete(conn.pending);
    if (conn.sessionId === null) return;
    const s = this.sessions.get(conn.sessionId);
    if (s && s.connId === connId) {
      s.connId = null;
      this.watches.removeSession(s.id);
    }
  }

  /** Sessions whose client is connected here (a learner reports them to the leader as touched). */
  localSessions(): bigint[] {
    const out: bigint[] = [];
    for (const c of this.conns.values()) if (c.sessionId !== null) out.push(c.sessionId);
    return out;
  }

  // ---- frames -----------------------------------------------------------------------------

  private sendIfLive(connId: number, sid: bigint, frame: ServerFrame): void {
    if (this.conns.get(connId)?.sessionId === sid) this.send(connId, frame);
  }

  private sendConnected(connId: number, sid: bigint): void {
    const s = this.sessions.get(sid);
    if (!s) return;
    this.send(connId, {
      k: FrameKind.connected,
      protocolVersion: PROTOCOL_VERSION,
      timeoutMs: s.timeoutMs,
      sessionId: s.id,
      passwd: s.passwd,
      serverId: this.options.serverId,
      zxid: this.lastApplied,
      maxDataBytes: this.options.maxDataBytes,
    });
  }

  private send(connId: number, frame: ServerFrame): void {
    this.outbox.push({ kind: 'send', connId, frame });
  }

  private close(connId: number, reason: string): void {
    this.outbox.push({ kind: 'close', connId, reason });
  }

  private refuse(connId: number, err: ErrorCode, message: string): void {
    this.conns.delete(connId);
    this.send(connId, { k: FrameKind.connectRefused, err, message });
    this.close(connId, message);
  }

  private allocateSessionId(): bigint {
    for (;;) {
      this.nextSessionSeq += 1n;
      const id = this.options.sessionIdBase + this.nextSessionSeq;
      if (!this.sessions.get(id) && !this.waiting.has(id)) return id;
    }
  }
}
