import { packArray } from './codec.js';
import type { Request } from './messages.js';
import type { Zxid } from './zxid.js';

/**
 * Messages between servers. Votes travel on the election port, everything
 * else on the quorum port; each link is one FIFO stream per pair of servers.
 * A link opens with a `hello` naming the sender; the core never sees it.
 */
export const PeerKind = {
  hello: 1,
  vote: 2,
  followerInfo: 10,
  leaderInfo: 11,
  ackEpoch: 12,
  diff: 13,
  trunc: 14,
  snap: 15,
  newLeader: 16,
  ack: 17,
  upToDate: 18,
  proposal: 19,
  commit: 20,
  inform: 21,
  ping: 22,
  request: 23,
  sync: 24,
  syncReply: 25,
  revalidate: 26,
  revalidateReply: 27,
  /** Several messages sent on one link within one turn of the event loop, as one ws frame. */
  batch: 28,
} as const;
export type PeerKind = (typeof PeerKind)[keyof typeof PeerKind];

export type ServerState = 'LOOKING' | 'LEADING' | 'FOLLOWING' | 'OBSERVING';

/**
 * First frame on every peer link, from the server that dialled. `nonce` (fresh random bytes) is the
 * dialer's half of the authentication handshake (see peer-handshake.ts).
 */
export interface HelloMsg { k: typeof PeerKind.hello; sid: number; channel: 'election' | 'quorum'; protocolVersion: number; nonce: Uint8Array }

/** A FastLeaderElection notification: the sender's current vote and state. */
export interface VoteMsg {
  k: typeof PeerKind.vote;
  /** Proposed leader. */
  leader: number;
  /** Proposed leader's last logged zxid. */
  zxid: Zxid;
  /** Proposed leader's currentEpoch. */
  peerEpoch: number;
  /** The sender's logical clock (election round). */
  electionEpoch: number;
  state: ServerState;
}

/** Learner -> leader when it starts following (observer: true for observers). */
export interface FollowerInfoMsg { k: typeof PeerKind.followerInfo; acceptedEpoch: number; lastZxid: Zxid; observer: boolean }
export interface LeaderInfoMsg { k: typeof PeerKind.leaderInfo; newEpoch: number }
export interface AckEpochMsg { k: typeof PeerKind.ackEpoch; currentEpoch: number; lastZxid: Zxid }
/** Sync: the learner's log is a prefix of the leader's; proposals + commits follow. */
export interface DiffMsg { k: typeof PeerKind.diff; lastZxid: Zxid }
/** Sync: drop every logged txn above `zxid`, then DIFF follows. */
export interface TruncMsg { k: typeof PeerKind.trunc; zxid: Zxid }
/**
 * Sync: replace everything with the snapshot taken at `zxid`, sent as one message per chunk
 * (`index` 0, 1, ... in order; `last` on the final one); proposals + commits after it follow.
 * The learner assembles the chunks and installs the snapshot with the last one.
 */
export interface SnapMsg { k: typeof PeerKind.snap; zxid: Zxid; index: number; last: boolean; chunk: Uint8Array }
/** End of sync; `zxid` = makeZxid(newEpoch, 0). The learner persists, sets currentEpoch, then ACKs it. */
export interface NewLeaderMsg { k: typeof PeerKind.newLeader; zxid: Zxid }
export interface AckMsg { k: typeof PeerKind.ack; zxid: Zxid }
export interface UpToDateMsg { k: typeof PeerKind.upToDate }
/** An encoded Txn (the core's txn codec), so the protocol does not depend on the server's txn shape. */
export interface ProposalMsg { k: typeof PeerKind.proposal; zxid: Zxid; txn: Uint8Array }
export interface CommitMsg { k: typeof PeerKind.commit; zxid: Zxid }
/** To observers: a committed proposal. */
export interface InformMsg { k: typeof PeerKind.inform; zxid: Zxid; txn: Uint8Array }
/** Leader -> learner heartbeat; learner -> leader reply carrying the sessions its clients touched. */
export interface PingMsg { k: typeof PeerKind.ping; touches: bigint[] }
/**
 * A client write (or session creation / close) forwarded to the leader.
 * `createSession` carries the session id the learner allocated and its passwd.
 */
export interface RequestMsg {
  k: typeof PeerKind.request;
  sessionId: bigint;
  cxid: number;
  req: Request | { op: 'createSession'; timeoutMs: number; passwd: Uint8Array };
}
export interface SyncMsg { k: typeof PeerKind.sync; id: number }
/** The leader's last proposed zxid when it saw the sync; the learner answers once it applied that far. */
export interface SyncReplyMsg { k: typeof PeerKind.syncReply; id: number; zxid: Zxid }
/** A session reconnected to this learner: is it alive, and note this learner as its owner. */
export interface RevalidateMsg { k: typeof PeerKind.revalidate; sessionId: bigint }
export interface RevalidateReplyMsg { k: typeof PeerKind.revalidateReply; sessionId: bigint; valid: boolean }

export type PeerMessage =
  | VoteMsg
  | FollowerInfoMsg
  | LeaderInfoMsg
  | AckEpochMsg
  | DiffMsg
  | TruncMsg
  | SnapMsg
  | NewLeaderMsg
  | AckMsg
  | UpToDateMsg
  | ProposalMsg
  | CommitMsg
  | InformMsg
  | PingMsg
  | RequestMsg
  | SyncMsg
  | SyncReplyMsg
  | RevalidateMsg
  | RevalidateReplyMsg;

/** Messages of one link in the order sent; never contains a hello or another batch. */
export interface BatchMsg { k: typeof PeerKind.batch; msgs: PeerMessage[] }

export type PeerFrame = HelloMsg | PeerMessage | BatchMsg;

// { k: PeerKind.batch, msgs: <array header follows> } as msgpack: fixmap(2), "k", 28, "msgs".
const BATCH_PREFIX = Uint8Array.from([0x82, 0xa1, 0x6b, PeerKind.batch, 0xa4, 0x6d, 0x73, 0x67, 0x73]);

/** A BatchMsg frame from already-encoded PeerMessages (concatenated, not re-encoded). */
export function encodeBatch(encoded: readonly Uint8Array[]): Uint8Array {
  return packArray(encoded, BATCH_PREFIX);
}

const PEER_KINDS = new Set<number>(Object.values(PeerKind));
export function isPeerFrame(v: unknown): v is PeerFrame {
  return v !== null && typeof v === 'object' && PEER_KINDS.has((v as { k?: unknown }).k as number);
}
