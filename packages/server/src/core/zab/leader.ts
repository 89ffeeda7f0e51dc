import { MAX_EPOCH, PeerKind, makeZxid, type PeerMessage, type Zxid } from '@zabkit/protocol';
import { encodeTxn } from '../txn-codec.js';
import type { Txn } from '../txn.js';
import type { NodeContext } from './context.js';
import { handleForwarded } from './forwarded.js';
import { Proposer } from './proposer.js';
import { snapMessages } from './snap-assembly.js';
import type { WriteSink } from './replica.js';

type Phase =
  /** FOLLOWERINFO received; LEADERINFO not yet sent (no epoch yet). */
  | 'info'
  /** LEADERINFO sent, waiting for ACKEPOCH. */
  | 'epoch'
  /** ACKEPOCH in; sync starts once a quorum acked the epoch. */
  | 'ackedEpoch'
  /** Sync and NEWLEADER sent, waiting for its ACK. */
  | 'syncing'
  /** Acked NEWLEADER; gets UPTODATE once the leader is established. */
  | 'synced';

interface LearnerHandler {
  sid: number;
  observer: boolean;
  phase: Phase;
  acceptedEpoch: number;
  currentEpoch: number;
  lastZxid: Zxid;
  lastHeard: number;
  upToDate: boolean;
}

/**
 * The leader: discovery (pick the new epoch from a quorum's acceptedEpochs),
 * synchronisation (DIFF / TRUNC / SNAP then NEWLEADER per learner), then
 * broadcast (PROPOSAL, quorum ACK after fsync, COMMIT / INFORM in zxid order).
 */
export class Leader {
  private readonly learners = new Map<number, LearnerHandler>();
  private newEpoch: number | null = null;
  private readonly epochReporters = new Map<number, number>();
  private readonly ackedEpoch = new Set<number>();
  private readonly ackedNewLeader = new Set<number>();
  private established = false;
  private readonly startedAt: number;
  private proposer: Proposer | null = null;
  /** Proposed, not yet committed, in zxid order. */
  private outstanding: Txn[] = [];
  /**
   * Per voter, the highest proposal it acked. ACKs are cumulative: a voter logs this leader's
   * proposals in the order sent (every outstanding one goes to a learner when it syncs), so an ACK
   * of z stands for every proposal up to z. One ACK per fsync then covers the whole group.
   */
  private readonly ackedThrough = new Map<number, Zxid>();
  private stopped = false;
  /** A quorum acked the new epoch; learners are synced as their ACKEPOCH arrives. */
  private syncStarted = false;
  /** No epoch is left to choose: go LOOKING at the next tick. */
  private epochExhausted = false;

  constructor(
    private readonly ctx: NodeContext,
    private readonly now: () => number,
  ) {
    this.startedAt = ctx.ticks;
    this.epochReporters.set(ctx.myId, ctx.acceptedEpoch);
    this.maybeChooseEpoch();
  }

  get isEstablished(): boolean {
    return this.established;
  }

  get epoch(): number | null {
    return this.newEpoch;
  }

  /** Ids of learners synced with this leader. */
  followers(): number[] {
    return [...this.learners.values()].filter((l) => l.phase === 'synced').map((l) => l.sid).sort((a, b) => a - b);
  }

  get outstandingCount(): number {
    return this.outstanding.length;
  }

  /** Stops; returns the proposals logged but not yet committed, in zxid order. */
  stop(): Txn[] {
    this.stopped = true;
    const tail = this.outstanding;
    this.outstanding = [];
    return tail;
  }

  // ---- inputs -------------------------------------------------------------------------

  handle(from: number, msg: PeerMessage): void {
    if (this.stopped) return;
    if (from === this.ctx.myId) {
      if (msg.k === PeerKind.ack) this.onAck(from, msg.zxid);
      return;
    }
    if (msg.k === PeerKind.followerInfo) {
      this.onFollowerInfo(from, msg.acceptedEpoch, msg.lastZxid, msg.observer);
      return;
    }
    const l = this.learners.get(from);
    if (!l) return;
    l.lastHeard = this.ctx.ticks;
    switch (msg.k) {
      case PeerKind.ackEpoch:
        this.onAckEpoch(l, msg.currentEpoch, msg.lastZxid);
        return;
      case PeerKind.ack:
        this.onAck(from, msg.zxid);
        return;
      case PeerKind.ping:
        if (this.proposer) for (const sid of msg.touches) this.proposer.touch(sid, this.now());
        return;
      case PeerKind.request:
        if (this.proposer) handleForwarded(this.ctx, this.proposer, from, msg.sessionId, msg.cxid, msg.req, this.now());
        return;
      case PeerKind.sync:
        if (this.proposer) this.ctx.send(from, { k: PeerKind.syncReply, id: msg.id, zxid: this.proposer.lastProposed });
        return;
      case PeerKind.revalidate: {
        const valid = this.proposer?.revalidate(msg.sessionId, from, this.now()) ?? false;
        this.ctx.send(from, { k: PeerKind.revalidateReply, sessionId: msg.sessionId, valid });
        return;
      }
      default:
        return;
    }
  }

  peerDisconnected(sid: number): void {
    // Its queued messages are lost: it must start over with FOLLOWERINFO.
    this.learners.delete(sid);
  }

  tick(now: number): void {
    if (this.stopped) return;
    const { initLimit, syncLimit } = this.ctx.options;
    if (this.epochExhausted) {
      this.ctx.goLooking(`no epoch above ${MAX_EPOCH} to lead in`);
      return;
    }
    if (!this.established) {
      if (this.ctx.ticks - this.startedAt > initLimit) this.ctx.goLooking(`no quorum synced within initLimit (${initLimit} ticks)`);
      return;
    }
    for (const l of [...this.learners.values()]) {
      const limit = l.phase === 'synced' ? syncLimit : initLimit;
      if (this.ctx.ticks - l.lastHeard > limit) {
        this.ctx.log(`learner ${l.sid} silent for more than ${limit} ticks: dropping it`);
        this.learners.delete(l.sid);
        continue;
      }
      if (l.phase === 'syncing' || l.phase === 'synced') this.ctx.send(l.sid, { k: PeerKind.ping, touches: [] });
    }
    const live = [this.ctx.myId, ...[...this.learners.values()].filter((l) => l.phase === 'synced').map((l) => l.sid)];
    if (!this.ctx.quorum.containsQuorum(live)) {
      this.ctx.goLooking(`lost the quorum (synced voters: ${live.join(',')})`);
      return;
    }
    this.proposer?.tick(now);
  }

  // ---- discovery -------------------------------------------------------------------------

  private onFollowerInfo(sid: number, acceptedEpoch: number, lastZxid: Zxid, observer: boolean): void {
    const existing = this.learners.get(sid);
    // A resent FOLLOWERINFO (the learner had not heard LEADERINFO yet) changes nothing. Once it
    // acked the epoch, a FOLLOWERINFO (behind that ACKEPOCH on the FIFO link) means the learner
    // started over, e.g. it dropped us over a bad message without the link breaking: sync it again.
    if (existing && existing.phase === 'epoch' && existing.acceptedEpoch === acceptedEpoch && existing.lastZxid === lastZxid) return;
    const l: LearnerHandler = {
      sid,
      observer: observer || !this.ctx.quorum.isVoter(sid),
      phase: 'info',
      acceptedEpoch,
      currentEpoch: 0,
      lastZxid,
      lastHeard: this.ctx.ticks,
      upToDate: false,
    };
    this.learners.set(sid, l);
    this.ackedEpoch.delete(sid);
    this.ackedNewLeader.delete(sid);
    if (this.newEpoch !== null) {
      l.phase = 'epoch';
      this.ctx.sendAfterStorage(sid, { k: PeerKind.leaderInfo, newEpoch: this.newEpoch });
      return;
    }
    if (!l.observer && !(Number.isInteger(acceptedEpoch) && acceptedEpoch >= 0 && acceptedEpoch < MAX_EPOCH)) {
      // Its vote would make the next epoch overflow: lead without it rather than not at all.
      this.ctx.log(`ERROR: learner ${sid} reports acceptedEpoch ${acceptedEpoch} (the largest epoch is ${MAX_EPOCH}): not counting it`);
      this.learners.delete(sid);
      return;
    }
    if (!l.observer) this.epochReporters.set(sid, acceptedEpoch);
    this.maybeChooseEpoch();
  }

  private maybeChooseEpoch(): void {
    if (this.newEpoch !== null) return;
    // Our own epoch alone rules leading out: no need to wait for a quorum to find that out.
    const enough = this.ctx.quorum.containsQuorum(this.epochReporters.keys()) || this.ctx.acceptedEpoch >= MAX_EPOCH;
    if (!enough) return;
    if (this.epochExhausted) return;
    let highest = 0;
    for (const e of this.epochReporters.values()) if (e > highest) highest = e;
    if (highest >= MAX_EPOCH) {
      // Never chosen nor persisted: an epoch above 2^32-1 has no zxid, and would keep every server
      // from leading again. The next tick goes LOOKING (not here: this may run in the constructor).
      this.ctx.log(`ERROR: cannot choose an epoch above acceptedEpoch ${highest} (the largest epoch is ${MAX_EPOCH}); not leading`);
      this.epochExhausted = true;
      return;
    }
    this.newEpoch = highest + 1;
    this.ctx.log(`leading: new epoch ${this.newEpoch} from acceptedEpochs of ${[...this.epochReporters.keys()].join(',')}`);
    this.ctx.acceptedEpoch = this.newEpoch;
    this.ctx.storage({ kind: 'acceptedEpoch', epoch: this.newEpoch });
    for (const l of this.learners.values()) {
      l.phase = 'epoch';
      this.ctx.sendAfterStorage(l.sid, { k: PeerKind.leaderInfo, newEpoch: this.newEpoch });
    }
    this.ackedEpoch.add(this.ctx.myId);
    this.maybeStartSync();
  }

  private onAckEpoch(l: LearnerHandler, currentEpoch: number, lastZxid: Zxid): void {
    if (l.phase !== 'epoch') return;
    l.currentEpoch = currentEpoch;
    l.lastZxid = lastZxid;
    if (currentEpoch > this.ctx.currentEpoch || (currentEpoch === this.ctx.currentEpoch && lastZxid > this.ctx.lastLogged)) {
      this.ctx.goLooking(`learner ${l.sid} has a newer history (epoch ${currentEpoch}, zxid 0x${lastZxid.toString(16)}): abandoning leadership`);
      return;
    }
    l.phase = 'ackedEpoch';
    if (!l.observer) this.ackedEpoch.add(l.sid);
    if (this.syncStarted) this.syncLearner(l);
    else this.maybeStartSync();
  }

  private maybeStartSync(): void {
    if (this.syncStarted || this.newEpoch === null || !this.ctx.quorum.containsQuorum(this.ackedEpoch)) return;
    this.syncStarted = true;
    // The leader's own history becomes the new epoch's: record currentEpoch, then count our own NEWLEADER ack.
    this.ctx.currentEpoch = this.newEpoch;
    this.ctx.storage({ kind: 'currentEpoch', epoch: this.newEpoch });
    this.ctx.sendAfterStorage(this.ctx.myId, { k: PeerKind.ack, zxid: this.newLeaderZxid() });
    for (const l of this.learners.values()) if (l.phase === 'ackedEpoch') this.syncLearner(l);
  }

  private newLeaderZxid(): Zxid {
    return makeZxid(this.newEpoch ?? 0, 0);
  }

  // ---- synchronisation -----------------------------------------------------------------------

  private syncLearner(l: LearnerHandler): void {
    const plan = this.ctx.history.planSync(l.lastZxid);
    const send = (msg: PeerMessage) => this.ctx.send(l.sid, msg);
    // TRUNC and SNAP make the learner drop what it logged above the sync point, including any
    // outstanding proposal it acked before it (re)connected: those acks no longer stand for a
    // durable copy. It logs and acks them again after NEWLEADER.
    const keptUpTo = plan.kind === 'trunc' ? plan.to : plan.kind === 'snap' ? this.ctx.replica.lastApplied : null;
    const acked = this.ackedThrough.get(l.sid);
    if (keptUpTo !== null && acked !== undefined && acked > keptUpTo) this.ackedThrough.set(l.sid, keptUpTo);
    if (plan.kind === 'snap') {
      const zxid = this.ctx.replica.lastApplied;
      this.ctx.log(`sync ${l.sid}: SNAP at 0x${zxid.toString(16)} (learner at 0x${l.lastZxid.toString(16)})`);
      for (const m of snapMessages(zxid, this.ctx.replica.snapshotChunks())) send(m);
    } else {
      if (plan.kind === 'trunc') {
        this.ctx.log(`sync ${l.sid}: TRUNC to 0x${plan.to.toString(16)} then ${plan.txns.length} txn(s)`);
        send({ k: PeerKind.trunc, zxid: plan.to });
      } else {
        if (plan.txns.length > 0) this.ctx.log(`sync ${l.sid}: DIFF of ${plan.txns.length} txn(s) from 0x${l.lastZxid.toString(16)}`);
        send({ k: PeerKind.diff, lastZxid: this.ctx.history.last });
      }
      for (const txn of plan.txns) {
        send({ k: PeerKind.proposal, zxid: txn.hdr.zxid, txn: encodeTxn(txn) });
        send({ k: PeerKind.commit, zxid: txn.hdr.zxid });
      }
    }
    send({ k: PeerKind.newLeader, zxid: this.newLeaderZxid() });
    // Proposals still waiting for a quorum follow NEWLEADER; their COMMITs come as usual.
    if (!l.observer) for (const txn of this.outstanding) send({ k: PeerKind.proposal, zxid: txn.hdr.zxid, txn: encodeTxn(txn) });
    l.phase = 'syncing';
  }

  private onAck(from: number, zxid: Zxid): void {
    if (this.newEpoch !== null && zxid === this.newLeaderZxid()) {
      this.onNewLeaderAck(from);
      return;
    }
    if (!this.ctx.quorum.isVoter(from)) return;
    const before = this.ackedThrough.get(from);
    if (before === undefined || zxid > before) this.ackedThrough.set(from, zxid);
    this.commitReady();
  }

  private onNewLeaderAck(from: number): void {
    const l = this.learners.get(from);
    if (from !== this.ctx.myId) {
      if (!l || l.phase !== 'syncing') return;
      l.phase = 'synced';
    }
    if (this.ctx.quorum.isVoter(from)) this.ackedNewLeader.add(from);
    if (this.established) {
      if (l) this.upToDate(l);
      return;
    }
    if (!this.ackedNewLeader.has(this.ctx.myId) || !this.ctx.quorum.containsQuorum(this.ackedNewLeader)) return;
    this.established = true;
    this.ctx.log(`established leadership of epoch ${this.newEpoch} with ${[...this.ackedNewLeader].sort().join(',')}`);
    this.proposer = new Proposer(
      this.ctx.replica,
      this.newEpoch!,
      this.ctx.options.containerCheckIntervalMs,
      (txn) => this.broadcast(txn),
      () => this.ctx.goLooking('zxid counter exhausted: a new epoch is needed'),
      this.now(),
      this.ctx.options.zxidCounterStart,
    );
    for (const x of this.learners.values()) if (x.phase === 'synced') this.upToDate(x);
    const replica = this.ctx.replica;
    replica.sink = this.localSink(this.proposer);
    replica.serving = true;
  }

  private upToDate(l: LearnerHandler): void {
    if (l.upToDate) return;
    l.upToDate = true;
    this.ctx.send(l.sid, { k: PeerKind.upToDate });
  }

  // ---- broadcast ---------------------------------------------------------------------------

  private broadcast(txn: Txn): void {
    this.outstanding.push(txn);
    this.ctx.lastLogged = txn.hdr.zxid;
    this.ctx.storage({ kind: 'append', txns: [txn] });
    this.ctx.ackAfterStorage(this.ctx.myId, txn.hdr.zxid);
    const bytes = encodeTxn(txn);
    for (const l of this.learners.values()) {
      if (!l.observer && (l.phase === 'syncing' || l.phase === 'synced')) {
        this.ctx.send(l.sid, { k: PeerKind.proposal, zxid: txn.hdr.zxid, txn: bytes });
      }
    }
  }

  /**
   * Commits, in zxid order, every proposal a quorum of voters has logged. Observers get each txn
   * (INFORM); followers get one COMMIT for the newest, which commits everything before it too.
   */
  private commitReady(): void {
    let last: Zxid | null = null;
    while (this.outstanding.length > 0 && this.ctx.quorum.reachedBy(this.ackedThrough, this.outstanding[0]!.hdr.zxid)) {
      const txn = this.outstanding.shift()!;
      this.ctx.applyCommitted(txn);
      this.proposer?.applied(txn.hdr.zxid);
      last = txn.hdr.zxid;
      let bytes: Uint8Array | null = null;
      for (const l of this.learners.values()) {
        if (l.observer && (l.phase === 'syncing' || l.phase === 'synced')) {
          this.ctx.send(l.sid, { k: PeerKind.inform, zxid: txn.hdr.zxid, txn: (bytes ??= encodeTxn(txn)) });
        }
      }
    }
    if (last === null) return;
    for (const l of this.learners.values()) {
      if (!l.observer && (l.phase === 'syncing' || l.phase === 'synced')) this.ctx.send(l.sid, { k: PeerKind.commit, zxid: last });
    }
  }

  // ---- requests ------------------------------------------------------------------------------

  private localSink(proposer: Proposer): WriteSink {
    const me = this.ctx.myId;
    const replica = this.ctx.replica;
    return {
      createSession: (id, timeoutMs, passwd, now) => proposer.createSession(id, timeoutMs, passwd, me, now),
      revalidate: (id, now) => replica.revalidated(id, proposer.revalidate(id, me, now), now),
      submit: (sid, cxid, req, now) => proposer.submit(sid, cxid, req, me, now),
      sync: (sid, xid) => replica.syncTarget(sid, xid, proposer.lastProposed),
      touch: (sid, now) => proposer.touch(sid, now),
    };
  }
}
