import type { ServerState, Zxid } from '@zabkit/protocol';

/** A proposal: who should lead, with that server's last logged zxid and currentEpoch. */
export interface Vote {
  leader: number;
  zxid: Zxid;
  peerEpoch: number;
}

/** One notification as the election keeps it: the sender's vote, round and state. */
export interface SeenVote {
  vote: Vote;
  electionEpoch: number;
  state: ServerState;
}

/** The election's total order: higher peerEpoch, then higher zxid, then higher server id. */
export function beats(a: Vote, b: Vote): boolean {
  if (a.peerEpoch !== b.peerEpoch) return a.peerEpoch > b.peerEpoch;
  if (a.zxid !== b.zxid) return a.zxid > b.zxid;
  return a.leader > b.leader;
}

export function sameVote(a: Vote, b: Vote): boolean {
  return a.leader === b.leader && a.zxid === b.zxid && a.peerEpoch === b.peerEpoch;
}

export function copyVote(v: Vote): Vote {
  return { leader: v.leader, zxid: v.zxid, peerEpoch: v.peerEpoch };
}

/** Strict majority of the voters. */
export function isQuorum(count: number, voterCount: number): boolean {
  return voterCount > 0 && count * 2 > voterCount;
}

/** How many voters in `set` satisfy `agrees`. */
export function countVoters(set: ReadonlyMap<number, SeenVote>, voters: ReadonlySet<number>, agrees: (s: SeenVote) => boolean): number {
  let n = 0;
  for (const [sid, seen] of set) if (voters.has(sid) && agrees(seen)) n++;
  return n;
}
