import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type ZabClient } from '@zabkit/client';
import { Provider, ServiceCache, ServiceRegistry, type ServiceInstance } from '@zabkit/registry';

const DEFAULT_BASE = '/examples/services';

// ---------------------------------------------------------------- the service

export interface ServiceOptions {
  /** Service name callers look up. Default: `hello`. */
  name?: string;
  /** Instance id, unique within the service. Default: `hello-<pid>`. */
  id?: string;
  /** HTTP port. Default: 0 (any free port). */
  port?: number;
  /** Address callers should use. Default: 127.0.0.1. */
  address?: string;
  /** Registry root. Default: `/examples/services`. */
  basePath?: string;
  /** Session timeout asked of the ensemble, in ms: a crashed instance disappears within about this long. Default: 10000. */
  sessionTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface HelloService {
  readonly id: string;
  readonly url: string;
  readonly client: ZabClient;
  /** Unregisters (callers stop routing here), then stops serving. */
  close(): Promise<void>;
}

/** What a hello instance answers on GET /hello. */
export interface HelloResponse {
  message: string;
  id: string;
}

/**
 * A service that registers itself: listens first, then registers an
 * ephemeral instance `<basePath>/<name>/<id>` with its address and port.
 *
 *   GET /hello  { message, id }
 */
export async function startService(connectString: string, opts: ServiceOptions = {}): Promise<HelloService> {
  const name = opts.name ?? 'hello';
  const id = opts.id ?? `${name}-${process.pid}`;
  const log = opts.log ?? ((line: string) => console.log(line));
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/hello') return send(res, 200, { message: `hello from ${id}`, id } satisfies HelloResponse);
    send(res, 404, { error: 'not found' });
  });
  const address = opts.address ?? '127.0.0.1';
  await listen(server, opts.port ?? 0, address);
  const port = (server.address() as AddressInfo).port;

  const sessionTimeoutMs = opts.sessionTimeoutMs ?? 10_000;
  const client = await connect(connectString, { sessionTimeoutMs });
  const registry = new ServiceRegistry(client, {
    basePath: opts.basePath ?? DEFAULT_BASE,
    // after a session expiry: a new session, and the instance registered again
    clientFactory: () => connect(connectString, { sessionTimeoutMs }),
  });
  try {
    await registry.register({ name, id, address, port, metadata: { startedBy: process.pid } });
  } catch (err) {
    await registry.close().catch(() => {});
    await client.close();
    await closeServer(server);
    throw err;
  }
  log(`${id}: serving on http://${address}:${port}, registered as ${name}/${id}`);
  let closing: Promise<void> | undefined;
  return {
    id,
    url: `http://${address}:${port}`,
    client,
    close: () =>
      (closing ??= (async () => {
        // unregister first so callers stop routing here, then stop serving
        await registry.close().catch(() => {});
        await registry.client.close();
        if (registry.client !== client) await client.close(); // rebound after an expiry
        await closeServer(server);
        log(`${id}: unregistered and stopped`);
      })()),
  };
}

// ----------------------------------------------------------------- the caller

export interface CallerOptions {
  /** Service to call. Default: `hello`. */
  name?: string;
  /** HTTP port of the caller's own endpoint. Default: 0 (any free port). */
  port?: number;
  /** Registry root. Default: `/examples/services`. */
  basePath?: string;
  /** Limit of one call to an instance, in ms. Default: 2000. */
  callTimeoutMs?: number;
  sessionTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Thrown by `call()` when no instance of the service is registered and up. */
export class NoInstanceError extends Error {
  constructor(readonly service: string) {
    super(`no instance of ${service} available`);
    this.name = 'NoInstanceError';
  }
}

export interface CallResult {
  /** Id of the instance that answered. */
  via: string;
  response: HelloResponse;
}

export interface Caller {
  readonly url: string;
  readonly client: ZabClient;
  /** The live instances, kept current by watches. */
  readonly cache: ServiceCache;
  readonly provider: Provider;
  /** Picks an instance and calls GET /hello on it; on a failed call, notes the error and tries another. */
  call(): Promise<CallResult>;
  close(): Promise<void>;
}

/**
 * A caller that finds the service through discovery.
 *
 *   GET /call  200 { via, response } from one instance (round-robin), 503 when none is available
 */
export async function startCaller(connectString: string, opts: CallerOptions = {}): Promise<Caller> {
  const name = opts.name ?? 'hello';
  const log = opts.log ?? ((line: string) => console.log(line));
  const client = await connect(connectString, { sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000 });
  const cache = new ServiceCache(client, { basePath: opts.basePath ?? DEFAULT_BASE, name });
  cache.on('added', (i) => log(`caller: ${name} instance ${i.id} appeared at ${i.address}:${i.port}`));
  cache.on('removed', (i) => log(`caller: ${name} instance ${i.id} is gone`));
  const provider = new Provider(cache, { strategy: 'round-robin', downInstancePolicy: { errorThreshold: 1, cooldownMs: 5_000 } });

  async function call(): Promise<CallResult> {
    // bounded: each failed instance is marked down (errorThreshold 1), so at most one try per instance
    const tries = cache.instances().length;
    for (let attempt = 0; attempt < tries; attempt++) {
      const instance: ServiceInstance | undefined = provider.getInstance();
      if (!instance) break;
      try {
        const res = await fetch(`http://${instance.address}:${instance.port}/hello`, { signal: AbortSignal.timeout(opts.callTimeoutMs ?? 2_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return { via: instance.id, response: (await res.json()) as HelloResponse };
      } catch (err) {
        log(`caller: call to ${instance.id} failed (${(err as Error)?.message ?? err}), trying another instance`);
        provider.noteError(instance);
      }
    }
    throw new NoInstanceError(name);
  }

  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/call') return send(res, 404, { error: 'not found' });
    call().then(
      (result) => send(res, 200, result),
      (err: unknown) => send(res, err instanceof NoInstanceError ? 503 : 502, { error: String((err as Error)?.message ?? err) }),
    );
  });
  try {
    await cache.start();
    await listen(server, opts.port ?? 0);
  } catch (err) {
    await cache.close();
    await client.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    client,
    cache,
    provider,
    call,
    close: () =>
      (closing ??= (async () => {
        await closeServer(server);
        await provider.close();
        await cache.close();
        await client.close();
      })()),
  };
}

// ------------------------------------------------------------------- together

export interface ServiceDiscoveryOptions {
  service?: ServiceOptions;
  caller?: CallerOptions;
}

/** Starts one hello instance and one caller (what `main.ts` does without ROLE). */
export async function start(connectString: string, opts: ServiceDiscoveryOptions = {}): Promise<{ service: HelloService; caller: Caller; close(): Promise<void> }> {
  const service = await startService(connectString, opts.service);
  let caller: Caller;
  try {
    caller = await startCaller(connectString, opts.caller);
  } catch (err) {
    await service.close();
    throw err;
  }
  return {
    service,
    caller,
    close: async () => {
      await caller.close();
      await service.close();
    },
  };
}

// -------------------------------------------------------------------- helpers

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function listen(server: Server, port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
