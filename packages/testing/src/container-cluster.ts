/** startCluster on testcontainers: one container per server, host networking, loopback ports. */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { ensureClusterSecret } from 'zabkit';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from 'testcontainers';
import { freePorts } from 'zabkit';
import { LineSplitter, NodeLog, renderZooCfg } from './config.js';
import { removeRun } from './docker.js';
import { ensureThinImage, planThinImage } from './image.js';
import { nodeById, waitForLeaderAmong } from './leader.js';
import { CONTAINER_DATA_DIR, NODE_LABEL, RUN_LABEL, type Cluster, type ClusterNode, type ClusterOptions, type NodeRole } from './types.js';

/** What a server prints once it serves: "zabkit V server N ready on HOST:PORT as ROLE ...". */
const READY = / ready on /;

interface Runtime {
  runId: string;
  image: string;
  mounts: string[];
  command: (myid: number) => string[];
  labels: Record<string, string>;
  startupTimeoutMs: number;
  onLog: ((id: number, line: string) => void) | undefined;
  closed: boolean;
}

class DockerNode implements ClusterNode {
  private container: StartedTestContainer | null = null;
  private paused = false;
  private starts = 0;
  private readonly log = new NodeLog();
  readonly address: string;

  constructor(
    private readonly rt: Runtime,
    readonly id: number,
    readonly role: NodeRole,
    readonly clientPort: number,
    private readonly hostDir: string,
  ) {
    this.address = `127.0.0.1:${clientPort}`;
  }

  get handle(): string | null {
    return this.container?.getId() ?? null;
  }

  isRunning(): boolean {
    return this.container !== null;
  }

  isPaused(): boolean {
    return this.paused;
  }

  async start(): Promise<void> {
    if (this.rt.closed) throw new Error('cluster is closed');
    if (this.container) throw new Error(`node ${this.id} is already running`);
    const start = ++this.starts;
    this.log.add(`--- zabkit-testing: node ${this.id} start #${start} ---`);
    let sawReady!: () => void;
    const readyLogged = new Promise<void>((resolve) => (sawReady = resolve));
    const split = new LineSplitter((line) => {
      this.log.add(line);
      this.rt.onLog?.(this.id, line);
      if (READY.test(line)) sawReady();
    });
    let container = new GenericContainer(this.rt.image)
      .withName(`zabkit-${this.rt.runId.slice(0, 8)}-n${this.id}-${start}`)
      .withNetworkMode('host')
      .withLabels({ ...this.rt.labels, [RUN_LABEL]: this.rt.runId, [NODE_LABEL]: String(this.id) })
      .withBindMounts([
        ...this.rt.mounts.map((m) => ({ source: m, target: m, mode: 'ro' as const })),
        { source: this.hostDir, target: CONTAINER_DATA_DIR, mode: 'rw' as const },
      ])
      .withCommand(this.rt.command(this.id))
      .withWaitStrategy(Wait.forLogMessage(READY))
      .withStartupTimeout(this.rt.startupTimeoutMs)
      .withLogConsumer((stream) => {
        stream.on('data', (chunk: string | Buffer) => split.push(chunk));
        stream.on('end', () => split.flush());
        stream.on('error', () => split.flush());
      });
    // Files the server writes into the bind-mounted data dir belong to the test's user, so close() can delete them.
    if (typeof process.getuid === 'function' && typeof process.getgid === 'function') {
      container = container.withUser(`${process.getuid()}:${process.getgid()}`);
    }
    try {
      this.container = await container.start();
    } catch (err) {
      await this.removeOwnContainers();
      throw new Error(`node ${this.id} did not start: ${(err as Error).message}\n--- its log ---\n${this.log.text().slice(-4000)}`);
    }
    this.paused = false;
    // The wait strategy reads the log separately: let logs() show the ready line too when start() resolves.
    await Promise.race([readyLogged, new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  async kill(): Promise<void> {
    const c = this.container;
    if (!c) return;
    const client = await getContainerRuntimeClient();
    const handle = client.container.getById(c.getId());
    if (this.paused) {
      // a frozen process still dies on SIGKILL, but the engine refuses to kill a paused container
      await handle.unpause().catch(() => undefined);
      this.paused = false;
    }
    try {
      await handle.kill({ signal: 'SIGKILL' });
    } catch (err) {
      if (!isGone(err)) throw err; // 409: not running (it had died already)
    }
    await handle.wait().catch(() => undefined);
    await handle.remove({ force: true, v: true }).catch((err: unknown) => {
      if (!isGone(err)) throw err;
    });
    this.container = null;
  }

  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    const c = this.container;
    if (!c) return;
    if (this.paused) await this.unpause();
    await c.stop({ timeout: opts.timeoutMs ?? 10_000, remove: true, removeVolumes: true });
    this.container = null;
  }

  async restart(opts: { hard?: boolean } = {}): Promise<void> {
    if (opts.hard) await this.kill();
    else await this.stop();
    await this.start();
  }

  async pause(): Promise<void> {
    const c = this.requireRunning();
    if (this.paused) return;
    const client = await getContainerRuntimeClient();
    await client.container.getById(c.getId()).pause();
    this.paused = true;
  }

  async unpause(): Promise<void> {
    const c = this.container;
    if (!c || !this.paused) return;
    const client = await getContainerRuntimeClient();
    await client.container.getById(c.getId()).unpause();
    this.paused = false;
  }

  async logs(): Promise<string> {
    return this.log.text();
  }

  /** After close(): forget the container (removed by label). */
  forget(): void {
    this.container = null;
    this.paused = false;
  }

  private requireRunning(): StartedTestContainer {
    if (!this.container) throw new Error(`node ${this.id} is not running`);
    return this.container;
  }

  private async removeOwnContainers(): Promise<void> {
    try {
      const client = await getContainerRuntimeClient();
      const list = await client.container.dockerode.listContainers({
        all: true,
        filters: { label: [`${RUN_LABEL}=${this.rt.runId}`, `${NODE_LABEL}=${this.id}`] },
      });
      await Promise.all(list.map((i) => client.container.dockerode.getContainer(i.Id).remove({ force: true, v: true }).catch(() => undefined)));
    } catch {
      /* close() removes by label anyway */
    }
    this.container = null;
  }
}

function isGone(err: unknown): boolean {
  const status = (err as { statusCode?: number }).statusCode;
  return status === 404 || status === 409;
}

class DockerCluster implements Cluster {
  readonly runtime = 'docker' as const;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly rt: Runtime,
    readonly nodes: DockerNode[],
    private readonly baseDir: string,
    private readonly ownsBaseDir: boolean,
  ) {}

  get runId(): string {
    return this.rt.runId;
  }

  get connectString(): string {
    return this.nodes.map((n) => n.address).join(',');
  }

  node(id: number): ClusterNode {
    return nodeById(this.nodes, id);
  }

  waitForLeader(opts: { timeoutMs?: number; exclude?: number[]; minFollowers?: number } = {}): Promise<ClusterNode> {
    return waitForLeaderAmong(this.nodes, opts);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.rt.closed = true;
      let error: unknown;
      try {
        await removeRun(this.rt.runId);
      } catch (err) {
        error = err;
      }
      for (const n of this.nodes) n.forget();
      if (this.ownsBaseDir) await rm(this.baseDir, { recursive: true, force: true }).catch(() => undefined);
      if (error) throw error;
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export async function startDockerCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const voters = opts.nodes ?? 3;
  const observers = opts.observers ?? 0;
  if (!Number.isInteger(voters) || voters < 1) throw new Error(`nodes must be a positive integer, got ${voters}`);
  const count = voters + observers;
  const runId = randomUUID();
  const startupTimeoutMs = opts.startupTimeoutMs ?? 60_000;

  let image: string;
  let mounts: string[] = [];
  let command: (myid: number) => string[];
  const configFile = `${CONTAINER_DATA_DIR}/zoo.cfg`;
  if (opts.image) {
    image = opts.image;
    mounts = opts.mounts ?? [];
    command = (myid) => ['server', '--config', configFile, '--myid', String(myid)];
  } else {
    const plan = planThinImage(opts.mounts);
    await ensureThinImage(plan);
    image = plan.image;
    mounts = plan.mounts;
    command = (myid) => plan.command(configFile, myid);
  }

  const ownsBaseDir = !opts.dataDir;
  const baseDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'zabkit-testing-')));
  const rt: Runtime = {
    runId,
    image,
    mounts,
    command,
    labels: opts.labels ?? {},
    startupTimeoutMs,
    onLog: opts.onLog,
    closed: false,
  };
  const nodes: DockerNode[] = [];
  const cluster = new DockerCluster(rt, nodes, baseDir, ownsBaseDir);
  try {
    const flat = await freePorts(count * 3);
    const ports: Array<[number, number, number]> = [];
    for (let i = 0; i < count; i++) ports.push([flat[3 * i]!, flat[3 * i + 1]!, flat[3 * i + 2]!]);
    // One secret for the cluster, copied into each node's mounted data dir (the only host path a container sees).
    const secret = count > 1 ? await readFile(await ensureClusterSecret(join(baseDir, 'quorum.secret'))) : null;
    for (let id = 1; id <= count; id++) {
      const hostDir = join(baseDir, `node${id}`);
      await mkdir(hostDir, { recursive: true });
      const cfg = renderZooCfg({
        id,
        voters,
        observers,
        tickTime: opts.tickTime ?? 200,
        dataDir: CONTAINER_DATA_DIR,
        ports,
        ...(opts.extraConfig ? { extraConfig: opts.extraConfig } : {}),
        ...(secret ? { secretFile: `${CONTAINER_DATA_DIR}/quorum.secret` } : {}),
      });
      if (secret) await writeFile(join(hostDir, 'quorum.secret'), secret, { mode: 0o600 });
      await writeFile(join(hostDir, 'zoo.cfg'), cfg);
      await writeFile(join(hostDir, 'myid'), `${id}\n`);
      nodes.push(new DockerNode(rt, id, id > voters ? 'observer' : 'participant', ports[id - 1]![0], hostDir));
    }
    // All at once: a server only says it is ready once a quorum has formed.
    const results = await Promise.allSettled(nodes.map((n) => n.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await cluster.waitForLeader({ timeoutMs: startupTimeoutMs });
    return cluster;
  } catch (err) {
    await cluster.close().catch(() => undefined);
    throw err;
  }
}
