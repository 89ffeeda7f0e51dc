import { MAX_EPOCH, PeerKind, epochOf, type PeerMessage, type Zxid } from '@zabkit/protocol';
import { txnProblem } from '../txn-check.js';
import { decodeTxnForLog } from '../txn-codec.js';
import type { Txn } from '../txn.js';
import type { NodeContext } from './context.js';
import type { WriteSink } from './replica.js';
import { SnapAssembly } from './snap-assembly.js';

/** Node ticks between FOLLOWERINFO resends while the leader has not answered. */
const FOLLOWER_INFO_RESEND_TICKS = 3;

type Phase =
  /** FOLLOWERINFO sent, waiting for LEADERINFO. */
  | 'discovery'
  /** ACKEPOCH sent; receiving DIFF / TRUNC / SNAP and the txns after it. */
  | 'sync'
  /** A TRUNC is being applied to disk; leader messages wait for the reload. */
  | 'reloading'
  /** NEWLEADER acked; waiting for UPTODATE. */
  | 'synced'
  /** Serving clients. */
  | 'serving';

/**
 * A follower or an observer: discovery (FOLLOWERINFO -> LEADERINFO ->
 * ACKEPOCH), sync (log what the leader sends, persist currentEpoch, then ack
 * NEWLEADER), then broadcast (log + fsync each proposal, then ACK; apply
 * COMMITs in order). Observers get INFORMs and never ack.
 */
export class Learner {
  private phase: Phase = 'discovery';
  private lastHeard: number;
  /** Logged, not yet committed, in zxid order. */
  private readonly pending = new Map<Zxid, Txn>();
  private held: PeerMessage[] = [];
  private readonly touched = new Set<bigint>();
  private readonly syncs = new Map<number, { sessionId: bigint; xid: number }>();
  private nextSyncId = 1;
  private stopped = false;
  private readonly snap: SnapAssembly;

  constructor(
    private readonly ctx: NodeContext,
    readonly leaderId: number,
    readonly observer: boolean,
    private readonly now: () => number,
  ) {
    this.lastHeard = ctx.ticks;
    this.snap = new SnapAssembly(ctx.options.maxSnapshotBytes);
    this.sendFollowerInfo();
  }

  /** The leader may still be deciding: FOLLOWERINFO is resent until LEADERINFO comes (as a ZooKeeper learner redials). */
  private sendFollowerInfo(): void {
    this.infoSentAt = this.ctx.ticks;
    this.ctx.send(this.leaderId, { k: PeerKind.followerInfo, acceptedEpoch: this.ctx.acceptedEpoch, lastZxid: this.ctx.lastLogged, observer: this.observer });
  }

  private infoSentAt = 0;

  get isServing(): boolean {
    return this.phase === 'serving';
  }

  /** Stops; returns the txns logged but not yet committed, in zxid order. */
  stop(): Txn[] {
    this.stopped = true;
    const tail = [...this.pending.values()];
    this.pending.clear();
    return tail;
  }

  handle(from: number, msg: PeerMessage): void {
    if (this.stopped || from !== this.leaderId) return;
    if (this.phase !== 'discovery' || msg.k === PeerKind.leaderInfo) this.lastHeard = this.ctx.ticks;
    if (this.phase === 'reloading') {
      this.held.push(msg);
      return;
    }
    this.process(msg);
  }

  /** The runtime finished the TRUNC and reloaded the replica: go on with what waited. */
  reloaded(): void {
    if (this.phase !== 'reloading') return;
    this.phase = 'sync';
    const held = this.held;
    this.held = [];
    for (const m of held) {
      if (this.stopped) return;
      if ((this.phase as Phase) === 'reloading') this.held.push(m);
      else this.process(m);
    }
  }

  peerDisconnected(sid: number): void {
    if (sid === this.leaderId) this.ctx.goLooking(`lost the link to leader ${sid}`);
  }

  tick(): void {
    if (this.stopped) return;
    if (this.phase === 'discovery' && this.ctx.ticks - this.infoSentAt >= FOLLOWER_INFO_RESEND_TICKS) this.sendFollowerInfo();
    const limit = this.phase === 'serving' || this.phase === 'synced' ? this.ctx.options.syncLimit : this.ctx.options.initLimit;
    if (this.ctx.ticks - this.lastHeard > limit) this.ctx.goLooking(`leader ${this.leaderId} silent for more than ${limit} ticks`);
  }

  private process(msg: PeerMessage): void {
    const ctx = this.ctx;
    switch (msg.k) {
      case PeerKind.leaderInfo: {
        if (this.phase !== 'discovery') return;
        if (msg.newEpoch > MAX_EPOCH) {
          ctx.goLooking(`leader ${this.leaderId} proposed epoch ${msg.newEpoch}, above the largest epoch ${MAX_EPOCH}: refused`);
          return;
        }
        if (msg.newEpoch < ctx.acceptedEpoch) {
          ctx.goLooking(`leader ${this.leaderId} proposed epoch ${msg.newEpoch} below our accepted epoch ${ctx.acceptedEpoch}`);
          return;
        }
        if (msg.newEpoch > ctx.acceptedEpoch) {
          ctx.acceptedEpoch = msg.newEpoch;
          ctx.storage({ kind: 'acceptedEpoch', epoch: msg.newEpoch });
        }
        this.phase = 'sync';
        ctx.sendAfterStorage(this.leaderId, { k: PeerKind.ackEpoch, currentEpoch: ctx.currentEpoch, lastZxid: ctx.lastLogged });
        return;
      }
      case PeerKind.diff:
        return;
      case PeerKind.trunc:
        if (this.phase !== 'sync') return;
        ctx.log(`TRUNC from leader ${this.leaderId}: dropping logged txns above 0x${msg.zxid.toString(16)}`);
        this.pending.clear();
        this.phase = 'reloading';
        ctx.lastLogged = msg.zxid;
        ctx.storage({ kind: 'truncate', zxid: msg.zxid });
        return;
      case PeerKind.snap: {
        if (this.phase !== 'sync') return;
        const snap = this.snap.add(msg);
        if (snap === 'more') return;
        if (typeof snap === 'string') {
          ctx.goLooking(`leader ${this.leaderId}: ${snap}`);
          return;
        }
        ctx.log(`SNAP from leader ${this.leaderId} at 0x${snap.zxid.toString(16)} (${snap.chunks.length} chunk(s))`);
        this.pending.clear();
        ctx.storage({ kind: 'installSnapshot', zxid: snap.zxid, chunks: snap.chunks });
        ctx.replica.load(snap.chunks);
        ctx.history.reset(snap.zxid);
        ctx.lastLogged = snap.zxid;
        return;
      }
      case PeerKind.proposal: {
        if (this.phase === 'discovery' || msg.zxid <= ctx.lastLogged) return;
        const txn = this.checkedTxn(msg.zxid, msg.txn);
        if (!txn) return;
        this.pending.set(msg.zxid, txn);
        ctx.lastLogged = msg.zxid;
        ctx.storage({ kind: 'append', txns: [txn] });
        if (!this.observer && (this.phase === 'synced' || this.phase === 'serving')) {
          ctx.ackAfterStorage(this.leaderId, msg.zxid);
        }
        return;
      }
      case PeerKind.commit:
        this.commitThrough(msg.zxid);
        return;
      case PeerKind.inform: {
        if (this.phase !== 'synced' && this.phase !== 'serving') return;
        if (msg.zxid <= ctx.lastLogged) return;
        const txn = this.checkedTxn(msg.zxid, msg.txn);
        if (!txn) return;
        ctx.lastLogged = msg.zxid;
        ctx.storage({ kind: 'append', txns: [txn] });
        ctx.applyCommitted(txn);
        return;
      }
      case PeerKind.newLeader: {
        if (this.phase !== 'sync') return;
        const epoch = epochOf(msg.zxid);
        // Order matters: the synced txns (already queued), then currentEpoch, then the ACK.
        ctx.currentEpoch = epoch;
        ctx.storage({ kind: 'currentEpoch', epoch });
        ctx.sendAfterStorage(this.leaderId, { k: PeerKind.ack, zxid: msg.zxid });
        this.phase = 'synced';
        return;
      }
      case PeerKind.upToDate:
        if (this.phase !== 'synced') return;
        this.phase = 'serving';
        ctx.log(`${this.observer ? 'observing' : 'following'} leader ${this.leaderId}, up to date at 0x${ctx.replica.lastApplied.toString(16)}`);
        ctx.replica.sink = this.sink();
        ctx.replica.serving = true;
        return;
      case PeerKind.ping:
        ctx.send(this.leaderId, { k: PeerKind.ping, touches: [...this.touched] });
        this.touched.clear();
        return;
      case PeerKind.syncReply: {
        const s = this.syncs.get(msg.id);
        if (!s) return;
        this.syncs.delete(msg.id);
        ctx.replica.syncTarget(s.sessionId, s.xid, msg.zxid);
        return;
      }
      case PeerKind.revalidateReply:
        ctx.replica.revalidated(msg.sessionId, msg.valid, this.now());
        return;
      default:
        return;
    }
  }

  /**
   * The txn of a PROPOSAL / INFORM, or null after dropping the leader: one that does not decode
   * or could not come from a correct leader's prep is neither logged nor applied.
   */
  private checkedTxn(zxid: Zxid, bytes: Uint8Array): Txn | null {
    let txn: Txn;
    try {
      txn = decodeTxnForLog(bytes);
    } catch (err) {
      this.ctx.goLooking(`leader ${this.leaderId} sent an undecodable txn 0x${zxid.toString(16)}: ${(err as Error)?.message ?? String(err)}`);
      return null;
    }
    const problem = txnProblem(txn, zxid, this.ctx.options.maxDataBytes);
    if (problem === null) return txn;
    this.ctx.goLooking(`leader ${this.leaderId} sent a bad txn 0x${zxid.toString(16)}: ${problem}`);
    return null;
  }

  /** Applies, in order, every logged proposal up to `zxid`. */
  private commitThrough(zxid: Zxid): void {
    for (const [z, txn] of this.pending) {
      if (z > zxid) break;
      this.pending.delete(z);
      this.ctx.applyCommitted(txn);
    }
  }

  private sink(): WriteSink {
    const ctx = this.ctx;
    const leader = this.leaderId;
    return {
      createSession: (sessionId, timeoutMs, passwd) =>
        ctx.send(leader, { k: PeerKind.request, sessionId, cxid: 0, req: { op: 'createSession', timeoutMs, passwd } }),
      revalidate: (sessionId) => ctx.send(leader, { k: PeerKind.revalidate, sessionId }),
      submit: (sessionId, cxid, req) => ctx.send(leader, { k: PeerKind.request, sessionId, cxid, req }),
      sync: (sessionId, xid) => {
        const id = this.nextSyncId++;
        this.syncs.set(id, { sessionId, xid });
        ctx.send(leader, { k: PeerKind.sync, id });
      },
      touch: (sessionId) => {
        this.touched.add(sessionId);
      },
    };
  }
}
