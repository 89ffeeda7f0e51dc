// A TCP proxy that can cut clients off from a server while it keeps running
// (a network failure, or a session expiring while its client is away).
import net from 'node:net';

/** Direction of a link through the proxy: `up` = client to server, `down` = server to client. */
export type ProxyDirection = 'up' | 'down' | 'both';

/**
 * Forwards TCP to a target port; `cut()` drops every connection and refuses new ones until `restore()`;
 * `delay(ms, direction)` holds every chunk for `ms` before forwarding it (order kept), `delay(0)` ends that.
 */
export class Proxy {
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;
  private readonly delays = { up: 0, down: 0 };
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
      for (const [a, b, dir] of [
        [down, up, 'up'],
        [up, down, 'down'],
      ] as const) {
        proxy.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          proxy.sockets.delete(a);
          b.destroy();
        });
        proxy.forward(a, b, dir);
      }
    });
    return proxy;
  }

  /** Copies `a` to `b`, holding each chunk for the direction's current delay (FIFO: a chunk never overtakes an earlier one). */
  private forward(a: net.Socket, b: net.Socket, dir: 'up' | 'down'): void {
    const queue: { due: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.due <= now) if (!b.destroyed) b.write(queue.shift()!.chunk);
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now);
    };
    a.on('data', (chunk: Buffer) => {
      const ms = this.delays[dir];
      if (ms <= 0 && queue.length === 0) {
        if (!b.destroyed) b.write(chunk);
        return;
      }
      queue.push({ due: Date.now() + ms, chunk });
      if (!timer) timer = setTimeout(flush, Math.max(0, queue[0]!.due - Date.now()));
    });
    a.on('end', () => {
      // Half-close only after the held chunks went out.
      const finish = (): void => {
        if (queue.length > 0) setTimeout(finish, 5);
        else b.end();
      };
      finish();
    });
    a.on('close', () => {
      if (timer) clearTimeout(timer);
      queue.length = 0;
    });
  }

  /** Holds traffic in `direction` (default both) for `ms` from now on; `delay(0)` forwards at once again. */
  delay(ms: number, direction: ProxyDirection = 'both'): void {
    if (direction !== 'down') this.delays.up = Math.max(0, ms);
    if (direction !== 'up') this.delays.down = Math.max(0, ms);
  }

  /** The current delays (ms) per direction. */
  get delayMs(): { up: number; down: number } {
    return { ...this.delays };
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Accepts connections again (and ends any delay). */
  restore(): void {
    this.cutOff = false;
    this.delays.up = 0;
    this.delays.down = 0;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}
