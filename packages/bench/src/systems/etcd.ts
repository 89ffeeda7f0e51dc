import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3, type Watcher } from 'etcd3';
import type { Cluster, ClusterTuning, KvClient } from './types.js';
import { freePorts, killAndWait, spawnTracked, waitFor } from '../util.js';

export const ETCD_BIN = '/usr/bin/etcd';

export function etcdMissing(): string | null {
  return existsSync(ETCD_BIN) ? null : `no ${ETCD_BIN}: apt-get install -y etcd-server`;
}

const b = (s: string) => Buffer.from(s);
function prefixEnd(p: string): Buffer {
  const buf = Buffer.from(p);
  buf[buf.length - 1] = buf[buf.length - 1]! + 1;
  return buf;
}

/**
 * etcd's mutex recipe (go.etcd.io/etcd/clientv3/concurrency.Mutex) on etcd3's raw KV and watch API:
 * one lease per session, key = prefix + leaseID; the lowest create revision holds; others wait for the
 * deletion of the key with the next lower create revision. (etcd3's own `lock()` is a try-lock: it fails
 * with EtcdLockFailedError when the key is held, so blocking on it would mean spinning.)
 */
class EtcdMutex {
  private myKey = '';
  constructor(
    readonly client: Etcd3,
    readonly pfx: string,
    readonly leaseId: string,
  ) {
    this.myKey = `${pfx}${BigInt(leaseId).toString(16)}`;
  }
  async acquire(): Promise<() => Promise<void>> {
    const kv = this.client.kv;
    const owner = { request_range: { key: b(this.pfx), range_end: prefixEnd(this.pfx), sort_target: 'Create' as const, sort_order: 'Ascend' as const, limit: 1 } };
    const res = await kv.txn({
      compare: [{ key: b(this.myKey), target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: b(this.myKey), value: b(''), lease: this.leaseId } }, owner],
      failure: [{ request_range: { key: b(this.myKey) } }, owner],
    });
    const myRev = res.succeeded ? Number(res.header.revision) : Number(res.responses[0]!.response_range.kvs[0]!.create_revision);
    const first = res.responses[1]!.response_range.kvs[0];
    if (!first || Number(first.create_revision) !== myRev) {
      // waitDeletes: wait until no key under the prefix has a lower create revision
      for (;;) {
        const r = await kv.range({ key: b(this.pfx), range_end: prefixEnd(this.pfx), sort_target: 'Create', sort_order: 'Descend', limit: 1, max_create_revision: myRev - 1 });
        const pred = r.kvs[0];
        if (!pred) break;
        const w: Watcher = await this.client.watch().key(pred.key).startRevision(String(Number(r.header.revision) + 1)).create();
        await new Promise<void>((resolve) => w.once('delete', () => resolve()));
        await w.cancel();
      }
    }
    return async () => {
      await kv.deleteRange({ key: b(this.myKey) });
    };
  }
}

class EtcdKv implements KvClient {
  constructor(readonly c: Etcd3) {}
  async create(key: string, value: Buffer): Promise<void> {
    const r = await this.c.kv.txn({
      compare: [{ key: b(key), target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: b(key), value } }],
    });
    if (!r.succeeded) throw new Error(`etcd key ${key} exists`);
  }
  async set(key: string, value: Buffer): Promise<void> {
    await this.c.kv.put({ key: b(key), value });
  }
  async get(key: string): Promise<void> {
    // serializable = member-local read, the same guarantee as a ZooKeeper/zabkit getData
    await this.c.kv.range({ key: b(key), serializable: true });
  }
  async lock(path: string) {
    const lease = this.c.lease(30);
    const id = await lease.grant();
    const m = new EtcdMutex(this.c, `${path}/`, id);
    return { acquire: () => m.acquire(), close: () => lease.revoke().catch(() => {}) };
  }
  async close(): Promise<void> {
    this.c.close();
  }
}

interface EtcdNode {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  proc: ChildProcess | null;
}

export class EtcdCluster implements Cluster {
  readonly system = 'etcd' as const;
  private nodes: EtcdNode[] = [];
  private dir = '';
  constructor(
    readonly size: number,
    readonly tuning: ClusterTuning = {},
  ) {}

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'bench-etcd-'));
    const ports = await freePorts(this.size * 2);
    for (let i = 0; i < this.size; i++) {
      this.nodes.push({ name: `n${i + 1}`, dataDir: join(this.dir, `n${i + 1}`), clientPort: ports[i]!, peerPort: ports[this.size + i]!, proc: null });
    }
    for (let i = 0; i < this.size; i++) this.spawn(i);
    await this.waitHealthy();
  }
  private spawn(i: number): void {
    const n = this.nodes[i]!;
    const initial = this.nodes.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
    // defaults otherwise: heartbeat 100 ms, election 1000 ms, snapshot-count 100000; etcd always fsyncs its WAL
    n.proc = spawnTracked(ETCD_BIN, [
      '--name', n.name,
      '--data-dir', n.dataDir,
      '--listen-client-urls', `http://127.0.0.1:${n.clientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${n.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${n.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${n.peerPort}`,
      '--initial-cluster', initial,
      '--initial-cluster-token', 'bench',
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'error',
      ...(this.tuning.snapCount ? ['--snapshot-count', String(this.tuning.snapCount)] : []),
    ]);
  }
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => killAndWait(n.proc, 'SIGTERM')));
    this.nodes = [];
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
  pids() {
    return this.nodes.map((n) => (n.proc && n.proc.exitCode === null && n.proc.signalCode === null ? n.proc.pid : undefined));
  }
  private async status(i: number): Promise<{ member: string; leader: string } | null> {
    if (!this.pids()[i]) return null;
    const res = await fetch(`http://127.0.0.1:${this.nodes[i]!.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(500) });
    const j = (await res.json()) as { header?: { member_id?: string }; leader?: string };
    if (!j.header?.member_id || !j.leader || j.leader === '0') return null;
    return { member: j.header.member_id, leader: j.leader };
  }
  private async healthy(i: number): Promise<boolean> {
    if (!this.pids()[i]) return false;
    const res = await fetch(`http://127.0.0.1:${this.nodes[i]!.clientPort}/health`, { signal: AbortSignal.timeout(500) });
    return ((await res.json()) as { health?: string }).health === 'true';
  }
  async leader(timeoutMs = 30_000): Promise<number> {
    return waitFor(
      'an etcd leader',
      async () => {
        const st = await Promise.all(this.nodes.map((_, i) => this.status(i).catch(() => null)));
        const l = st.findIndex((s) => s && s.member === s.leader);
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
    await waitFor(`etcd node ${i + 1}`, () => this.healthy(i), 60_000, 20);
  }
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'a healthy etcd cluster',
      async () => (await Promise.all(this.nodes.map((_, i) => this.healthy(i).catch(() => false)))).every(Boolean),
      timeoutMs,
    );
  }
  async connect(nodes: number[]): Promise<KvClient> {
    const c = new Etcd3({ hosts: nodes.map((i) => `http://127.0.0.1:${this.nodes[i]!.clientPort}`) });
    await c.kv.range({ key: b('/'), limit: 1, serializable: true }); // establish the channel
    return new EtcdKv(c);
  }
  dataDir(i: number): string {
    return this.nodes[i]!.dataDir;
  }
  recoveryNote(): string | null {
    return null; // --log-level error: etcd logs nothing about a normal restart
  }
  async prepare(): Promise<void> {}
}
