import type { PeerMessage, Zxid } from '@zabkit/protocol';
import type { Txn } from '../txn.js';
import type { ZabOptions, StorageOp } from './api.js';
import type { CommittedLog } from './committed-log.js';
import type { Quorum } from './quorum.js';
import type { Replica } from './replica.js';

/** What a role (leader or learner) may use of the node that runs it. */
export interface NodeContext {
  readonly options: ZabOptions;
  readonly myId: number;
  readonly quorum: Quorum;
  readonly replica: Replica;
  /** The node's committed history window (for DIFF). */
  readonly history: CommittedLog;
  readonly observers: ReadonlySet<number>;
  /** Ticks since the node started. */
  readonly ticks: number;
  acceptedEpoch: number;
  currentEpoch: number;
  /** Highest zxid in this server's log. */
  lastLogged: Zxid;
  send(to: number, msg: PeerMessage): void;
  /** Sent only once every storage op issued so far is durable. */
  sendAfterStorage(to: number, msg: PeerMessage): void;
  /**
   * ACKs proposal `zxid` once durable. ACKs are cumulative, so one queued right after another to
   * the same peer replaces it: a group of proposals logged by one fsync is acked once.
   */
  ackAfterStorage(to: number, zxid: Zxid): void;
  storage(op: StorageOp): void;
  /** Applies a committed txn to the replica and the history window. */
  applyCommitted(txn: Txn): void;
  /** Leaves the current role and starts a new election. */
  goLooking(reason: string): void;
  log(msg: string): void;
}
