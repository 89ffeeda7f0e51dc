// A tiny in-test message pump driving several FastLeaderElection instances, and vote helpers.
import { makeZxid, PeerKind, type ServerState, type VoteMsg, type Zxid } from '@zabkit/protocol';
import { FastLeaderElection, type ElectionDecision, type Vote } from '../../src/core/zab/election.js';

export interface Env {
  from: number;
  to: number;
  msg: VoteMsg;
}

export interface ClusterOpts {
  voters: number[];
  observers?: number[];
  finalizeWaitTicks?: number;
  maxBackoffTicks?: number;
}

/**
 * Several elections wired by a FIFO message pump. Like the ZAB node, it calls
 * settle() as soon as an instance decides (unless autoSettle is off).
 */
export class Cluster {
  readonly nodes = new Map<number, FastLeaderElection>();
  readonly up = new Set<number>();
  readonly decisions = new Map<number, ElectionDecision[]>();
  readonly log: Env[] = [];
  readonly data = new Map<number, { zxid: Zxid; currentEpoch: number }>();
  queue: Env[] = [];
  drop: (e: Env) => boolean = () => false;
  autoSettle = true;

  constructor(opts: ClusterOpts) {
    const observers = opts.observers ?? [];
    for (const id of [...opts.voters, ...observers]) {
      this.nodes.set(
        id,
        new FastLeaderElection({
          myId: id,
          voters: opts.voters,
          observers,
          finalizeWaitTicks: opts.finalizeWaitTicks ?? 0,
          maxBackoffTicks: opts.maxBackoffTicks ?? 8,
        }),
      );
      this.decisions.set(id, []);
    }
  }

  node(id: number): FastLeaderElection {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  start(id: number, zxid: Zxid = 0n, currentEpoch = 0): void {
    this.up.add(id);
    this.data.set(id, { zxid, currentEpoch });
    this.node(id).lookForLeader({ zxid, currentEpoch });
    this.collect(id);
  }

  /** Back to LOOKING with the data it started with (what the node does when its leader is unreachable). */
  restart(id: number): void {
    const d = this.data.get(id) ?? { zxid: 0n, currentEpoch: 0 };
    this.start(id, d.zxid, d.currentEpoch);
  }

  /**
   * Plays the role of the later ZAB phases: a learner whose leader does not
   * lead, and a leader without a quorum of followers, look again. Returns how
   * many such rounds it took until the ensemble is stable.
   */
  stabilize(voters: number[], maxRounds = 50): number {
    for (let round = 0; round < maxRounds; round++) {
      this.runUntilDecided([...this.up].filter((id) => this.node(id).state === 'LOOKING'), 5000);
      const again = new Set<number>();
      for (const id of this.up) {
        const n = this.node(id);
        if (n.state !== 'LEADING') continue;
        const backing = voters.filter((v) => this.up.has(v) && this.node(v).currentVote().leader === id);
        if (backing.length * 2 <= voters.length) again.add(id);
      }
      for (const id of this.up) {
        const n = this.node(id);
        const leader = n.currentVote().leader;
        if (n.state !== 'LEADING' && (!this.up.has(leader) || this.node(leader).state !== 'LEADING' || again.has(leader))) again.add(id);
      }
      if (again.size === 0) return round;
      for (const id of again) this.restart(id);
      this.pump();
    }
    throw new Error(`not stable after ${maxRounds} rounds`);
  }

  crash(id: number): void {
    this.up.delete(id);
  }

  collect(id: number): void {
    const n = this.node(id);
    for (const { to, msg } of n.takeMessages()) {
      const e = { from: id, to, msg };
      this.log.push(e);
      this.queue.push(e);
    }
    const d = n.takeDecision();
    if (d !== null) {
      this.decisions.get(id)?.push(d);
      if (this.autoSettle) n.settle(d.state, d.vote);
    }
  }

  pump(maxDeliveries = 10_000): void {
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > maxDeliveries) throw new Error('message storm: the pump did not go quiet');
      const e = this.queue.shift() as Env;
      if (!this.up.has(e.to) || this.drop(e)) continue;
      this.node(e.to).receive(e.from, e.msg);
      this.collect(e.to);
    }
  }

  tick(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of this.up) {
        this.node(id).tick();
        this.collect(id);
      }
      this.pump();
    }
  }

  /** Ticks until every listed node decided; fails after maxTicks. */
  runUntilDecided(ids: number[], maxTicks = 500): number {
    this.pump();
    for (let t = 0; t <= maxTicks; t++) {
      if (ids.every((id) => (this.decisions.get(id)?.length ?? 0) > 0)) return t;
      this.tick();
    }
    const dump = [...this.nodes].map(([id, n]) => `${id}:${n.state}:${n.currentVote().leader}@${n.logicalClock} ${JSON.stringify(n, (_k, v) => (typeof v === 'bigint' ? Number(v) : v instanceof Map ? [...v] : v))}`).join('\n');
    throw new Error(`not decided after ${maxTicks} ticks: ${ids.filter((id) => this.decisions.get(id)?.length === 0).join(',')}\n${dump}`);
  }

  last(id: number): ElectionDecision | undefined {
    return this.decisions.get(id)?.at(-1);
  }

  decided(id: number): number {
    return this.decisions.get(id)?.length ?? 0;
  }
}

export const vote = (leader: number, zxid: Zxid, peerEpoch: number, electionEpoch: number, state: ServerState = 'LOOKING'): VoteMsg => ({
  k: PeerKind.vote,
  leader,
  zxid,
  peerEpoch,
  electionEpoch,
  state,
});

export const single = (myId: number, voters: number[], observers: number[] = [], finalizeWaitTicks = 0, maxBackoffTicks = 8): FastLeaderElection =>
  new FastLeaderElection({ myId, voters, observers, finalizeWaitTicks, maxBackoffTicks });

export const recipients = (msgs: Array<{ to: number }>): number[] => msgs.map((m) => m.to).sort((a, b) => a - b);
