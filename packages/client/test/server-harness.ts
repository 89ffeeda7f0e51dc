// Real-server helpers for the integration tests: a server in this process on an
// ephemeral port, and a TCP proxy that can cut a client off while the server runs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '@zabkit/server';

export type Server = Awaited<ReturnType<typeof startServer>>;

export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'zabkit-client-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** tickTime 50 ms: sessions may last 100 ms .. 1000 ms. */
export function start(dataDir: string, clientPort = 0): Promise<Server> {
  return startServer({ dataDir, clientPort, clientPortAddress: '127.0.0.1', tickTime: 50, logger: false });
}

export { Proxy } from '../../../test/support/proxy.js';
