import { PeerKind, type ConnectFrame, type FollowerInfoMsg, type PeerMessage, type RequestFrame, type ServerRole, type Zxid } from '@zabkit/protocol';
import type { CoreOptions } from '../api.js';
import type { Txn } from '../txn.js';
import type { NodeReady, PeerEnvelope, StorageOp, ZabNodeApi, ZabOptions } from './api.js';
import { CommittedLog } from './committed-log.js';
import type { NodeContext } from './context.js';
import { FastLeaderElection } from './election.js';
import { Leader } from './leader.js';
import { Learner } from './learner.js';
import { Quorum } from './quorum.js';
import { Replica } from './replica.js';

/** ZooKeeper-like defaults for the replication settings. */
export function resolveZabOptions(core: CoreOptions, o: Partial<ZabOptions> = {}): ZabOptions {
  return {
    ...core,
    peers: o.peers ?? [{ id: core.serverId, role: 'participant' }],
    initLimit: o.initLimit ?? 10,
    syncLimit: o.syncLimit ?? 5,
    committedLogSize: o.committedLogSize ?? 500,
    finalizeWaitTicks: o.finalizeWaitTicks ?? 1,
    maxElectionBackoffTicks: o.maxElectionBackoffTicks ?? 30,
    maxSnapshotBytes: o.maxSnapshotBytes ?? 4 * 1024 * 1024 * 1024,
    ...(o.zxidCounterStart !== undefined ? { zxidCounterStart: o.zxidCounterStart } : {}),
  };
}

/**
 * One ZAB server as a pure state machine: election, then leader or learner,
 * with the replica (tree, sessions, watches, clients) underneath. Inputs go in
 * through the methods; everything to do comes out of takeReady().
 */
export class ZabNode implements ZabNodeApi, NodeContext {
  readonly myId: number;
  readonly quorum: Quorum;
  readonly replica: Replica;
  readonly history: CommittedLog;
  readonly observers: ReadonlySet<number>;
  private readonly election: FastLeaderElection;
  private readonly isObserver: boolean;
  private role_: Leader | Learner | null = null;
  private now_ = 0;
  ticks = 0;
  acceptedEpoch = 0;
  currentEpoch = 0;
  lastLogged: Zxid = 0n;
  private ready: NodeReady = emptyReady();
  /** The proposal ACK last queued, which the next one to the same peer may replace. */
  private lastAck: PeerEnvelope | null = null;
  /** FOLLOWERINFO that arrived while this server was still electing. */
  private readonly earlyFollowerInfo = new Map<number, FollowerInfoMsg>();
  private started = false;

  constructor(readonly options: ZabOptions) {
    this.myId = options.serverId;
    const voters = options.peers.filter((p) => p.role === 'participant').map((p) => p.id);
    this.observers = new Set(options.peers.filter((p) => p.role === 'observer').map((p) => p.id));
    if (!options.peers.some((p) => p.id === this.myId)) throw new Error(`server ${this.myId} is not in the peer list`);
    this.isObserver = this.observers.has(this.myId);
    this.quorum = new Quorum(voters);
    this.replica = new Replica(options);
    this.history = new CommittedLog(options.committedLogSize);
    this.election = new FastLeaderElection({
      myId: this.myId,
      voters,
      observers: [...this.observers],
      finalizeWaitTicks: options.finalizeWaitTicks,
      maxBackoffTicks: options.maxElectionBackoffTicks,
    });
  }

  // ---- NodeContext ---------------------------------------------------------------------

  send(to: number, msg: PeerMessage): void {
    this.ready.send.push({ to, msg });
  }

  sendAfterStorage(to: number, msg: PeerMessage): void {
    this.ready.sendAfterStorage.push({ to, msg });
  }

  ackAfterStorage(to: number, zxid: Zxid): void {
    const after = this.ready.sendAfterStorage;
    const ack: PeerEnvelope = { to, msg: { k: PeerKind.ack, zxid } };
    const i = after.length - 1;
    if (i >= 0 && after[i] === this.lastAck && after[i]!.to === to) after[i] = ack;
    else after.push(ack);
    this.lastAck = ack;
  }

  storage(op: StorageOp): void {
    const last = this.ready.storage[this.ready.storage.length - 1];
    // Consecutive appends travel as one op: one write, one fsync.
    if (op.kind === 'append' && last?.kind === 'append') last.txns.push(...op.txns);
    else this.ready.storage.push(op.kind === 'append' ? { kind: 'append', txns: [...op.txns] } : op);
  }

  applyCommitted(txn: Txn): void {
    this.replica.apply(txn);
    this.history.add(txn);
  }

  goLooking(reason: string): void {
    this.log(`LOOKING: ${reason}`);
    const tail = this.role_?.stop() ?? [];
    this.role_ = null;
    this.earlyFollowerInfo.clear();
    this.replica.stopServing(reason);
    this.replica.sink = null;
    // The log's uncommitted tail joins the state, as a restart replaying the log would do
    // (ZooKeeper reloads its database from disk here): if this server leads next, its history
    // is its whole log; if a new leader never committed these txns, its TRUNC reloads them away.
    // No client is served now, so nobody sees them before that.
    for (const txn of tail) if (txn.hdr.zxid > this.replica.lastApplied) this.applyCommitted(txn);
    this.election.lookForLeader({ zxid: this.lastLogged, currentEpoch: this.currentEpoch });
    this.pumpElection();
  }

  log(msg: string): void {
    this.ready.logs.push(`[${this.myId}] ${msg}`);
  }

  // ---- inputs -----------------------------------------------------------------------------

  restore(snapshotChunks: readonly Uint8Array[] | null, txns: readonly Txn[], epochs: { acceptedEpoch: number; currentEpoch: number }): void {
    this.loadSnapshot(snapshotChunks);
    for (const txn of txns) this.replay(txn);
    this.replayed();
    this.acceptedEpoch = epochs.acceptedEpoch;
    this.currentEpoch = epochs.currentEpoch;
  }

  reload(snapshotChunks: readonly Uint8Array[] | null): void {
    this.loadSnapshot(snapshotChunks);
  }

  reloaded(): void {
    this.replayed();
    if (this.role_ instanceof Learner) this.role_.reloaded();
  }

  /** Shared by restore() and reload(); called directly so that code wrapping reload() sees only TRUNC reloads. */
  private loadSnapshot(snapshotChunks: readonly Uint8Array[] | null): void {
    this.replica.load(snapshotChunks);
    this.history.reset(this.replica.lastApplied);
  }

  /**
   * Applies one txn read back from the log after restore() / reload() (those the state already
   * holds are skipped), so that a long log can be applied as it is read; call replayed() (reloaded()
   * after a reload) after the last.
   */
  replay(txn: Txn): void {
    if (txn.hdr.zxid > this.replica.lastApplied) this.applyCommitted(txn);
  }

  /** Ends a replay: everything applied is also what the log holds. */
  replayed(): void {
    this.lastLogged = this.replica.lastApplied;
  }

  start(now: number): void {
    if (this.started) return;
    this.started = true;
    this.now_ = now;
    this.goLooking('starting up');
  }

  step(from: number, msg: PeerMessage, now: number): void {
    this.now_ = now;
    if (msg.k === PeerKind.vote) {
      this.election.receive(from, msg);
      this.pumpElection();
      return;
    }
    if (!this.role_) {
      // A learner that decided before us is already asking to follow; keep its latest
      // FOLLOWERINFO for when we lead instead of making it wait for a resend.
      if (msg.k === PeerKind.followerInfo) this.earlyFollowerInfo.set(from, msg);
      return;
    }
    this.role_.handle(from, msg);
  }

  peerDisconnected(sid: number, now: number): void {
    this.now_ = now;
    this.earlyFollowerInfo.delete(sid);
    this.role_?.peerDisconnected(sid);
  }

  tick(now: number): void {
    this.now_ = now;
    this.ticks++;
    if (!this.role_) {
      this.election.tick();
      this.pumpElection();
      return;
    }
    if (this.role_ instanceof Leader) this.role_.tick(now);
    else this.role_.tick();
  }

  connect(connId: number, frame: ConnectFrame, now: number, newPasswd: Uint8Array): void {
    this.now_ = now;
    this.replica.connect(connId, frame, now, newPasswd);
  }

  request(connId: number, frame: RequestFrame, now: number): void {
    this.now_ = now;
    this.replica.request(connId, frame, now);
  }

  disconnect(connId: number, now: number): void {
    this.now_ = now;
    this.replica.disconnect(connId);
  }

  takeReady(): NodeReady {
    const r = this.ready;
    r.outbox.push(...this.replica.takeOutbox());
    this.ready = emptyReady();
    return r;
  }

  // ---- queries --------------------------------------------------------------------------

  role(): ServerRole {
    if (this.role_ instanceof Leader) return this.role_.isEstablished ? 'leader' : 'looking';
    if (this.role_ instanceof Learner) return this.role_.isServing ? (this.role_.observer ? 'observer' : 'follower') : 'looking';
    return 'looking';
  }

  leaderId(): number | null {
    if (this.role_ instanceof Leader) return this.role_.isEstablished ? this.myId : null;
    if (this.role_ instanceof Learner) return this.role_.isServing ? this.role_.leaderId : null;
    return null;
  }

  lastLoggedZxid(): Zxid {
    return this.lastLogged;
  }

  lastAppliedZxid(): Zxid {
    return this.replica.lastApplied;
  }

  status(): ReturnType<ZabNodeApi['status']> {
    const r = this.replica;
    const leader = this.role_ instanceof Leader ? this.role_ : null;
    const out: ReturnType<ZabNodeApi['status']> = {
      role: this.role(),
      epoch: this.currentEpoch,
      zxid: r.lastApplied,
      sessions: r.sessions.size,
      znodes: r.tree.size,
      watches: r.watches.count(),
      ephemerals: r.tree.ephemeralCount(),
      outstandingRequests: r.replies.size + (leader?.outstandingCount ?? 0),
      dataBytes: r.tree.dataBytes,
    };
    if (leader?.isEstablished) out.followers = leader.followers();
    return out;
  }

  snapshotChunks(): Iterable<Uint8Array> {
    return this.replica.snapshotChunks();
  }

  treeDigest(): string {
    return this.replica.tree.digest();
  }

  // ---- election --------------------------------------------------------------------------

  private pumpElection(): void {
    for (const m of this.election.takeMessages()) this.send(m.to, m.msg);
    const decision = this.election.takeDecision();
    if (!decision) return;
    this.election.settle(decision.state, decision.vote);
    for (const m of this.election.takeMessages()) this.send(m.to, m.msg);
    const now = () => this.now_;
    if (decision.state === 'LEADING') {
      this.log(`elected leader (round ${decision.electionEpoch}, zxid 0x${this.lastLogged.toString(16)})`);
      const leader = new Leader(this, now);
      this.role_ = leader;
      for (const [sid, info] of this.earlyFollowerInfo) leader.handle(sid, info);
      this.earlyFollowerInfo.clear();
    } else {
      this.earlyFollowerInfo.clear();
      this.role_ = new Learner(this, decision.leader, decision.state === 'OBSERVING' || this.isObserver, now);
    }
  }
}

function emptyReady(): NodeReady {
  return { storage: [], send: [], sendAfterStorage: [], outbox: [], logs: [] };
}

export type { PeerEnvelope };
