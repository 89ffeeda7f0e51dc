import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectOptions, type ZabClient } from '@zabkit/client';
import { LocalCluster } from 'zabkit';

/**
 * A real cluster of server processes on 127.0.0.1 for a test file: start it in
 * beforeAll, `close()` it in afterAll. Clients made with `client()` are closed
 * with it.
 */
export interface TestCluster {
  cluster: LocalCluster;
  connectString: string;
  client(options?: ConnectOptions): Promise<ZabClient>;
  close(): Promise<void>;
}

export async function startTestCluster(opts: { nodes?: number; tickTime?: number } = {}): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'zabkit-test-'));
  const cluster = new LocalCluster({ nodes: opts.nodes ?? 3, dataDir: dir, tickTime: opts.tickTime ?? 200 });
  try {
    await cluster.start();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const clients: ZabClient[] = [];
  return {
    cluster,
    connectString: cluster.connectString,
    async client(options: ConnectOptions = {}) {
      const c = await connect(cluster.connectString, { sessionTimeoutMs: 6_000, ...options });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
