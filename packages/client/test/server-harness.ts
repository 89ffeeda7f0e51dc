// Real-server helpers for the integration tests: a server in this process on an
// ephemeral port, and a TCP proxy that can cut a client off while the server runs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
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

/** Forwards TCP to a target port; `cut()` drops every connection and refuses new ones until `restore()`. */
export class Proxy {
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<Proxy> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const proxy = new Proxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (down) => {
      if (proxy.cutOff) {
        down.destroy();
        return;
      }
      const up = net.connect(targetPort, '127.0.0.1');
      for (const [a, b] of [
        [down, up],
        [up, down],
      ] as const) {
        proxy.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          proxy.sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}
