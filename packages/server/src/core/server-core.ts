import {
  DEFAULT_MAX_DATA_BYTES,
  FrameKind,
  OpCode,
  PROTOCOL_VERSION,
  counterExhausted,
  counterOf,
  epochOf,
  makeZxid,
  requestDataBytes,
  validateRequest,
  type ConnectFrame,
  type ErrorCode,
  type Request,
  type RequestFrame,
  type ServerFrame,
  type ServerStatus,
  type Zxid,
} from '@zabkit/protocol';
import type { CoreOptions, OutboxEntry, Ready, ServerCoreApi } from './api.js';
import { DataTree } from './data-tree.js';
import { eventFrame, responseFrame, writeResponse } from './final.js';
import { Prep, type Prepped } from './prep.js';
import { executeRead } from './reads.js';
import { Reaper } from './reaper.js';
import { SessionTable, clampTimeout, samePasswd } from './sessions.js';
import { readSnapshot, writeSnapshot } from './snapshot.js';
import type { Txn, TxnBody } from './txn.js';
import { ReplyQueues, type Owed } from './reply-queue.js';
import { WatchManager, type WatchEvent } from './watches.js';

/** Fills in CoreOptions defaults (ZooKeeper's: tickTime 2000, sessions 2..20 ticks, 1 MiB, containers every 60 s). */
export function resolveCoreOptions(o: Partial<CoreOptions> = {}): CoreOptions {
  const serverId = o.serverId ?? 1;
  const tickTimeMs = o.tickTimeMs ?? 2000;
  const out: CoreOptions = {
    serverId,
    tickTimeMs,
    minSessionTimeoutMs: o.minSessionTimeoutMs ?? 2 * tickTimeMs,
    maxSessionTimeoutMs: o.maxSessionTimeoutMs ?? 20 * tickTimeMs,
    maxDataBytes: o.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES,
    sessionIdBase: o.sessionIdBase ?? BigInt(serverId) << 56n,
    containerCheckIntervalMs: o.containerCheckIntervalMs ?? 60_000,
  };
  if (o.epoch !== undefined) out.epoch = o.epoch;
  return out;
}

interface Conn {
  sessionId: bigint | null;
}

/**
 * A standalone (cluster of one) server: prep -> persist -> persisted (quorum of
 * one) -> commit -> apply -> reply, on the write path the replicated cluster
 * uses. Pure: time comes in as `now`, every effect goes out through takeReady().
 */
export class ServerCore implements ServerCoreApi {
  readonly options: CoreOptions;
  private readonly tree = new DataTree();
  private readonly sessions = new SessionTable();
  private readonly watches = new WatchManager();
  private readonly prep = new Prep(this.tree);
  private readonly reaper: Reaper;
  private readonly conns = new Map<number, Conn>();
  private readonly replies = new ReplyQueues({
    lastApplied: () => this.lastApplied,
    read: (sid, req) => executeRead(this.tree, this.watches, sid, req),
    event: (connId, sid, e) => this.sendIfLive(connId, sid, eventFrame(this.lastApplied, e)),
    send: (connId, sid, frame) => this.sendIfLive(connId, sid, frame),
    closed: (connId, sid) => {
      if (this.conns.get(connId)?.sessionId === sid) this.close(connId, 'session closed');
    },
  });
  /** Proposed, not yet applied, in zxid order. */
  private inflight: Txn[] = [];
  /** createSession zxid -> the connection waiting for it. */
  private readonly creating = new Map<Zxid, number>();
  private readonly sessionIdsInFlight = new Set<bigint>();
  private persistQ: Txn[] = [];
  private outbox: OutboxEntry[] = [];
  private epoch: number;
  private counter = 0;
  private lastApplied: Zxid = 0n;
  private lastProposed: Zxid = 0n;
  private nextSessionSeq = 0n;

  constructor(options: Partial<CoreOptions> = {}) {
    this.options = resolveCoreOptions(options);
    this.epoch = this.options.epoch ?? 1;
    this.reaper = new Reaper(this.options.containerCheckIntervalMs);
    this.tree.onCandidate = (p) => this.reaper.note(p);
  }

  // ---- state loading -------------------------------------------------------

  restore(snapshotChunks: readonly Uint8Array[] | null, txns: readonly Txn[]): void {
    this.tree.reset();
    this.sessions.clear();
    this.prep.clear();
    let last: Zxid = 0n;
    if (snapshotChunks && snapshotChunks.length > 0) last = readSnapshot(snapshotChunks, this.tree, this.sessions);
    for (const txn of txns) {
      this.applyToState(txn);
      if (txn.hdr.zxid > last) last = txn.hdr.zxid;
    }
    this.lastApplied = last;
    this.lastProposed = last;
    const e = epochOf(last);
    if (e >= this.epoch) {
      this.epoch = e;
      this.counter = counterOf(last);
    } else {
      this.counter = 0;
    }
    this.reaper.rebuild(this.tree);
  }

  snapshotChunks(): Iterable<Uint8Array> {
    return writeSnapshot(this.lastApplied, this.tree, this.sessions);
  }

  treeDigest(): string {
    return this.tree.digest();
  }

  // ---- inputs ---------------------------------------------------------------

  connect(connId: number, frame: ConnectFrame, now: number, newPasswd: Uint8Array): void {
    const existing = this.conns.get(connId);
    if (existing && (existing.sessionId !== null || this.isCreating(connId))) {
      this.close(connId, 'second connect frame on one connection');
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
      this.conns.set(connId, { sessionId: null });
      const id = this.allocateSessionId();
      const timeoutMs = clampTimeout(frame.timeoutMs, this.options.minSessionTimeoutMs, this.options.maxSessionTimeoutMs);
      const txn = this.propose(id, 0, { type: 'createSession', timeoutMs, passwd: newPasswd }, now) as Txn;
      this.sessionIdsInFlight.add(id);
      this.creating.set(txn.hdr.zxid, connId);
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
    if (s.connId !== null && s.connId !== connId) {
      this.conns.delete(s.connId);
      this.close(s.connId, 'session moved to another connection');
    }
    // Watches belong to a connection; the client re-arms them with setWatches.
    this.watches.removeSession(s.id);
    s.connId = connId;
    this.conns.set(connId, { sessionId: s.id });
    this.sessions.touch(s.id, now);
    this.sendConnected(connId, s.id);
  }

  request(connId: number, frame: RequestFrame, now: number): void {
    const conn = this.conns.get(connId);
    const s = conn?.sessionId != null ? this.sessions.get(conn.sessionId) : undefined;
    if (!conn || !s || s.connId !== connId) {
      this.conns.delete(connId);
      this.close(connId, 'request on a connection without a session');
      return;
    }
    const sid = s.id;
    const req = frame.req;
    const xid = frame.xid;
    const op = typeof (req as { op?: unknown } | null)?.op === 'number' ? (req as { op: number }).op : 0;
    this.sessions.touch(sid, now);
    const problem = validateRequest(req);
    if (s.closing) {
      this.replies.push(sid, { kind: 'frame', connId, frame: responseFrame(xid, op, { err: 'SessionExpired', message: 'the session is closing' }) });
    } else if (problem !== null) {
      this.replies.push(sid, { kind: 'frame', connId, frame: responseFrame(xid, op, { err: 'BadArguments', message: problem }) });
    } else if (requestDataBytes(req) > this.options.maxDataBytes) {
      const message = `request carries ${requestDataBytes(req)} bytes of data, the limit is ${this.options.maxDataBytes}`;
      this.replies.push(sid, { kind: 'frame', connId, frame: responseFrame(xid, op, { err: 'RequestTooLarge', message }) });
    } else {
      this.dispatch(connId, sid, xid, req, now);
    }
    this.replies.drain(sid);
  }

  private dispatch(connId: number, sid: bigint, xid: number, req: Request, now: number): void {
    switch (req.op) {
      case OpCode.closeSession: {
        const s = this.sessions.get(sid);
        if (s) s.closing = true;
        const txn = this.propose(sid, xid, (z) => this.prep.prepCloseSession(sid, z), now) as Txn;
        this.replies.push(sid, { kind: 'write', connId, xid, op: req.op, zxid: txn.hdr.zxid, frame: null, closeAfter: true });
        return;
      }
      case OpCode.create:
      case OpCode.delete:
      case OpCode.setData:
      case OpCode.check:
      case OpCode.multi: {
        let message: string | undefined;
        const txn = this.propose(sid, xid, (z) => {
          const p = this.prep.prepWrite(sid, req, z);
          message = p.message;
          return p;
        }, now) as Txn;
        const item: Owed = { kind: 'write', connId, xid, op: req.op, zxid: txn.hdr.zxid, frame: null, closeAfter: false };
        if (message !== undefined) item.message = message;
        this.replies.push(sid, item);
        return;
      }
      case OpCode.ping:
        this.replies.push(sid, { kind: 'frame', connId, frame: responseFrame(xid, req.op, { body: {} }) });
        return;
      case OpCode.sync:
        this.replies.push(sid, { kind: 'sync', connId, xid, path: req.path, target: this.lastProposed });
        return;
      default:
        this.replies.push(sid, { kind: 'read', connId, xid, req });
    }
  }

  disconnect(connId: number, _now: number): void {
    const conn = this.conns.get(connId);
    this.conns.delete(connId);
    if (!conn || conn.sessionId === null) return;
    const s = this.sessions.get(conn.sessionId);
    if (s && s.connId === connId) {
      s.connId = null;
      this.watches.removeSession(s.id);
    }
  }

  persisted(zxid: Zxid, _now: number): void {
    while (this.inflight.length > 0 && (this.inflight[0] as Txn).hdr.zxid <= zxid) {
      this.commit(this.inflight.shift() as Txn);
    }
  }

  tick(now: number): void {
    for (const s of this.sessions.expired(now)) {
      s.closing = true;
      this.propose(s.id, 0, (z) => this.prep.prepCloseSession(s.id, z), now);
    }
    for (const path of this.reaper.sweep(this.tree, now, (p) => this.prep.hasPending(p))) {
      this.propose(0n, 0, (z) => {
        const p = this.prep.prepWrite(0n, { op: OpCode.delete, path, version: -1 }, z);
        return p.body.type === 'delete' ? p : null;
      }, now);
    }
  }

  takeReady(): Ready {
    const ready: Ready = { persist: this.persistQ, outbox: this.outbox };
    this.persistQ = [];
    this.outbox = [];
    return ready;
  }

  lastProposedZxid(): Zxid {
    return this.lastProposed;
  }

  lastAppliedZxid(): Zxid {
    return this.lastApplied;
  }

  status(): Pick<ServerStatus, 'zxid' | 'epoch' | 'sessions' | 'znodes' | 'watches' | 'ephemerals' | 'outstandingRequests' | 'dataBytes'> {
    return {
      zxid: this.lastApplied,
      epoch: this.epoch,
      sessions: this.sessions.size,
      znodes: this.tree.size,
      watches: this.watches.count(),
      ephemerals: this.tree.ephemeralCount(),
      outstandingRequests: this.inflight.length,
      dataBytes: this.tree.dataBytes,
    };
  }

  // ---- write path -------------------------------------------------------------

  /**
   * Assigns the next zxid, preps the body with it (or takes a ready one) and
   * queues the txn to persist. A prep that returns null proposes nothing.
   */
  private propose(sessionId: bigint, cxid: number, make: TxnBody | ((z: Zxid) => Prepped | null), now: number): Txn | null {
    if (counterExhausted(makeZxid(this.epoch, this.counter))) {
      // Standalone: a new epoch starts the counter again (a cluster would re-elect).
      this.epoch += 1;
      this.counter = 0;
    }
    const zxid = makeZxid(this.epoch, this.counter + 1);
    const body = typeof make === 'function' ? make(zxid)?.body : make;
    if (body === undefined) return null;
    this.counter += 1;
    const txn: Txn = { hdr: { sessionId, cxid, zxid, time: now }, body };
    this.inflight.push(txn);
    this.persistQ.push(txn);
    this.lastProposed = zxid;
    return txn;
  }

  /** Applies a committed txn to the tree and session table; returns the watch events it fires. */
  private applyToState(txn: Txn): { outcome: ReturnType<DataTree['applyTxn']>; events: WatchEvent[] } {
    const outcome = this.tree.applyTxn(txn);
    const { body, hdr } = txn;
    if (body.type === 'createSession') this.sessions.add(hdr.sessionId, body.timeoutMs, body.passwd, hdr.time);
    const events = this.watches.trigger(outcome.triggers);
    if (body.type === 'closeSession') this.sessions.remove(hdr.sessionId);
    return { outcome, events };
  }

  private commit(txn: Txn): void {
    const { hdr, body } = txn;
    const closing = body.type === 'closeSession' ? this.sessions.get(hdr.sessionId) : undefined;
    const { outcome, events } = this.applyToState(txn);
    this.lastApplied = hdr.zxid;
    this.prep.applied(hdr.zxid);
    for (const e of events) {
      const s = e.sessionId === hdr.sessionId && closing ? closing : this.sessions.get(e.sessionId);
      if (s && s.connId !== null && this.conns.get(s.connId)?.sessionId === s.id) {
        this.send(s.connId, eventFrame(hdr.zxid, e));
      }
    }
    if (body.type === 'createSession') {
      this.sessionIdsInFlight.delete(hdr.sessionId);
      const connId = this.creating.get(hdr.zxid);
      this.creating.delete(hdr.zxid);
      const conn = connId !== undefined ? this.conns.get(connId) : undefined;
      const s = this.sessions.get(hdr.sessionId);
      if (connId !== undefined && conn && s) {
        conn.sessionId = s.id;
        s.connId = connId;
        this.sendConnected(connId, s.id);
      }
    }
    const answered = this.replies.answerWrite(hdr.sessionId, hdr.zxid, (w) => writeResponse(w.xid, w.op, outcome, w.message));
    this.replies.drainAfterApply(hdr.sessionId);
    if (closing) {
      this.watches.removeSession(closing.id);
      if (closing.connId !== null) {
        const connId = closing.connId;
        if (!answered) this.close(connId, 'session expired');
        this.conns.delete(connId);
      }
      this.replies.drop(closing.id);
    }
  }

  // ---- replies ---------------------------------------------------------------

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

  private isCreating(connId: number): boolean {
    for (const c of this.creating.values()) if (c === connId) return true;
    return false;
  }

  private allocateSessionId(): bigint {
    for (;;) {
      this.nextSessionSeq += 1n;
      const id = this.options.sessionIdBase + this.nextSessionSeq;
      if (!this.sessions.get(id) && !this.sessionIdsInFlight.has(id)) return id;
    }
  }
}
