import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type ZabClient } from '@zabkit/client';
import { ConfigWatcher } from '@zabkit/config';

/** The service's configuration, published as JSON to one node. */
export interface GreetingConfig {
  greeting: string;
  /** Who to greet. Default: `world`. */
  audience?: string;
}

/** Used while nothing (valid) has been published. */
export const DEFAULT_CONFIG: GreetingConfig = { greeting: 'hello' };

/** Rejects anything that is not a GreetingConfig: a bad publish never replaces the last good config. */
export function parseConfig(value: unknown): GreetingConfig {
  const { greeting, audience } = (value ?? {}) as Partial<GreetingConfig>;
  if (typeof greeting !== 'string' || greeting === '') throw new TypeError('greeting must be a non-empty string');
  if (audience !== undefined && typeof audience !== 'string') throw new TypeError('audience must be a string');
  return audience === undefined ? { greeting } : { greeting, audience };
}

export interface ConfigReloadOptions {
  /** Config node. Default: `/examples/config-reload/greeting`. */
  configPath?: string;
  /** HTTP port. Default: 0 (any free port). */
  port?: number;
  sessionTimeoutMs?: number;
  log?: (line: string) => void;
}

/** What GET / answers. */
export interface GreetingResponse {
  message: string;
  /** Data version of the config node the answer was made with (-1: defaults, nothing published). */
  configVersion: number;
}

export interface ConfigReloadService {
  readonly url: string;
  readonly client: ZabClient;
  /** Holds the current config; e.g. `watcher.waitFor((c) => c?.greeting === 'hi')`. */
  readonly watcher: ConfigWatcher<GreetingConfig>;
  close(): Promise<void>;
}

/**
 * An HTTP service whose answer follows its config node: no restart, no polling.
 *
 *   GET /  { message: "<greeting>, <audience>!", configVersion }
 *
 * Publish with `publish(client, path, { greeting: 'bonjour' })` from `@zabkit/config`
 * (or `zabkit shell ... set <path> '{"greeting":"bonjour"}'`).
 */
export async function start(connectString: string, opts: ConfigReloadOptions = {}): Promise<ConfigReloadService> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const path = opts.configPath ?? '/examples/config-reload/greeting';
  const client = await connect(connectString, { sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000 });
  const watcher = new ConfigWatcher<GreetingConfig>(client, path, { validate: parseConfig });
  watcher.on('change', ({ value, version }) =>
    log(value ? `config-reload: reloaded config v${version}: ${JSON.stringify(value)}` : `config-reload: config deleted, back to defaults`),
  );
  watcher.on('invalid', (err) => log(`config-reload: ignored an invalid config (${err.message}), keeping the last good one`));
  watcher.on('error', (err) => log(`config-reload: stopped following the config: ${err.message}`));

  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/') return send(res, 404, { error: 'not found' });
    // read the current config on every request: a publish shows in the next answer
    const current = watcher.get();
    const config = current ?? DEFAULT_CONFIG;
    const version = current === undefined ? -1 : (watcher.stat?.version ?? -1);
    send(res, 200, { message: `${config.greeting}, ${config.audience ?? 'world'}!`, configVersion: version } satisfies GreetingResponse);
  });
  try {
    await watcher.start();
    await listen(server, opts.port ?? 0);
  } catch (err) {
    await watcher.close();
    await client.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    client,
    watcher,
    close: () =>
      (closing ??= (async () => {
        await closeServer(server);
        await watcher.close();
        await client.close();
      })()),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
