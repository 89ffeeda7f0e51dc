import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zookeeper from 'node-zookeeper-client';
import type { Cluster, ClusterTuning, KvClient } from './types.js';
import { fourLetter, freePorts, killAndWait, spawnTracked, waitFor } from '../util.js';

const { CreateMode, createClient, Exception } = zookeeper;
type ZkClient = ReturnType<typeof createClient>;
type Cb<T> = (err: unknown, v: T) => void;

export const ZK_JAR_CANDIDATES = ['/usr/share/java/zookeeper.jar', '/usr/share/zookeeper/zookeeper.jar'];

/** Why ZooKeeper cannot run here, or null if it can. */
export function zookeeperMissing(): string | null {
  if (!ZK_JAR_CANDIDATES.some((p) => existsSync(p))) return `no ZooKeeper jar (${ZK_JAR_CANDIDATES.join(', ')}): apt-get install -y zookeeper`;
  if (!existsSync('/usr/bin/java')) return 'no /usr/bin/java';
  return null;
}

function call<T>(fn: (cb: Cb<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

/** The ZooKeeper lock recipe: ephemeral sequential node, lowest sequence holds, others watch their predecessor. */
class ZkLock {
  constructor(
    readonly zk: ZkClient,
    readonly dir: string,
  ) {}
  async acquire(): Promise<() => Promise<void>> {
    const path = await call<string>((cb) => this.zk.create(`${this.dir}/lock-`, Buffer.alloc(0), CreateMode.EPHEMERAL_SEQUENTIAL, cb));
    const me = path.slice(this.dir.length + 1);
    for (;;) {
      const children = (await call<string[]>((cb) => this.zk.getChildren(this.dir, cb)))
        .filter((c) => c.startsWith('lock-'))
        .sort((a, b) => Number(a.slice(-10)) - Number(b.slice(-10)));
      const idx = children.indexOf(me);
      if (idx < 0) throw new Error(`lock node ${path} vanished`);
      if (idx === 0) return () => call<void>((cb) => this.zk.remove(path, -1, (err) => cb(err, undefined)));
      const pred = `${this.dir}/${children[idx - 1]}`;
      await new Promise<void>((resolve, reject) => {
        this.zk.exists(
          pred,
          () => resolve(),
          (err, stat) => {
            if (err) reject(err);
            else if (!stat) resolve();
          },
        );
      });
    }
  }
}

class ZkKv implements KvClient {
  constructor(readonly zk: ZkClient) {}
  create(key: string, value: Buffer): Promise<void> {
    return call((cb) => this.zk.create(key, value, CreateMode.PERSISTENT, (err) => cb(err, undefined)));
  }
  set(key: string, value: Buffer): Promise<void> {
    return call((cb) => this.zk.setData(key, value, -1, (err) => cb(err, undefined)));
  }
  get(key: string): Promise<void> {
    return call((cb) => this.zk.getData(key, (err) => cb(err, undefined)));
  }
  async lock(path: string) {
    await call((cb) => this.zk.mkdirp(path, (err) => cb(err, undefined)));
    const l = new ZkLock(this.zk, path);
    return { acquire: () => l.acquire(), close: async () => {} };
  }
  async close(): Promise<void> {
    this.zk.close();
  }
}

interface ZkNode {
  dataDir: string;
  cfg: string;
  clientPort: number;
  proc: ChildProcess | null;
}

export class ZookeeperCluster implements Cluster {
  readonly system = 'zookeeper' as const;
  private nodes: ZkNode[] = [];
  private dir = '';
  private jar = ZK_JAR_CANDIDATES.find((p) => existsSync(p)) ?? ZK_JAR_CANDIDATES[0]!;
  constructor(
    readonly size: number,
    readonly tuning: ClusterTuning = {},
  ) {}

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'bench-zk-'));
    const ports = await freePorts(this.size * 3);
    for (let i = 0; i < this.size; i++) {
      const dataDir = join(this.dir, `node${i + 1}`);
      await mkdir(dataDir, { recursive: true });
      const lines = [
        'tickTime=2000',
        'initLimit=10',
        'syncLimit=5',
        `dataDir=${dataDir}`,
        `clientPort=${ports[i]}`,
        'clientPortAddress=127.0.0.1',
        'admin.enableServer=false',
        '4lw.commands.whitelist=srvr,ruok,mntr',
        'maxClientCnxns=0',
      ];
      // zoo.cfg keys ZooKeeper does not know become `zookeeper.<key>` system properties: zookeeper.snapCount.
      // (ZooKeeper snapshots after snapCount/2 + random(snapCount/2) txns: keep it above twice the txns to hold.)
      if (this.tuning.snapCount) lines.push(`snapCount=${this.tuning.snapCount}`);
      if (this.size > 1) {
        for (let j = 0; j < this.size; j++) lines.push(`server.${j + 1}=127.0.0.1:${ports[this.size + j]}:${ports[2 * this.size + j]}`);
      }
      const cfg = join(dataDir, 'zoo.cfg');
      await writeFile(cfg, lines.join('\n') + '\n');
      await writeFile(join(dataDir, 'myid'), `${i + 1}\n`);
      this.nodes.push({ dataDir, cfg, clientPort: ports[i]!, proc: null });
    }
    for (let i = 0; i < this.size; i++) this.spawn(i);
    await this.waitHealthy();
  }

  private spawn(i: number): void {
    const n = this.nodes[i]!;
    // The Debian jar's manifest carries its Class-Path (netty, jute, slf4j, ...); slf4j has no binding: no logging.
    n.proc = spawnTracked('/usr/bin/java', ['-Xmx256m', '-Xms64m', '-Dzookeeper.admin.enableServer=false', '-cp', `${n.dataDir}:${this.jar}`, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', n.cfg]);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => killAndWait(n.proc, 'SIGTERM')));
    this.nodes = [];
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
  pids() {
    return this.nodes.map((n) => (n.proc && n.proc.exitCode === null && n.proc.signalCode === null ? n.proc.pid : undefined));
  }
  private async mode(i: number): Promise<string | null> {
    if (!this.pids()[i]) return null;
    const out = await fourLetter(this.nodes[i]!.clientPort, 'srvr', 500).catch(() => '');
    return /Mode: (\w+)/.exec(out)?.[1] ?? null;
  }
  async leader(timeoutMs = 30_000): Promise<number> {
    return waitFor(
      'a ZooKeeper leader',
      async () => {
        const modes = await Promise.all(this.nodes.map((_, i) => this.mode(i)));
        const l = modes.findIndex((m) => m === 'leader' || m === 'standalone');
        return l >= 0 ? l + 1 : null;
      },
      timeoutMs,
    ).then((x) => x - 1);
  }
  async kill(i: number): Promise<void> {
    await killAndWait(this.nodes[i]!.proc, 'SIGKILL');
    this.nodes[i]!.proc = null;
  }
  async startNode(i: number): Promise<void> {
    this.spawn(i);
    await waitFor(`ZooKeeper node ${i + 1}`, () => this.mode(i), 60_000, 20);
  }
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'a healthy ZooKeeper ensemble',
      async () => {
        const modes = await Promise.all(this.nodes.map((_, i) => this.mode(i)));
        if (modes.some((m) => !m)) return false;
        return this.size === 1 || modes.filter((m) => m === 'leader').length === 1;
      },
      timeoutMs,
    );
  }
  async connect(nodes: number[]): Promise<KvClient> {
    const cs = nodes.map((i) => `127.0.0.1:${this.nodes[i]!.clientPort}`).join(',');
    const zk = createClient(cs, { sessionTimeout: 30_000, spinDelay: 50, retries: 0 });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`ZooKeeper client could not connect to ${cs}`)), 30_000);
      zk.once('connected', () => {
        clearTimeout(t);
        resolve();
      });
      zk.connect();
    });
    return new ZkKv(zk);
  }
  dataDir(i: number): string {
    return this.nodes[i]!.dataDir;
  }
  recoveryNote(): string | null {
    return null; // slf4j has no binding in the Debian jar: the server logs nothing
  }
  async prepare(client: KvClient): Promise<void> {
    const zk = (client as ZkKv).zk;
    for (const p of ['/bench', '/locks', '/locks/l']) {
      await call((cb) =>
        zk.create(p, null as unknown as Buffer, CreateMode.PERSISTENT, (err) => cb(err && (err as InstanceType<typeof Exception>).getCode?.() === Exception.NODE_EXISTS ? null : err, undefined)),
      );
    }
  }
}
