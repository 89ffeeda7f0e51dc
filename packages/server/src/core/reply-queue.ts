import { FrameKind, OpCode, type Request, type ServerFrame, type Zxid } from '@zabkit/protocol';
import { responseFrame } from './final.js';
import type { ReadResult } from './reads.js';
import type { WatchEvent } from './watches.js';

/** A reply owed to a session, kept in request order (ZooKeeper's CommitProcessor queue). */
export type Owed =
  /** A write: ready once its txn is applied and `frame` is filled in. */
  | { kind: 'write'; connId: number; xid: number; op: number; zxid: Zxid; message?: string; frame: ServerFrame | null; closeAfter: boolean }
  /** An answer known at once (ping, a malformed request) that still waits its turn. */
  | { kind: 'frame'; connId: number; frame: ServerFrame }
  /** A read: executed against the tree when it reaches the head. */
  | { kind: 'read'; connId: number; xid: number; req: Request }
  /** A sync: answered once `target` is applied (null until the leader said how far). */
  | { kind: 'sync'; connId: number; xid: number; path: string; target: Zxid | null };

export interface ReplyContext {
  lastApplied(): Zxid;
  read(sessionId: bigint, req: Request): ReadResult;
  event(connId: number, sessionId: bigint, e: WatchEvent): void;
  /** Sends if the connection is still the session's. */
  send(connId: number, sessionId: bigint, frame: ServerFrame): void;
  /** Closes the connection after the closeSession reply. */
  closed(connId: number, sessionId: bigint): void;
}

/**
 * Per-session reply queues. A read waits behind its session's outstanding
 * writes, so a client sees its own writes and gets replies in request order;
 * other sessions are not held up.
 */
export class ReplyQueues {
  private readonly queues = new Map<bigint, Owed[]>();
  /** Sessions with a sync in their queue. */
  private readonly syncing = new Set<bigint>();

  constructor(private readonly ctx: ReplyContext) {}

  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  push(sid: bigint, item: Owed): void {
    let q = this.queues.get(sid);
    if (!q) this.queues.set(sid, (q = []));
    q.push(item);
    if (item.kind === 'sync') this.syncing.add(sid);
  }

  /** Fills in the reply to the write the session sent as `cxid` (a learner learns the zxid only on commit). */
  answerWriteByXid(sid: bigint, cxid: number, build: (w: Extract<Owed, { kind: 'write' }>) => ServerFrame): boolean {
    const item = this.queues.get(sid)?.find((o) => o.kind === 'write' && o.xid === cxid && o.frame === null);
    if (!item || item.kind !== 'write') return false;
    item.frame = build(item);
    return true;
  }

  /** The leader answered a forwarded sync: the reply waits until `target` is applied here. */
  setSyncTarget(sid: bigint, xid: number, target: Zxid): void {
    const item = this.queues.get(sid)?.find((o) => o.kind === 'sync' && o.xid === xid);
    if (item && item.kind === 'sync') item.target = target;
  }

  /** Every session with something owed (for failing them all when the server stops serving). */
  sessions(): bigint[] {
    return [...this.queues.keys()];
  }

  clear(): void {
    this.queues.clear();
    this.syncing.clear();
  }

  drop(sid: bigint): void {
    this.queues.delete(sid);
    this.syncing.delete(sid);
  }

  /** Drains the session's queue (if any) and every queue holding a sync: any applied txn may be the one a sync waits for. */
  drainAfterApply(sid: bigint | null): void {
    if (sid !== null) this.drain(sid);
    for (const s of this.syncing) this.drain(s);
  }

  /** Sends every reply at the head of the session's queue that is ready, in order. */
  drain(sid: bigint): void {
    const q = this.queues.get(sid);
    if (!q) return;
    while (q.length > 0) {
      const item = q[0] as Owed;
      let frame: ServerFrame;
      if (item.kind === 'write') {
        if (item.frame === null) break;
        frame = item.frame;
      } else if (item.kind === 'sync') {
        if (item.target === null || this.ctx.lastApplied() < item.target) break;
        frame = responseFrame(item.xid, OpCode.sync, { body: { path: item.path } });
      } else if (item.kind === 'read') {
        const r = this.ctx.read(sid, item.req);
        for (const e of r.events ?? []) this.ctx.event(item.connId, sid, e);
        frame = responseFrame(item.xid, item.req.op, r);
      } else {
        frame = item.frame;
      }
      q.shift();
      if (frame.k === FrameKind.response) frame.zxid = this.ctx.lastApplied();
      this.ctx.send(item.connId, sid, frame);
      if (item.kind === 'write' && item.closeAfter) {
        this.ctx.closed(item.connId, sid);
        q.length = 0;
      }
    }
    if (q.length === 0) this.drop(sid);
    else if (!q.some((o) => o.kind === 'sync')) this.syncing.delete(sid);
  }
}
