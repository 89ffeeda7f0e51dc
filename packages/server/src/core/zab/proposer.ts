import { OpCode, counterExhausted, makeZxid, type ErrorCode, type Request, type Zxid } from '@zabkit/protocol';
import { Prep, type Prepped } from '../prep.js';
import { Reaper } from '../reaper.js';
import type { Txn, TxnBody } from '../txn.js';
import type { Replica } from './replica.js';

/**
 * The leader's half of the write path: checks each write against the tree
 * plus the proposals not yet applied, turns it into a txn with the next zxid,
 * and decides session expiry and container / TTL removal. What it proposes
 * goes to `broadcast`.
 */
export class Proposer {
  private readonly prep: Prep;
  private readonly reaper: Reaper;
  private counter = 0;
  /** Which server a session's client is on, for SessionMoved. */
  private readonly owners = new Map<bigint, number>();
  lastProposed: Zxid;

  constructor(
    private readonly replica: Replica,
    readonly epoch: number,
    containerCheckIntervalMs: number,
    private readonly broadcast: (txn: Txn) => void,
    /** Called when the zxid counter is exhausted: a new epoch needs a new election. */
    private readonly exhausted: () => void,
    now: number,
    /** Where the zxid counter starts (0 in production; tests start near the 32-bit limit). */
    startCounter = 0,
  ) {
    this.counter = startCounter;
    this.prep = new Prep(replica.tree);
    this.reaper = new Reaper(containerCheckIntervalMs);
    this.reaper.rebuild(replica.tree);
    replica.tree.onCandidate = (p) => this.reaper.note(p);
    // Nothing of this epoch is proposed yet: a sync now needs only what the leader already has
    // (makeZxid(epoch, 0) would hold every sync until the epoch's first write).
    this.lastProposed = replica.lastApplied;
    // A new leader gives every session a full timeout from now, as ZooKeeper does.
    for (const s of replica.sessions.all()) s.lastTouch = now;
  }

  /** The txn with this zxid was applied (prep drops its outstanding changes). */
  applied(zxid: Zxid): void {
    this.prep.applied(zxid);
  }

  setOwner(sessionId: bigint, serverId: number): void {
    this.owners.set(sessionId, serverId);
  }

  /** Validity check for a reconnecting session (and ownership moves to `serverId`). */
  revalidate(sessionId: bigint, serverId: number, now: number): boolean {
    const s = this.replica.sessions.get(sessionId);
    if (!s || s.closing) return false;
    this.owners.set(sessionId, serverId);
    this.replica.sessions.touch(sessionId, now);
    return true;
  }

  touch(sessionId: bigint, now: number): void {
    this.replica.sessions.touch(sessionId, now);
  }

  /** The server the session's client is on, as its creation or last revalidation recorded. */
  ownerOf(sessionId: bigint): number | undefined {
    return this.owners.get(sessionId);
  }

  /** A session id that exists, or was given out in this epoch (being created, or closed since). */
  sessionIdUsed(sessionId: bigint): boolean {
    return this.owners.has(sessionId) || this.replica.sessions.get(sessionId) !== undefined;
  }

  /** Answers a write with `err` through the log, as prep answers a failed one. */
  reject(sessionId: bigint, cxid: number, err: ErrorCode, now: number): void {
    this.propose(sessionId, cxid, { type: 'error', err }, now);
  }

  createSession(sessionId: bigint, timeoutMs: number, passwd: Uint8Array, origin: number, now: number): void {
    this.owners.set(sessionId, origin);
    this.propose(sessionId, 0, { type: 'createSession', timeoutMs, passwd }, now);
  }

  submit(sessionId: bigint, cxid: number, req: Request, origin: number, now: number): void {
    const owner = this.owners.get(sessionId);
    if (owner !== undefined && owner !== origin) {
      this.propose(sessionId, cxid, { type: 'error', err: 'SessionMoved' }, now);
      return;
    }
    if (!this.replica.sessions.get(sessionId)) {
      this.propose(sessionId, cxid, { type: 'error', err: 'SessionExpired' }, now);
      return;
    }
    if (req.op === OpCode.closeSession) {
      const s = this.replica.sessions.get(sessionId);
      if (s) s.closing = true;
      this.propose(sessionId, cxid, (z) => this.prep.prepCloseSession(sessionId, z), now);
      return;
    }
    if (req.op === OpCode.create || req.op === OpCode.delete || req.op === OpCode.setData || req.op === OpCode.check || req.op === OpCode.multi) {
      this.propose(sessionId, cxid, (z) => this.prep.prepWrite(sessionId, req, z), now);
      return;
    }
    this.propose(sessionId, cxid, { type: 'error', err: 'BadArguments' }, now);
  }

  /** Session expiry and container / TTL cleanup. */
  tick(now: number): void {
    for (const s of this.replica.sessions.expired(now)) {
      s.closing = true;
      this.propose(s.id, 0, (z) => this.prep.prepCloseSession(s.id, z), now);
    }
    for (const path of this.reaper.sweep(this.replica.tree, now, (p) => this.prep.hasPending(p))) {
      this.propose(0n, 0, (z) => {
        const p = this.prep.prepWrite(0n, { op: OpCode.delete, path, version: -1 }, z);
        return p.body.type === 'delete' ? p : null;
      }, now);
    }
  }

  get outstanding(): number {
    return this.prep.outstanding;
  }

  private propose(sessionId: bigint, cxid: number, make: TxnBody | ((z: Zxid) => Prepped | null), now: number): void {
    if (counterExhausted(makeZxid(this.epoch, this.counter))) {
      this.exhausted();
      return;
    }
    const zxid = makeZxid(this.epoch, this.counter + 1);
    const body = typeof make === 'function' ? make(zxid)?.body : make;
    if (body === undefined) return;
    this.counter += 1;
    this.lastProposed = zxid;
    this.broadcast({ hdr: { sessionId, cxid, zxid, time: now }, body });
  }
}
