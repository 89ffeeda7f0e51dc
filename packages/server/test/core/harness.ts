import {
  FrameKind,
  OpCode,
  PROTOCOL_VERSION,
  type ConnectedFrame,
  type CreateMode,
  type Data,
  type EventFrame,
  type Request,
  type ResponseFrame,
  type ServerFrame,
  type Stat,
  type Zxid,
} from '@zabkit/protocol';
import type { CoreOptions, Txn } from '../../src/core/index.js';
import { SingleNode } from './single-node.js';

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The harness's clock starts here. */
export const START_MS = 1_000_000;

/**
 * Drives a single-voter ZabNode (through SingleNode) like the runtime would:
 * after each input it drains takeReady(), "persists" the txns (when
 * autoPersist) and delivers outbox frames to per-connection inboxes.
 */
export class Harness {
  readonly core: SingleNode;
  now = START_MS;
  autoPersist = true;
  /** Every txn ever handed out to persist, in order (the "log"). */
  readonly log: Txn[] = [];
  readonly inbox = new Map<number, ServerFrame[]>();
  readonly closed = new Map<number, string>();
  private nextConn = 1;
  private passwdSeq = 1;

  /** A harness around a new node elected at START_MS, or around `core` (e.g. one from SingleNode.restore). */
  constructor(opts: Partial<CoreOptions> = {}, core?: SingleNode) {
    this.core = core ?? new SingleNode({ tickTimeMs: 100, ...opts }, START_MS);
    this.now = Math.max(this.now, this.core.now);
    this.flush();
  }

  /** Drains Ready; persists immediately when autoPersist is on. */
  flush(): void {
    for (;;) {
      const ready = this.core.takeReady();
      this.log.push(...ready.persist);
      for (const e of ready.outbox) {
        if (e.kind === 'send') {
          if (this.closed.has(e.connId)) throw new Error(`frame sent on closed connection ${e.connId}`);
          let box = this.inbox.get(e.connId);
          if (!box) this.inbox.set(e.connId, (box = []));
          box.push(e.frame);
        } else {
          this.closed.set(e.connId, e.reason);
        }
      }
      const last = ready.persist.at(-1);
      if (this.autoPersist && last) {
        this.core.persisted(last.hdr.zxid, this.now);
        continue;
      }
      if (ready.persist.length === 0 && ready.outbox.length === 0) return;
      if (!this.autoPersist) return;
    }
  }

  /** Persists everything proposed so far with one persisted() call (group commit). */
  persistAll(): void {
    this.flush();
    this.core.persisted(this.core.lastProposedZxid(), this.now);
    this.flush();
  }

  tick(advanceMs: number): void {
    this.now += advanceMs;
    this.core.tick(this.now);
    this.flush();
  }

  rawConnect(frame: Partial<{ sessionId: bigint; passwd: Uint8Array; timeoutMs: number; lastZxidSeen: Zxid }> = {}): number {
    const connId = this.nextConn++;
    const passwd = new Uint8Array(16).fill(this.passwdSeq++ & 0xff);
    this.core.connect(
      connId,
      {
        k: FrameKind.connect,
        protocolVersion: PROTOCOL_VERSION,
        lastZxidSeen: frame.lastZxidSeen ?? 0n,
        timeoutMs: frame.timeoutMs ?? 30_000,
        sessionId: frame.sessionId ?? 0n,
        passwd: frame.passwd ?? new Uint8Array(0),
      },
      this.now,
      passwd,
    );
    this.flush();
    return connId;
  }

  /** Opens a new session (or resumes one) and returns a client for it. */
  client(resume?: Client, lastZxidSeen: Zxid = 0n): Client {
    const connId = this.rawConnect(
      resume ? { sessionId: resume.sessionId, passwd: resume.passwd, timeoutMs: resume.timeoutMs, lastZxidSeen } : {},
    );
    const connected = this.frames(connId).find((f): f is ConnectedFrame => f.k === FrameKind.connected);
    if (!connected) throw new Error(`connect refused: ${JSON.stringify(this.frames(connId), bigintReplacer)}`);
    return new Client(this, connId, connected);
  }

  frames(connId: number): ServerFrame[] {
    return this.inbox.get(connId) ?? [];
  }
}

export const bigintReplacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `${v}n` : v);

export class Client {
  private xid = 0;
  readonly sessionId: bigint;
  readonly passwd: Uint8Array;
  readonly timeoutMs: number;
  /** Index into the inbox up to which frames were consumed by takeEvents(). */
  private seen = 0;

  constructor(
    readonly h: Harness,
    readonly connId: number,
    connected: ConnectedFrame,
  ) {
    this.sessionId = connected.sessionId;
    this.passwd = connected.passwd;
    this.timeoutMs = connected.timeoutMs;
    this.seen = h.frames(connId).length;
  }

  /** Sends a request without flushing; returns its xid. */
  send(req: Request | Record<string, unknown>): number {
    const xid = ++this.xid;
    this.h.core.request(this.connId, { k: FrameKind.request, xid, req: req as Request }, this.h.now);
    return xid;
  }

  response(xid: number): ResponseFrame | undefined {
    return this.h.frames(this.connId).find((f): f is ResponseFrame => f.k === FrameKind.response && f.xid === xid);
  }

  /** Sends, flushes (persisting when autoPersist), and returns the response. */
  call(req: Request | Record<string, unknown>): ResponseFrame {
    const xid = this.send(req);
    this.h.flush();
    const r = this.response(xid);
    if (!r) throw new Error(`no response to xid ${xid}`);
    return r;
  }

  /** All frames this connection received since the connected frame. */
  frames(): ServerFrame[] {
    return this.h.frames(this.connId);
  }

  /** Events received since the last takeEvents(), as "Type path". */
  takeEvents(): string[] {
    const all = this.frames();
    const out = all
      .slice(this.seen)
      .filter((f): f is EventFrame => f.k === FrameKind.event)
      .map((e) => `${e.type} ${e.path}`);
    this.seen = all.length;
    return out;
  }

  // ---- convenience ------------------------------------------------------------

  create(path: string, data: Data = null, mode: CreateMode = 'persistent', ttlMs?: number): ResponseFrame {
    const req: Record<string, unknown> = { op: OpCode.create, path, data, mode };
    if (ttlMs !== undefined) req.ttlMs = ttlMs;
    return this.call(req);
  }
  createdPath(path: string, mode: CreateMode = 'persistent', data: Data = null): string {
    const r = this.create(path, data, mode);
    if (r.err) throw new Error(`create ${path}: ${r.err}`);
    return (r.body as { path: string }).path;
  }
  delete(path: string, version = -1): ResponseFrame {
    return this.call({ op: OpCode.delete, path, version });
  }
  setData(path: string, data: Data, version = -1): ResponseFrame {
    return this.call({ op: OpCode.setData, path, data, version });
  }
  getData(path: string, watch = false): ResponseFrame {
    return this.call({ op: OpCode.getData, path, watch });
  }
  exists(path: string, watch = false): ResponseFrame {
    return this.call({ op: OpCode.exists, path, watch });
  }
  getChildren(path: string, watch = false): ResponseFrame {
    return this.call({ op: OpCode.getChildren, path, watch, withStat: false });
  }
  children(path: string): string[] {
    const r = this.getChildren(path);
    if (r.err) throw new Error(`getChildren ${path}: ${r.err}`);
    return (r.body as { children: string[] }).children;
  }
  stat(path: string): Stat | null {
    return (this.exists(path).body as { stat: Stat | null }).stat;
  }
  disconnect(): void {
    this.h.core.disconnect(this.connId, this.h.now);
    this.h.flush();
  }
}
