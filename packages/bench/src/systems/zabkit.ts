import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ZabClient } from '@zabkit/client';
import { Mutex } from '@zabkit/lock';
import { LocalCluster } from 'zabkit';
import type { Cluster, ClusterTuning, KvClient } from './types.js';
import { trackPids } from '../util.js';

class ZabkitKv implements KvClient {
  constructor(readonly c: ZabClient) {}
  async create(key: string, value: Buffer): Promise<void> {
    await this.c.create(key, value);
  }
  async set(key: string, value: Buffer): Promise<void> {
    await this.c.setData(key, value);
  }
  async get(key: string): Promise<void> {
    await this.c.getData(key);
  }
  async lock(path: string) {
    const m = new Mutex(this.c, path);
    return {
      acquire: async () => {
        const lease = await m.acquire();
        return () => lease.release();
      },
      close: () => m.close(),
    };
  }
  close(): Promise<void> {
    return this.c.close();
  }
}

export class ZabkitCluster implements Cluster {
  readonly system = 'zabkit' as const;
  private lc: LocalCluster | null = null;
  private dir = '';
  private untrack: (() => void) | null = null;
  /** Last `recovered N txn(s) ...` line of each node (index = node index). */
  private readonly recovered: string[] = [];
  /** The last few lines each node printed, to tell why a start failed. */
  private readonly tails: string[][] = [];
  constructor(
    readonly size: number,
    readonly tuning: ClusterTuning = {},
  ) {}

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'bench-zabkit-'));
    // defaults otherwise (tickTime 2000, snapCount 100000); fsync before ack is always on in zabkit
    const extraConfig: Record<string, number> = this.tuning.snapCount ? { snapCount: this.tuning.snapCount } : {};
    this.lc = new LocalCluster({
      nodes: this.size,
      dataDir: this.dir,
      readyTimeoutMs: 60_000,
      extraConfig,
      // BENCH_ZABKIT_NODE_ARGS replaces the servers' node flags (SERVER_NODE_ARGS), e.g. to try GC settings
      ...(process.env.BENCH_ZABKIT_NODE_ARGS !== undefined ? { nodeArgs: process.env.BENCH_ZABKIT_NODE_ARGS.split(' ').filter(Boolean) } : {}),
      onLog: (id, line) => {
        if (/ recovered \d+ txn/.test(line)) this.recovered[id - 1] = line.slice(line.indexOf('recovered '));
        const tail = (this.tails[id - 1] ??= []);
        if (tail.push(line) > 5) tail.shift();
      },
    });
    const lc = this.lc;
    this.untrack = trackPids(() => lc.nodes.map((n) => n.process?.pid));
    await this.lc.start();
    await this.waitHealthy();
  }
  async stop(): Promise<void> {
    if (this.lc) await this.lc.stop();
    this.lc = null;
    this.untrack?.();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
  private get cluster(): LocalCluster {
    if (!this.lc) throw new Error('zabkit cluster not started');
    return this.lc;
  }
  pids() {
    return this.cluster.nodes.map((n) => (this.cluster.isRunning(n.id) ? n.process?.pid : undefined));
  }
  async leader(timeoutMs = 30_000): Promise<number> {
    return (await this.cluster.waitForLeader({ timeoutMs })) - 1;
  }
  async kill(i: number): Promise<void> {
    await this.cluster.kill(i + 1);
  }
  async startNode(i: number): Promise<void> {
    this.tails[i] = [];
    try {
      await this.cluster.startNode(i + 1);
    } catch (err) {
      throw new Error(`${(err as Error).message}; its last lines: ${this.tails[i]!.join(' | ')}`, { cause: err });
    }
  }
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await this.cluster.waitForLeader({ timeoutMs, minFollowers: this.size - 1 });
  }
  async connect(nodes: number[]): Promise<KvClient> {
    const cs = nodes.map((i) => this.cluster.address(i + 1)).join(',');
    const c = await connect(cs, { shuffle: false, retry: { minTimeout: 10, maxTimeout: 200 }, requestTimeoutMs: 10_000 });
    return new ZabkitKv(c);
  }
  dataDir(i: number): string {
    return this.cluster.node(i + 1).dataDir;
  }
  recoveryNote(i: number): string | null {
    return this.recovered[i] ?? null;
  }
  async prepare(client: KvClient): Promise<void> {
    const c = (client as ZabkitKv).c;
    for (const p of ['/bench', '/locks', '/locks/l']) {
      try {
        await c.create(p, null);
      } catch (err) {
        if ((err as { code?: string }).code !== 'NodeExists') throw err;
      }
    }
  }
}
