// A TCP proxy that can cut clients off from a server while it keeps running
// (a network failure, or a session expiring while its client is away).
import net from 'node:net';

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
