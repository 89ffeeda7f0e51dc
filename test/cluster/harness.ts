import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { connect, type ClientEvents, type ConnectOptions, type ZabClient } from '@zabkit/client';
import { LocalCluster, type LocalClusterOptions } from 'zabkit';

/**
 * One real-process cluster per test, with its log lines kept (for "sync N: DIFF ..."
 * assertions and for failure messages) and every client it handed out, so that
 * `dispose()` can close and stop everything even when the test failed.
 */
export class ClusterHarness {
  readonly logs: { id: number; line: string; at: number }[] = [];
  private readonly clients: ZabClient[] = [];
  private logWaiters: { re: RegExp; id: number | undefined; resolve: (line: string) => void }[] = [];

  private constructor(
    readonly cluster: LocalCluster,
    private readonly dir: string,
  ) {}

  /**
   * Starts the cluster. Free ports are probed before the servers bind them, so on a busy machine
   * another process (an outgoing connection's ephemeral port) can take one in between: a start
   * that fails with EADDRINUSE is retried on fresh ports, at most 3 times.
   */
  static async start(opts: Omit<LocalClusterOptions, 'dataDir' | 'onLog'>): Promise<ClusterHarness> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await ClusterHarness.startOnce(opts);
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
      }
    }
  }

  private static async startOnce(opts: Omit<LocalClusterOptions, 'dataDir' | 'onLog'>): Promise<ClusterHarness> {
    const dir = await mkdtemp(join(tmpdir(), 'zabkit-cluster-'));
    let self: ClusterHarness | null = null;
    const pending: { id: number; line: string; at: number }[] = [];
    const cluster = new LocalCluster({
      tickTime: 200,
      ...opts,
      dataDir: dir,
      onLog: (id, line) => (self ? self.onLog(id, line) : pending.push({ id, line, at: Date.now() })),
    });
    self = new ClusterHarness(cluster, dir);
    self.logs.push(...pending);
    try {
      await cluster.start();
    } catch (err) {
      await self.dispose();
      throw new Error(`${(err as Error).message}\n--- last log lines ---\n${self.tail(30)}`, { cause: err });
    }
    return self;
  }

  private onLog(id: number, line: string): void {
    this.logs.push({ id, line, at: Date.now() });
    if (process.env.ZABKIT_TEST_LOGS) console.log(`[node ${id}] ${line}`);
    this.logWaiters = this.logWaiters.filter((w) => {
      if ((w.id === undefined || w.id === id) && w.re.test(line)) {
        w.resolve(line);
        return false;
      }
      return true;
    });
  }

  /** Lines matching `re` (from node `id` if given) logged at or after `since` (ms epoch). */
  linesMatching(re: RegExp, id?: number, since = 0): string[] {
    return this.logs.filter((l) => l.at >= since && (id === undefined || l.id === id) && re.test(l.line)).map((l) => l.line);
  }

  /** Resolves with the first line matching `re` logged from now on (by node `id` if given); rejects after `timeoutMs`. */
  nextLine(re: RegExp, opts: { id?: number; timeoutMs?: number } = {}): Promise<string> {
    return withTimeout(
      new Promise<string>((resolve) => this.logWaiters.push({ re, id: opts.id, resolve })),
      opts.timeoutMs ?? 20_000,
      `log line ${re}${opts.id ? ` from node ${opts.id}` : ''}`,
    );
  }

  /** A client on the given servers (default: all, in order), closed by dispose(). */
  async client(connectString = this.cluster.connectString, opts: ConnectOptions = {}): Promise<ZabClient> {
    const c = await connect(connectString, { requestTimeoutMs: 10_000, ...opts });
    this.clients.push(c);
    return c;
  }

  /** A client bound to exactly one server (no other address to move to). */
  clientOn(id: number, opts: ConnectOptions = {}): Promise<ZabClient> {
    return this.client(this.cluster.address(id), { shuffle: false, retry: { retries: 20, maxTimeout: 500 }, ...opts });
  }

  async closeClients(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close().catch(() => {})));
  }

  /** Recent log lines, for failure messages. */
  tail(n = 60): string {
    return this.logs
      .slice(-n)
      .map((l) => `[${l.id}] ${l.line}`)
      .join('\n');
  }

  async dispose(): Promise<void> {
    await this.closeClients();
    await this.cluster.stop().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it returns a non-undefined value; rejects after `timeoutMs`. */
export async function pollUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves with the args of the next `event` emitted by `client`; rejects after `timeoutMs`. */
export function nextEvent<K extends keyof ClientEvents>(client: ZabClient, event: K, timeoutMs: number): Promise<ClientEvents[K]> {
  return withTimeout(
    new Promise<ClientEvents[K]>((resolve) => client.once(event, ((...args: ClientEvents[K]) => resolve(args)) as never)),
    timeoutMs,
    `client event '${event}'`,
  );
}

export const text = (data: Uint8Array | null): string | null => (data === null ? null : Buffer.from(data).toString('utf8'));

/** Result of a bounded write load: what was acknowledged, what failed (may or may not have landed). */
export interface WriteLoad {
  acked: { path: string; issuedAt: number; ackedAt: number }[];
  unknown: string[];
}

/**
 * Runs `clients` x `lanes` sequential create loops under `parent` (each node's data is its
 * own path) until `until()` says stop or `maxWrites` were issued or `maxMs` passed.
 * A failed create is recorded as unknown and the lane goes on with a new path.
 */
export async function runWrites(opts: {
  clients: ZabClient[];
  lanes: number;
  parent: string;
  until: (load: WriteLoad) => boolean;
  maxWrites: number;
  maxMs: number;
  onAck?: (load: WriteLoad) => void;
}): Promise<WriteLoad> {
  const load: WriteLoad = { acked: [], unknown: [] };
  const deadline = Date.now() + opts.maxMs;
  let issued = 0;
  const stop = () => issued >= opts.maxWrites || Date.now() >= deadline || opts.until(load);
  const lane = async (c: number, l: number): Promise<void> => {
    const client = opts.clients[c]!;
    for (let j = 0; !stop(); j++) {
      issued++;
      const path = `${opts.parent}/c${c}-l${l}-${j}`;
      const issuedAt = Date.now();
      try {
        await client.create(path, path);
        load.acked.push({ path, issuedAt, ackedAt: Date.now() });
        opts.onAck?.(load);
      } catch {
        load.unknown.push(path);
        // A request that failed fast (connection lost) is retried with the next path once the client
        // reconnects: requests issued while suspended wait for the reconnection, so no busy loop here
        // beyond one retry per failure, and `maxWrites` bounds it anyway.
      }
    }
  };
  const all: Promise<void>[] = [];
  for (let c = 0; c < opts.clients.length; c++) for (let l = 0; l < opts.lanes; l++) all.push(lane(c, l));
  await Promise.all(all);
  return load;
}

/**
 * Connects to server `id` alone, syncs, and checks every acknowledged path is there with its
 * data, and every unknown one is either absent or complete. Returns the children of `parent`.
 */
export async function checkServer(h: ClusterHarness, id: number, parent: string, load: WriteLoad): Promise<string[]> {
  const c = await h.clientOn(id);
  await c.sync('/');
  const children = new Set(await c.getChildren(parent));
  const missing = load.acked.map((a) => a.path).filter((p) => !children.has(p.slice(parent.length + 1)));
  expect(missing, `acknowledged writes missing on server ${id}`).toEqual([]);
  // Every node that exists holds exactly the data it was created with (nothing half-applied).
  const names = [...children];
  for (let i = 0; i < names.length; i += 200) {
    const batch = names.slice(i, i + 200);
    const datas = await Promise.all(batch.map((n) => c.getData(`${parent}/${n}`)));
    batch.forEach((n, k) => expect(text(datas[k]!.data), `data of ${parent}/${n} on server ${id}`).toBe(`${parent}/${n}`));
  }
  await c.close();
  return names.sort();
}

/** Creates `count` nodes `${parent}/k${i}` (data = path), `inFlight` at a time. */
export async function createMany(client: { create(path: string, data: string): Promise<string> }, parent: string, count: number, inFlight = 32): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await client.create(`${parent}/k${i}`, `${parent}/k${i}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}
