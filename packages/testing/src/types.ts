/** What every cluster runtime (containers or local processes) hands back. */

export type NodeRole = 'participant' | 'observer';

export interface ClusterNode {
  /** The server id (myid), 1-based; voters first, then observers. */
  readonly id: number;
  readonly role: NodeRole;
  /** The client port on 127.0.0.1. */
  readonly clientPort: number;
  /** `127.0.0.1:clientPort`. */
  readonly address: string;
  /** The current container id (docker runtime) or process id (process runtime); null while down. */
  readonly handle: string | null;
  /** Whether the node is up (a paused node counts as up). */
  isRunning(): boolean;
  /** Whether the node is frozen by `pause()`. */
  isPaused(): boolean;
  /** SIGKILL: no flush, no goodbye. Resolves once the server is gone. Its data dir is kept. */
  kill(): Promise<void>;
  /** Graceful stop (SIGTERM, SIGKILL after `timeoutMs`, default 10 s). Its data dir is kept. */
  stop(opts?: { timeoutMs?: number }): Promise<void>;
  /** Starts a node that is down, on the same port and data dir; resolves once it says it is ready. */
  start(): Promise<void>;
  /** `stop()` (or `kill()` with `hard`) then `start()`. */
  restart(opts?: { hard?: boolean }): Promise<void>;
  /** Freezes the server (docker pause / SIGSTOP): sockets stay open, nothing is answered. */
  pause(): Promise<void>;
  /** Thaws a paused server (docker unpause / SIGCONT). */
  unpause(): Promise<void>;
  /** Everything the server printed so far, over all its starts (each start is marked). */
  logs(): Promise<string>;
}

export interface Cluster extends AsyncDisposable {
  /** `docker` or `process`. */
  readonly runtime: 'docker' | 'process';
  /** The id every container of this cluster is labelled with (`zabkit.testing.run`). */
  readonly runId: string;
  /** `127.0.0.1:p1,127.0.0.1:p2,...` for `connect()`. */
  readonly connectString: string;
  readonly nodes: readonly ClusterNode[];
  node(id: number): ClusterNode;
  /**
   * Waits (polling server status) until exactly one node leads an established epoch, and returns
   * it. `exclude` leaves nodes out (e.g. a paused old leader that still believes it leads).
   */
  waitForLeader(opts?: { timeoutMs?: number; exclude?: number[]; minFollowers?: number }): Promise<ClusterNode>;
  /** Stops and removes every server (and container) of the cluster and deletes its data. Idempotent. */
  close(): Promise<void>;
}

export interface ClusterOptions {
  /** Voting servers (default 3). */
  nodes?: number;
  /** Observers on top of the voters (default 0). */
  observers?: number;
  /**
   * `docker` (default): one container per server via testcontainers. `process`: child processes on
   * this machine (no Docker needed). `auto`: docker when `dockerAvailable()`, else process.
   */
  runtime?: 'docker' | 'process' | 'auto';
  /**
   * Docker only. An image whose entrypoint is the zabkit CLI (e.g. built from
   * `packages/testing/Dockerfile`); it is run as `IMAGE server --config /zabkit/data/zoo.cfg --myid N`.
   * Default: a thin local image (`docker import`ed, no registry) that runs the host's node and the
   * installed zabkit CLI through read-only bind mounts.
   */
  image?: string;
  /** tickTime in ms written to zoo.cfg (default 200: quick elections and failure detection in tests). */
  tickTime?: number;
  /** Extra zoo.cfg lines for every server. */
  extraConfig?: Record<string, string | number>;
  /** How long a server may take to say it is ready, and the cluster to elect a leader (default 60 s). */
  startupTimeoutMs?: number;
  /** Extra labels on every container. */
  labels?: Record<string, string>;
  /** Called with every line a server prints. */
  onLog?: (id: number, line: string) => void;
  /** Docker only: extra read-only bind mounts (host path = container path) for the thin image. */
  mounts?: string[];
  /** Where per-node data dirs go (default: a fresh dir under the OS temp dir, removed by close()). */
  dataDir?: string;
}

/** Label every container of a run carries; `close()` removes by it. */
export const RUN_LABEL = 'zabkit.testing.run';
/** Label with the server id of a container. */
export const NODE_LABEL = 'zabkit.testing.node';
/** Where the node's data dir (with zoo.cfg and myid) is mounted inside a container. */
export const CONTAINER_DATA_DIR = '/zabkit/data';
