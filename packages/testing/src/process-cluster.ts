/** The same interface without Docker: real `zabkit server` child processes (LocalCluster) on 127.0.0.1. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from 'zabkit';
import { NodeLog } from './config.js';
import { nodeById, waitForLeaderAmong } from './leader.js';
import type { Cluster, ClusterNode, ClusterOptions, NodeRole } from './types.js';

class ProcessNode implements ClusterNode {
  readonly address: string;
  readonly clientPort: number;
  starts = 0;

  constructor(
    private readonly cluster: LocalCluster,
    readonly id: number,
    readonly role: NodeRole,
    private readonly log: NodeLog,
  ) {
    this.clientPort = cluster.node(id).clientPort;
    this.address = `127.0.0.1:${this.clientPort}`;
  }

  get handle(): string | null {
    const pid = this.cluster.node(this.id).process?.pid;
    return pid === undefined ? null : String(pid);
  }

  isRunning(): boolean {
    return this.cluster.isRunning(this.id);
  }

  isPaused(): boolean {
    return this.isRunning() && !!this.cluster.node(this.id).paused;
  }

  async start(): Promise<void> {
    this.log.add(`--- zabkit-testing: node ${this.id} start #${++this.starts} ---`);
    await this.cluster.startNode(this.id);
  }

  async kill(): Promise<void> {
    await this.cluster.kill(this.id);
  }

  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    const child = this.cluster.node(this.id).process;
    if (!child) return;
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    try {
      await this.cluster.stopNode(this.id);
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(opts: { hard?: boolean } = {}): Promise<void> {
    if (opts.hard) await this.kill();
    else await this.stop();
    await this.start();
  }

  async pause(): Promise<void> {
    this.cluster.pause(this.id);
  }

  async unpause(): Promise<void> {
    this.cluster.resume(this.id);
  }

  async logs(): Promise<string> {
    return this.log.text();
  }
}

class ProcessCluster implements Cluster {
  readonly runtime = 'process' as const;
  readonly runId = randomUUID();
  nodes: ProcessNode[] = [];
  private closing: Promise<void> | null = null;

  constructor(
    readonly local: LocalCluster,
    private readonly baseDir: string,
    private readonly ownsBaseDir: boolean,
  ) {}

  get connectString(): string {
    return this.local.connectString;
  }

  node(id: number): ClusterNode {
    return nodeById(this.nodes, id);
  }

  waitForLeader(opts: { timeoutMs?: number; exclude?: number[]; minFollowers?: number } = {}): Promise<ClusterNode> {
    return waitForLeaderAmong(this.nodes, opts);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.local.nodes.map((n) => this.local.stopNode(n.id).catch(() => this.local.kill(n.id))));
      if (this.ownsBaseDir) await rm(this.baseDir, { recursive: true, force: true }).catch(() => undefined);
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** `startCluster({ runtime: 'process' })`: the servers are child processes of this one; pause = SIGSTOP. */
export async function startLocalCluster(opts: Omit<ClusterOptions, 'runtime' | 'image' | 'mounts' | 'labels'> = {}): Promise<Cluster> {
  const voters = opts.nodes ?? 3;
  const observers = opts.observers ?? 0;
  if (!Number.isInteger(voters) || voters < 1) throw new Error(`nodes must be a positive integer, got ${voters}`);
  const ownsBaseDir = !opts.dataDir;
  const baseDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'zabkit-testing-')));
  const logs = new Map<number, NodeLog>();
  for (let id = 1; id <= voters + observers; id++) {
    const log = new NodeLog();
    log.add(`--- zabkit-testing: node ${id} start #1 ---`);
    logs.set(id, log);
  }
  const local = new LocalCluster({
    nodes: voters,
    observers,
    dataDir: baseDir,
    tickTime: opts.tickTime ?? 200,
    readyTimeoutMs: opts.startupTimeoutMs ?? 60_000,
    ...(opts.extraConfig ? { extraConfig: opts.extraConfig } : {}),
    onLog: (id, line) => {
      logs.get(id)?.add(line);
      opts.onLog?.(id, line);
    },
  });
  const cluster = new ProcessCluster(local, baseDir, ownsBaseDir);
  try {
    await local.start();
    cluster.nodes = local.nodes.map((n) => {
      const node = new ProcessNode(local, n.id, n.id > voters ? 'observer' : 'participant', logs.get(n.id)!);
      node.starts = 1;
      return node;
    });
    await cluster.waitForLeader({ timeoutMs: opts.startupTimeoutMs ?? 60_000 });
    return cluster;
  } catch (err) {
    await local.stop().catch(() => undefined);
    if (ownsBaseDir) await rm(baseDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
