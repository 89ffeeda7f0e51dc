// A handler exception never ends the server: it is logged, the node goes LOOKING and comes back.
// The fault is injected into a real standalone server (real sockets and files) by making one of
// its node's inputs throw once, as a bug reached by hostile input would.
import { describe, expect, it } from 'vitest';
import { connect } from '@zabkit/client';
import type { ZabNode } from '../../src/core/zab/zab-node.js';
import type { StartedServer } from '../../src/runtime/cluster-server.js';
import type { Logger } from '../../src/runtime/logger.js';
import { startServer } from '../../src/runtime/start-server.js';
import { afterTest, tempDir } from './helpers.js';

function capture(): { logger: Logger; lines: string[]; next(re: RegExp): Promise<string> } {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve(l: string): void }[] = [];
  const log = (level: string) => (m: string) => {
    const line = `${level} ${m}`;
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  return {
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    lines,
    next: (re) => {
      const hit = lines.find((l) => re.test(l));
      return hit ? Promise.resolve(hit) : new Promise((resolve) => waiters.push({ re, resolve }));
    },
  };
}

/** Makes the node's `method` throw on its next call (only). */
function throwOnce(server: StartedServer, method: 'tick' | 'request'): void {
  const node = (server as unknown as { node: ZabNode }).node;
  const original = node[method].bind(node) as (...a: unknown[]) => void;
  let thrown = false;
  (node as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
    if (thrown) return original(...args);
    thrown = true;
    throw new TypeError(`injected ${method} failure`);
  };
}

describe('ClusterServer guards its inputs', () => {
  for (const method of ['tick', 'request'] as const) {
    it(`an exception in the node's ${method} handler is logged, the node goes LOOKING and serves again`, async () => {
      const log = capture();
      const server = await startServer({ dataDir: await tempDir(), clientPort: 0, clientPortAddress: '127.0.0.1', logger: log.logger });
      afterTest(() => server.close());
      await server.serving();
      const c = await connect(server.connectString, { retry: { retries: 20, minTimeout: 20, maxTimeout: 200 }, requestTimeoutMs: 10_000 });
      afterTest(() => c.close({ timeoutMs: 200 }));
      await c.create('/before');
      const reconnected = new Promise((resolve) => c.once('reconnected', resolve));
      throwOnce(server, method);
      // the request that hits the failure is lost with its connection (ConnectionLoss); a tick needs no trigger
      const lost = method === 'request' ? c.create('/lost').catch((e: Error) => e) : null;
      await log.next(new RegExp(`error handling a (tick|client frame) failed: TypeError: injected ${method} failure`));
      await log.next(/LOOKING: internal error while handling a (tick|client frame): injected/);
      if (lost) expect(await lost).toBeInstanceOf(Error);
      // It comes back: the client's session survives the reconnect and writes again.
      await reconnected;
      await c.create('/after');
      expect(await c.exists('/before')).not.toBeNull();
      expect(server.status().role).toBe('standalone');
      let stopped = false;
      void server.stopped.then(() => (stopped = true));
      await new Promise((r) => setImmediate(r));
      expect(stopped).toBe(false);
    });
  }
});
