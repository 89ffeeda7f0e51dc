import type { ConnectFrame, PeerMessage, RequestFrame, ServerRole, ServerStatus, Zxid } from '@zabkit/protocol';
import type { CoreOptions, OutboxEntry } from '../api.js';
import type { Txn } from '../txn.js';

/** One server of the ensemble as zoo.cfg lists it. */
export interface PeerConfig {
  id: number;
  role: 'participant' | 'observer';
}

export interface ZabOptions extends CoreOptions {
  /** Every server in the ensemble, this one included. */
  peers: PeerConfig[];
  /** Ticks a learner may take to connect and sync (zoo.cfg initLimit, default 10). */
  initLimit: number;
  /** Ticks a learner may lag or stay silent while following (zoo.cfg syncLimit, default 5). */
  syncLimit: number;
  /** Committed txns kept in memory for DIFF sync (ZooKeeper's commitLogCount, default 500). */
  committedLogSize: number;
  /** Ticks to wait for a better vote once a quorum agrees (default 1). */
  finalizeWaitTicks: number;
  /** Upper bound of the election resend backoff, in ticks (default 30). */
  maxElectionBackoffTicks: number;
  /** Largest SNAP a learner assembles, in bytes (default 4 GiB); a larger one drops that leader. */
  maxSnapshotBytes: number;
  /** Where a new leader's zxid counter starts (default 0; tests start near the 32-bit limit). */
  zxidCounterStart?: number;
}

/** Durable steps, executed by the runtime strictly in order. */
export type StorageOp =
  /** Append and fsync. */
  | { kind: 'append'; txns: Txn[] }
  /**
   * Drop every logged txn above `zxid` and every snapshot newer than it, then
   * reload (newest snapshot + log: `reload()`, `replay()` each txn, `reloaded()`);
   * the node holds further input from the leader until then.
   */
  | { kind: 'truncate'; zxid: Zxid }
  /** Durably store this snapshot (from SNAP) and drop logged txns above its zxid. */
  | { kind: 'installSnapshot'; zxid: Zxid; chunks: Uint8Array[] }
  | { kind: 'acceptedEpoch'; epoch: number }
  | { kind: 'currentEpoch'; epoch: number };

export interface PeerEnvelope {
  to: number;
  msg: PeerMessage;
}

/**
 * What the runtime must do after an input. Rules (the data-safety contract):
 * - `storage` runs in order; a later Ready's storage never overtakes an earlier one's;
 * - `send` may go out at once;
 * - `sendAfterStorage` goes out only once this Ready's storage (and all before it) is durable —
 *   this is how ACKs follow fsync. A message addressed to this node itself is delivered
 *   back through `step(selfId, msg)` (the leader's own ack);
 * - `outbox` (client frames) may go out at once.
 */
export interface NodeReady {
  storage: StorageOp[];
  send: PeerEnvelope[];
  sendAfterStorage: PeerEnvelope[];
  outbox: OutboxEntry[];
  /** Things worth an operator's log line (role changes, sync choices). */
  logs: string[];
}

export interface ZabNodeApi {
  /** Loads state from disk before start(). */
  restore(snapshotChunks: readonly Uint8Array[] | null, txns: readonly Txn[], epochs: { acceptedEpoch: number; currentEpoch: number }): void;
  /** Enters LOOKING and starts the first election. */
  start(now: number): void;
  /** A message from peer `from` (or from itself, see NodeReady). */
  step(from: number, msg: PeerMessage, now: number): void;
  /** The link to `sid` broke; messages in flight on it are lost. */
  peerDisconnected(sid: number, now: number): void;
  /**
   * After a `truncate` op: replaces all state with the newest snapshot on disk (null: none). The
   * log's txns after it follow through `replay()`, one at a time as they are read, then `reloaded()`.
   * No other input may reach the node in between: its state is half built.
   */
  reload(snapshotChunks: readonly Uint8Array[] | null): void;
  /** Applies one txn read back from the log after `restore()` or `reload()`. */
  replay(txn: Txn): void;
  /** The reload after a `truncate` op is complete: the learner goes on with what it held. */
  reloaded(): void;
  tick(now: number): void;
  connect(connId: number, frame: ConnectFrame, now: number, newPasswd: Uint8Array): void;
  request(connId: number, frame: RequestFrame, now: number): void;
  disconnect(connId: number, now: number): void;
  takeReady(): NodeReady;
  role(): ServerRole;
  /** Current leader id, or null while looking. */
  leaderId(): number | null;
  lastLoggedZxid(): Zxid;
  lastAppliedZxid(): Zxid;
  status(): Omit<ServerStatus, 'serverId' | 'version' | 'connections' | 'latency' | 'packetsReceived' | 'packetsSent' | 'uptimeMs'>;
  snapshotChunks(): Iterable<Uint8Array>;
  treeDigest(): string;
}
