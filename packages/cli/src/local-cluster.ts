import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getServerStatus, type ServerStatus } from '@zabkit/client';
import { ensureClusterSecret } from './cluster-secret.js';

/** Path of the built `zabkit` entry point (also right when this module runs from src/ in tests). */
export const BIN_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');

/**
 * Node flags every server process starts with. A fixed 30% heap growing factor makes V8 collect
 * the old generation before it doubles (peak RSS under a 64-in-flight write load ~185 -> ~160 MB,
 * no measurable CPU cost). An 8 MB young generation (default 16) took that peak a further ~17 MB
 * down: once a server allocated less per write (batched pumps, cumulative ACKs), it cost no CPU
 * per setData and about 6% of create throughput, where it had cost 15-40% CPU before.
 * `--v8-pool-size=0` runs V8's background GC and compile work on the main thread: RSS at rest
 * ~62 -> ~59 MB (fewer threads and malloc arenas), and on this 2-core machine shared by three
 * servers no measurable throughput cost.
 * Re-measured after the compact znode: with or without the last two, a lone client's write p99
 * after 90k creates is 0.9-1.5 ms in the driver, and even a 64 MB young generation (almost no GC)
 * gives 0.8-1.2 ms, so that tail is the machine's, not GC's (packages/bench/README.md).
 */
export const SERVER_NODE_ARGS: readonly string[] = ['--heap-growing-percent=30', '--max-semi-space-size=8', '--v8-pool-size=0'];

export interface LocalClusterOptions {
  /** Number of voting servers (default 1). */
  nodes?: number;
  /** Number of observers on top of the voters (default 0). */
  observers?: number;
  /** First client port; node i listens on basePort + i - 1. 0 = pick free ports (default 0). */
  basePort?: number;
  /** Directory holding one data dir and zoo.cfg per node. Required. */
  dataDir: string;
  /** tickTime in ms written to zoo.cfg (default 2000). */
  tickTime?: number;
  /** Extra zoo.cfg lines for every node. */
  extraConfig?: Record<string, string | number>;
  /**
   * With more than one server: make a shared secret (`<dataDir>/quorum.secret`, kept if present) and
   * write `quorum.auth.secretFile=` for every node, unless extraConfig sets that key itself.
   * Default true; false leaves peer authentication to extraConfig (sslQuorum, quorum.auth.insecure).
   */
  peerSecret?: boolean;
  /** Called with every log line a node prints. */
  onLog?: (id: number, line: string) => void;
  /** How long to wait for a node to say it is ready (default 30 s). */
  readyTimeoutMs?: number;
  /** Flags for every server's node process (default SERVER_NODE_ARGS). */
  nodeArgs?: string[];
}

export interface LocalNode {
  id: number;
  clientPort: number;
  dataDir: string;
  configFile: string;
  process: ChildProcess | null;
  /** True while the process is stopped with SIGSTOP (see `pause`). */
  paused?: boolean;
}

export interface WaitForLeaderOptions {
  /** Give up after this many ms (default 30 s). */
  timeoutMs?: number;
  /** Node ids not to ask (and not to accept as leader), e.g. a paused old leader. */
  exclude?: number[];
  /** Only accept a leader that lists at least this many synced learners (default: none required). */
  minFollowers?: number;
}

/** A cluster of real `zabkit server` processes on 127.0.0.1, for `zabkit dev` and tests. */
export class LocalCluster {
  readonly nodes: LocalNode[] = [];
  private readonly opts: Required<Omit<LocalClusterOptions, 'onLog'>> & Pick<LocalClusterOptions, 'onLog'>;

  constructor(opts: LocalClusterOptions) {
    this.opts = { nodes: 1, observers: 0, basePort: 0, tickTime: 2000, extraConfig: {}, peerSecret: true, readyTimeoutMs: 30_000, nodeArgs: [...SERVER_NODE_ARGS], ...opts };
  }

  get connectString(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.clientPort}`).join(',');
  }

  async start(): Promise<void> {
    const voters = this.opts.nodes;
    const count = voters + this.opts.observers;
    const ports: number[] = [];
    if (this.opts.basePort > 0) for (let i = 0; i < count * 3; i++) ports.push(this.opts.basePort + i);
    else ports.push(...(await freePorts(count * 3)));
    const auth: string[] = [];
    if (count > 1 && this.opts.peerSecret && this.opts.extraConfig['quorum.auth.secretFile'] === undefined) {
      await mkdir(this.opts.dataDir, { recursive: true });
      auth.push(`quorum.auth.secretFile=${await ensureClusterSecret(join(this.opts.dataDir, 'quorum.secret'))}`);
    }
    for (let id = 1; id <= count; id++) {
      const dataDir = join(this.opts.dataDir, `node${id}`);
      await mkdir(dataDir, { recursive: true });
      const lines = [
        `tickTime=${this.opts.tickTime}`,
        'initLimit=10',
        'syncLimit=5',
        `dataDir=${dataDir}`,
        `clientPort=${ports[id - 1]}`,
        'clientPortAddress=127.0.0.1',
        ...auth,
        ...Object.entries(this.opts.extraConfig).map(([k, v]) => `${k}=${v}`),
      ];
      if (count > 1) {
        for (let j = 1; j <= count; j++) {
          const role = j > voters ? ':observer' : '';
          lines.push(`server.${j}=127.0.0.1:${ports[count + j - 1]}:${ports[2 * count + j - 1]}${role}`);
        }
      }
      const configFile = join(dataDir, 'zoo.cfg');
      await writeFile(configFile, lines.join('\n') + '\n');
      await writeFile(join(dataDir, 'myid'), `${id}\n`);
      this.nodes.push({ id, clientPort: ports[id - 1]!, dataDir, configFile, process: null });
    }
    try {
      await Promise.all(this.nodes.map((n) => this.startNode(n.id)));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  node(id: number): LocalNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /**
   * Starts (or restarts) node `id` and waits until it says it is ready; `serverArgs` are extra
   * `zabkit server` flags (e.g. `['--rejoin-empty']`).
   */
  async startNode(id: number, opts: { serverArgs?: string[] } = {}): Promise<void> {
    const node = this.node(id);
    if (node.process) throw new Error(`node ${id} is already running`);
    const args = [...this.opts.nodeArgs, BIN_PATH, 'server', '--config', node.configFile, '--myid', String(id), ...(opts.serverArgs ?? [])];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    node.process = child;
    child.once('exit', () => {
      if (node.process === child) {
        node.process = null;
        node.paused = false;
      }
    });
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      let ready = false;
      const timer = setTimeout(() => {
        if (!ready) reject(new Error(`node ${id} was not ready within ${this.opts.readyTimeoutMs} ms`));
      }, this.opts.readyTimeoutMs);
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          this.opts.onLog?.(id, line);
          if (!ready && / ready on /.test(line)) {
            ready = true;
            clearTimeout(timer);
            resolve();
          }
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`node ${id} exited before it was ready (code ${code}, signal ${signal})`));
      });
    });
  }

  /** SIGKILL: no flush, no goodbye. Resolves once the process is gone. */
  async kill(id: number): Promise<void> {
    await this.signal(id, 'SIGKILL');
  }

  /** SIGTERM and wait (SIGKILL after 10 s). */
  async stopNode(id: number): Promise<void> {
    const node = this.node(id);
    const child = node.process;
    if (!child) return;
    this.resume(id);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.signal(id, 'SIGTERM');
    clearTimeout(timer);
  }

  /** `127.0.0.1:port` of node `id`'s client port. */
  address(id: number): string {
    return `127.0.0.1:${this.node(id).clientPort}`;
  }

  /** Whether node `id` has a live process (paused counts as running). */
  isRunning(id: number): boolean {
    const child = this.node(id).process;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  /** SIGSTOP: the process freezes (sockets stay open, nothing is answered) until `resume`. */
  pause(id: number): void {
    const node = this.node(id);
    if (!this.isRunning(id)) throw new Error(`node ${id} is not running`);
    node.process!.kill('SIGSTOP');
    node.paused = true;
  }

  /** SIGCONT after `pause`. */
  resume(id: number): void {
    const node = this.node(id);
    if (!node.paused) return;
    node.paused = false;
    if (this.isRunning(id)) node.process!.kill('SIGCONT');
  }

  /** `getServerStatus` of node `id` (rejects if it is down, paused or slow). */
  status(id: number, timeoutMs = 2_000): Promise<ServerStatus> {
    return getServerStatus(this.address(id), { timeoutMs });
  }

  /** Status of every running, unpaused node (those that do not answer are left out). */
  async statuses(timeoutMs = 2_000): Promise<Map<number, ServerStatus>> {
    const out = new Map<number, ServerStatus>();
    await Promise.all(
      this.nodes
        .filter((n) => this.isRunning(n.id) && !n.paused)
        .map(async (n) => {
          try {
            out.set(n.id, await this.status(n.id, timeoutMs));
          } catch {
            /* down or busy: not counted */
          }
        }),
    );
    return out;
  }

  /** The id of the one node that currently reports role 'leader' (or 'standalone'), or null if none / several. */
  async leaderId(opts: { exclude?: number[]; timeoutMs?: number } = {}): Promise<number | null> {
    const statuses = await this.statuses(opts.timeoutMs);
    const leaders = [...statuses.entries()]
      .filter(([id, s]) => !opts.exclude?.includes(id) && (s.role === 'leader' || s.role === 'standalone'))
      .map(([id]) => id);
    return leaders.length === 1 ? leaders[0]! : null;
  }

  /**
   * Polls (every 100 ms, bounded by `timeoutMs`) until exactly one node reports it
   * leads an established epoch, and resolves with its id. Rejects on timeout.
   */
  async waitForLeader(opts: WaitForLeaderOptions = {}): Promise<number> {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    let last = '';
    for (;;) {
      const statuses = await this.statuses(1_000);
      const leaders = [...statuses.entries()].filter(
        ([id, s]) =>
          !opts.exclude?.includes(id) &&
          (s.role === 'leader' || s.role === 'standalone') &&
          (s.followers?.length ?? 0) >= (opts.minFollowers ?? 0),
      );
      if (leaders.length === 1) return leaders[0]![0];
      last = [...statuses.entries()].map(([id, s]) => `${id}:${s.role}`).join(' ');
      if (Date.now() >= deadline) throw new Error(`no single leader within ${opts.timeoutMs ?? 30_000} ms (last seen: ${last || 'no answers'})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops node `id` (SIGKILL with `hard`, SIGTERM otherwise) and starts it again. */
  async restartNode(id: number, opts: { hard?: boolean } = {}): Promise<void> {
    if (opts.hard) await this.kill(id);
    else await this.stopNode(id);
    await this.startNode(id);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n.id)));
  }

  private async signal(id: number, sig: NodeJS.Signals): Promise<void> {
    const child = this.node(id).process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(sig);
    await exited;
  }
}

/**
 * `count` distinct ports that were free a moment ago on 127.0.0.1. All are held open until every
 * one is chosen: calling freePort() in a loop can hand out the same port twice (it is free again
 * once the probe closes it), and two servers of one cluster would then collide with EADDRINUSE.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: ReturnType<typeof createServer>[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => {
            const addr = srv.address();
            if (typeof addr === 'object' && addr) resolve(addr.port);
            else reject(new Error('no port'));
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((srv) => new Promise<void>((resolve) => (srv.listening ? srv.close(() => resolve()) : resolve()))));
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
