import { PeerKind, type ServerState, type VoteMsg, type Zxid } from '@zabkit/protocol';
import { beats, copyVote, countVoters, isQuorum, sameVote, type SeenVote, type Vote } from './election-order.js';

export type { Vote } from './election-order.js';
export { beats as voteBeats } from './election-order.js';

export interface ElectionOptions {
  /** This server's id. */
  myId: number;
  /** Participant ids (may include myId). Only their votes count. */
  voters: number[];
  /** Observer ids: they are told about votes and learn the leader, but never count. */
  observers: number[];
  /** Ticks to wait for a better vote once a quorum agrees (>= 0; 0 = decide at once). */
  finalizeWaitTicks: number;
  /** Cap for the resend backoff, in ticks (the first resend comes after 1 tick, then 2, 4, ...). */
  maxBackoffTicks: number;
}

export type SettledState = 'LEADING' | 'FOLLOWING' | 'OBSERVING';

export interface ElectionDecision {
  leader: number;
  state: SettledState;
  vote: Vote;
  electionEpoch: number;
}

type Phase = 'idle' | 'looking' | 'decided' | 'settled';

/**
 * ZooKeeper-style fast leader election as a pure state machine: inputs are
 * `lookForLeader`, `receive` and `tick`; outputs are `takeMessages` and
 * `takeDecision`. Loop freedom: while looking, a voter answers a LOOKING sender
 * only when that sender is behind (lower round) or is not a voter, and an
 * observer answers nobody; settled servers answer LOOKING senders only. The
 * only thing a reply can provoke is a broadcast that moves the receiver's
 * round or vote forward, so messages cannot bounce forever.
 */
export class FastLeaderElection {
  private readonly myId: number;
  private readonly voters: ReadonlySet<number>;
  private readonly known: ReadonlySet<number>;
  /** Every other server (voters then observers), in configuration order. */
  private readonly others: readonly number[];
  private readonly isVoter: boolean;
  private readonly finalizeWaitTicks: number;
  private readonly maxBackoffTicks: number;

  private clock = 0;
  private phase: Phase = 'idle';
  private settledState: SettledState | null = null;
  private initialVote: Vote = { leader: 0, zxid: 0n, peerEpoch: 0 };
  private proposal: Vote = { leader: 0, zxid: 0n, peerEpoch: 0 };
  /** Observer's own vote: a placeholder any voter's vote replaces. */
  private placeholder = false;
  /** Current-round notifications (voters only, this server included when it is a voter). */
  private readonly recv = new Map<number, SeenVote>();
  /** FOLLOWING / LEADING notifications since lookForLeader, any round (voters only). */
  private readonly outOfElection = new Map<number, SeenVote>();
  private finalizeLeft: number | null = null;
  private backoff = 1;
  private resendIn = 1;
  private outbox: Array<{ to: number; msg: VoteMsg }> = [];
  private decision: ElectionDecision | null = null;
  private decided: ElectionDecision | null = null;

  constructor(opts: ElectionOptions) {
    this.myId = opts.myId;
    this.voters = new Set(opts.voters);
    this.known = new Set([...opts.voters, ...opts.observers]);
    this.others = [...this.known].filter((id) => id !== opts.myId);
    this.isVoter = this.voters.has(opts.myId);
    this.finalizeWaitTicks = Math.max(0, Math.floor(opts.finalizeWaitTicks));
    this.maxBackoffTicks = Math.max(1, Math.floor(opts.maxBackoffTicks));
  }

  get logicalClock(): number {
    return this.clock;
  }

  get state(): ServerState {
    return this.phase === 'settled' && this.settledState !== null ? this.settledState : 'LOOKING';
  }

  currentVote(): Vote {
    return copyVote(this.proposal);
  }

  /** Enter LOOKING: new round, vote for self, tell every other server. */
  lookForLeader(self: { zxid: Zxid; currentEpoch: number }): void {
    this.clock++;
    this.phase = 'looking';
    this.settledState = null;
    this.decision = null;
    this.decided = null;
    this.recv.clear();
    this.outOfElection.clear();
    this.initialVote = { leader: this.myId, zxid: self.zxid, peerEpoch: self.currentEpoch };
    this.proposal = copyVote(this.initialVote);
    this.placeholder = !this.isVoter;
    this.startRound();
    this.checkLookingQuorum();
  }

  receive(from: number, msg: VoteMsg): void {
    if (msg.k !== PeerKind.vote || from === this.myId || !this.known.has(from)) return;
    if (this.phase === 'idle') return;
    if (this.phase === 'settled' || this.phase === 'decided') {
      if (msg.state === 'LOOKING') this.answer(from);
      return;
    }
    const seen: SeenVote = { vote: { leader: msg.leader, zxid: msg.zxid, peerEpoch: msg.peerEpoch }, electionEpoch: msg.electionEpoch, state: msg.state };
    if (!this.voters.has(from)) {
      // Observers never count; a voter still tells a looking observer what it knows.
      if (msg.state === 'LOOKING' && this.isVoter) this.answer(from);
      return;
    }
    if (!this.voters.has(msg.leader)) return;
    if (msg.state === 'LOOKING') this.receiveLooking(from, seen);
    else if (msg.state === 'LEADING' || msg.state === 'FOLLOWING') this.receiveEstablished(from, seen);
  }

  tick(): void {
    if (this.phase !== 'looking') return;
    if (this.finalizeLeft !== null) {
      this.finalizeLeft--;
      if (this.finalizeLeft <= 0) {
        this.finalizeLeft = null;
        if (this.lookingQuorum()) {
          this.decide(this.proposal, this.clock);
          return;
        }
      }
    }
    this.resendIn--;
    if (this.resendIn <= 0) {
      for (const to of this.resendTargets()) this.send(to, this.proposal, 'LOOKING');
      this.backoff = Math.min(this.backoff * 2, this.maxBackoffTicks);
      this.resendIn = this.backoff;
    }
  }

  /** Leave LOOKING; from now on looking peers are answered with this vote and state. */
  settle(state: SettledState, vote: Vote): void {
    this.phase = 'settled';
    this.settledState = state;
    this.proposal = copyVote(vote);
    this.placeholder = false;
    this.finalizeLeft = null;
    this.decided = null;
  }

  takeMessages(): Array<{ to: number; msg: VoteMsg }> {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** The decision reached since lookForLeader, handed out once (null until decided). */
  takeDecision(): ElectionDecision | null {
    const d = this.decision;
    this.decision = null;
    return d;
  }

  // ---- LOOKING peers -------------------------------------------------------

  private receiveLooking(from: number, n: SeenVote): void {
    if (n.electionEpoch > this.clock) {
      this.clock = n.electionEpoch;
      this.recv.clear();
      // An observer's own vote never competes: it always takes the voter's.
      this.proposal = !this.isVoter || beats(n.vote, this.initialVote) ? copyVote(n.vote) : copyVote(this.initialVote);
      this.placeholder = false;
      this.startRound();
    } else if (n.electionEpoch < this.clock) {
      // Behind: do not count it, but help it catch up (observers never answer).
      if (this.isVoter) this.answer(from);
      return;
    } else if (this.placeholder || beats(n.vote, this.proposal)) {
      this.adopt(n.vote);
    }
    this.recv.set(from, n);
    this.checkLookingQuorum();
  }

  /** A better vote in the current round: take it, tell everyone, restart the finalize wait. */
  private adopt(vote: Vote): void {
    this.proposal = copyVote(vote);
    this.placeholder = false;
    this.finalizeLeft = null;
    this.recordSelf();
    this.broadcast();
  }

  private lookingQuorum(): boolean {
    if (this.placeholder) return false;
    // Settled peers of this round that report the same vote count too.
    const agree = countVoters(this.recv, this.voters, (s) => sameVote(s.vote, this.proposal));
    return isQuorum(agree, this.voters.size);
  }

  private checkLookingQuorum(): void {
    if (this.phase !== 'looking' || this.finalizeLeft !== null || !this.lookingQuorum()) return;
    if (this.finalizeWaitTicks === 0) this.decide(this.proposal, this.clock);
    else this.finalizeLeft = this.finalizeWaitTicks;
  }

  // ---- FOLLOWING / LEADING peers (an established ensemble) -----------------

  private receiveEstablished(from: number, n: SeenVote): void {
    if (n.electionEpoch === this.clock) {
      this.recv.set(from, n);
      if (this.establishedQuorum(this.recv, n)) return;
    }
    this.outOfElection.set(from, n);
    if (this.establishedQuorum(this.outOfElection, n)) return;
    this.checkLookingQuorum();
  }

  /** Decides (and returns true) when a quorum of `set` backs n's leader and that leader is known to lead. */
  private establishedQuorum(set: ReadonlyMap<number, SeenVote>, n: SeenVote): boolean {
    const leader = n.vote.leader;
    const agree = countVoters(set, this.voters, (s) => (s.state === 'LOOKING' ? s.electionEpoch === n.electionEpoch && sameVote(s.vote, n.vote) : s.vote.leader === leader));
    if (!isQuorum(agree, this.voters.size)) return false;
    if (leader === this.myId) {
      // Others say we lead: only believable for the round we are in.
      if (n.electionEpoch !== this.clock) return false;
      this.decide(n.vote, n.electionEpoch);
      return true;
    }
    const own = set.get(leader);
    if (own === undefined || own.state !== 'LEADING' || own.vote.leader !== leader) return false;
    this.decide(own.vote, own.electionEpoch);
    return true;
  }

  // ---- plumbing ------------------------------------------------------------

  private decide(vote: Vote, electionEpoch: number): void {
    const leader = vote.leader;
    const state: SettledState = !this.isVoter ? 'OBSERVING' : leader === this.myId ? 'LEADING' : 'FOLLOWING';
    this.clock = electionEpoch;
    this.proposal = copyVote(vote);
    this.placeholder = false;
    this.finalizeLeft = null;
    this.phase = 'decided';
    const d: ElectionDecision = { leader, state, vote: copyVote(vote), electionEpoch };
    this.decided = d;
    this.decision = d;
  }

  /** A new round (lookForLeader or a higher round adopted): count self, tell all, reset backoff. */
  private startRound(): void {
    this.finalizeLeft = null;
    this.backoff = 1;
    this.resendIn = 1;
    this.recordSelf();
    this.broadcast();
  }

  private recordSelf(): void {
    if (this.isVoter) this.recv.set(this.myId, { vote: copyVote(this.proposal), electionEpoch: this.clock, state: 'LOOKING' });
  }

  private broadcast(): void {
    for (const to of this.others) this.send(to, this.proposal, 'LOOKING');
    this.resendIn = this.backoff;
  }

  /**
   * Who gets a resend: every other voter, even one that already agreed — it
   * may have decided since without us hearing it, and a settled server only
   * speaks when asked. Observers are left out: they never answer, and a looking
   * observer keeps asking the voters itself.
   */
  private resendTargets(): number[] {
    return this.others.filter((id) => this.voters.has(id));
  }

  /** Reply to one server with what we stand for now. */
  private answer(to: number): void {
    if (this.phase === 'settled' && this.settledState !== null) this.send(to, this.proposal, this.settledState);
    else if (this.phase === 'decided' && this.decided !== null) this.send(to, this.decided.vote, this.decided.state);
    else this.send(to, this.proposal, 'LOOKING');
  }

  private send(to: number, vote: Vote, state: ServerState): void {
    this.outbox.push({
      to,
      msg: { k: PeerKind.vote, leader: vote.leader, zxid: vote.zxid, peerEpoch: vote.peerEpoch, electionEpoch: this.clock, state },
    });
  }
}
