import type { ConnectFrame, RequestFrame, ServerFrame, ServerStatus, Zxid } from '@zabkit/protocol';
import type { Txn } from './txn.js';

/**
 * The contract between the pure core and the runtime (etcd raft's Ready style).
 *
 * The runtime feeds inputs (connections, requests, storage completions, clock
 * ticks) and after each input drains `takeReady()` and executes it:
 *   1. append `persist` to the txn log, fsync, then call `persisted(lastZxid)`;
 *   2. send `outbox` entries in order (a reply never leaves before the txn it
 *      answers was persisted: the core only emits write replies after commit).
 * Time enters only as the `now` argument (ms, the runtime's clock); the core
 * never reads a clock, never touches I/O, never uses Math.random.
 */
export type OutboxEntry =
  | { kind: 'send'; connId: number; frame: ServerFrame }
  /** Close the connection once the frames queued before this entry are sent. */
  | { kind: 'close'; connId: number; reason: string };

export interface Ready {
  /** Txns to append to the log and fsync, in zxid order. */
  persist: Txn[];
  /** Frames for connections, in the order they must be sent. */
  outbox: OutboxEntry[];
}

export interface CoreOptions {
  serverId: number;
  tickTimeMs: number;
  /** Default 2 x tickTime. */
  minSessionTimeoutMs: number;
  /** Default 20 x tickTime. */
  maxSessionTimeoutMs: number;
  /** Largest znode data / request data in bytes (default 1 MiB). */
  maxDataBytes: number;
  /** Start of this server's session id space: (serverId << 56) | (startup time << 24 >>> 8), as ZooKeeper. */
  sessionIdBase: bigint;
  /** How often (ms) containers and TTL nodes are checked for removal. */
  containerCheckIntervalMs: number;
  /** Epoch of the zxids this core proposes (standalone: default 1, or the restored log's epoch if higher). */
  epoch?: number;
}

export interface ServerCoreApi {
  /** Loads a snapshot (chunks produced by snapshotChunks) and replays txns after it. Before any other input. */
  restore(snapshotChunks: readonly Uint8Array[] | null, txns: readonly Txn[]): void;
  /** A client connection opened and sent its connect frame. `newPasswd`: fresh random bytes for a new session. */
  connect(connId: number, frame: ConnectFrame, now: number, newPasswd: Uint8Array): void;
  request(connId: number, frame: RequestFrame, now: number): void;
  /** The connection closed (any reason); its session lives on until it expires. */
  disconnect(connId: number, now: number): void;
  /** Every txn with zxid <= zxid is durable in the log. */
  persisted(zxid: Zxid, now: number): void;
  /** Clock tick: session expiry, container / TTL cleanup. Call at least every tickTime / 2. */
  tick(now: number): void;
  takeReady(): Ready;
  /** Last zxid proposed (logged or in flight). */
  lastProposedZxid(): Zxid;
  /** Last zxid applied to the tree. */
  lastAppliedZxid(): Zxid;
  /** Counts for the status frame. */
  status(): Pick<ServerStatus, 'zxid' | 'epoch' | 'sessions' | 'znodes' | 'watches' | 'ephemerals' | 'outstandingRequests' | 'dataBytes'>;
  /** Serialises the tree and session table as chunks (a snapshot at lastAppliedZxid()). */
  snapshotChunks(): Iterable<Uint8Array>;
  /** Hex digest of the tree (path, data, stat) — equal on replicas that applied the same txns. */
  treeDigest(): string;
}
