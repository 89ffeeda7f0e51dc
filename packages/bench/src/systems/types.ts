export type SystemName = 'zabkit' | 'zookeeper' | 'etcd';
export const SYSTEMS: SystemName[] = ['zabkit', 'zookeeper', 'etcd'];

/** Settings a figure needs that differ from each system's defaults. */
export interface ClusterTuning {
  /**
   * Txns between snapshots (zabkit and ZooKeeper `snapCount`, etcd `--snapshot-count`); set it far above
   * a workload's count to keep that workload's txns in the log instead of folded into a snapshot.
   */
  snapCount?: number;
}

/** One connection (session) of a system's usual client. */
export interface KvClient {
  /** Create a new key that must not exist yet (ZooKeeper create; etcd txn "create_revision == 0 then put"). */
  create(key: string, value: Buffer): Promise<void>;
  /** Overwrite an existing key (setData / put). */
  set(key: string, value: Buffer): Promise<void>;
  /** Read a key (getData / serializable range). */
  get(key: string): Promise<void>;
  /** Make a lock handle for this client; `acquire` resolves with the release function. */
  lock(path: string): Promise<{ acquire(): Promise<() => Promise<void>>; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** A running cluster of one system, started and stopped by the bench. */
export interface Cluster {
  readonly system: SystemName;
  readonly size: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** pid of each node (index = node index 0..size-1), undefined while down. */
  pids(): (number | undefined)[];
  /** Index of the current leader (waits for one). */
  leader(timeoutMs?: number): Promise<number>;
  /** kill -9 node `i` and wait until it is gone. */
  kill(i: number): Promise<void>;
  /** Start node `i` again (after kill) and resolve once the process says/answers it is up. */
  startNode(i: number): Promise<void>;
  /** Resolves once every node is up and the cluster has a leader with all followers synced. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** A client connected to exactly the given nodes. */
  connect(nodes: number[]): Promise<KvClient>;
  /** Parent path/prefix under which the bench keeps its keys (created if needed). */
  prepare(client: KvClient): Promise<void>;
  /** Data directory of node `i` (snapshots and txn log / WAL are under it). */
  dataDir(i: number): string;
  /** What node `i` said about its recovery at its last start, if it says anything (zabkit: `recovered N txn(s) ...`). */
  recoveryNote(i: number): string | null;
}
