import type { ZabError } from '@zabkit/client';

/** Options of `LeaderLatch`. */
export interface LeaderLatchOptions {
  /**
   * This participant's id, stored in its latch node and reported by
   * `getLeader()` / `getParticipants()`. Required. Example: `{ id: os.hostname() }`.
   */
  id: string;
  /**
   * How long the client may stay `suspended` before leadership is dropped
   * (`notLeader`, the term's signal aborts). Leadership always drops at once on
   * session expiry, client close, or deletion of the latch node.
   *
   * Default: `0` = drop on any suspension (Curator's standard policy): while
   * disconnected nobody can tell whether the ensemble has already expired the
   * session and elected someone else. After `reconnected`, if the latch node
   * is still first, a NEW term starts with a larger fencing token.
   * Example: `{ lostAfterSuspendedMs: 2_000 }` to ride out short blips.
   */
  lostAfterSuspendedMs?: number;
}

/** One term of leadership. */
export interface LeaderTerm {
  /**
   * Increases with every term, across participants and across re-entries of
   * the same participant: the zxid of the write that opened the term (a
   * `setData` on the latch node, so it is also the node's `mzxid`). Storage
   * that remembers the highest token it has seen can refuse a stale leader.
   */
  readonly fencingToken: bigint;
  /** Aborts when this term ends (reason: a ZabError: ConnectionLoss, SessionExpired, Closed, NoNode). */
  readonly signal: AbortSignal;
  /** Full path of the latch node. */
  readonly node: string;
}

/** A participant as seen in the latch directory. */
export interface Participant {
  /** The `id` the participant gave. */
  id: string;
  /** Full path of its latch node. */
  node: string;
  /** True for the first node in sequence order, the leader (or the one about to lead). */
  isLeader: boolean;
}

/** Typed events of `LeaderLatch` (eventemitter3). */
export interface LeaderLatchEvents {
  /** This participant became leader: a new term. */
  isLeader: [term: LeaderTerm];
  /** The current term ended (suspension past the policy, expiry, close, node deleted). */
  notLeader: [reason: ZabError];
  /** A non-fatal problem the latch retried after (e.g. an unexpected error code). */
  error: [error: unknown];
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * Wait until the next participant has actually started its term before
   * resolving (graceful hand-over). Without it, `close()` resolves once our
   * latch node is deleted. Default: `false`. Example: `{ handOn: true, timeoutMs: 10_000 }`.
   */
  handOn?: boolean;
  /**
   * Aborts the hand-over wait (rejects with Aborted; the latch is closed anyway).
   * Default: none. Example: `{ handOn: true, signal: shutdown.signal }`.
   */
  signal?: AbortSignal;
  /**
   * Limit of the hand-over wait in ms (rejects with OperationTimeout; closed anyway).
   * Default: none (wait as long as it takes). Example: `{ handOn: true, timeoutMs: 10_000 }`.
   */
  timeoutMs?: number;
}
