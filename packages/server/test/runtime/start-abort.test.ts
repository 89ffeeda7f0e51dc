// runServer's signal: startup stopped at each of its steps leaves nothing open and nothing lost.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect } from '@zabkit/client';
import { configFromObject, type ServerConfig } from '../../src/runtime/config.js';
import type { Logger } from '../../src/runtime/logger.js';
import { runServer } from '../../src/runtime/start-server.js';
import { afterTest, tempDir } from './helpers.js';

async function standalone(): Promise<ServerConfig> {
  const dataDir = await tempDir();
  return configFromObject({ dataDir, clientPort: 0, tickTime: 200 }).config;
}

/** A logger that aborts `controller` when it logs a line matching `when` (a step of startup). */
function abortingLogger(controller: AbortController, when: RegExp): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (m: string) => {
    lines.push(m);
    if (when.test(m)) controller.abort(new Error('asked to stop'));
  };
  return { lines, debug: log, info: log, warn: log, error: log };
}

/** Starts the server, writes /a, stops it. */
async function withData(config: ServerConfig): Promise<void> {
  const server = await runServer(config, abortingLogger(new AbortController(), /^$/));
  const c = await connect(server.connectString);
  await c.create('/a', 'kept');
  await c.close();
  await server.close();
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });

describe('runServer with an aborted signal', () => {
  for (const [step, when] of [
    ['during log recovery', /recovering the txn log/],
    ['once listening, before serving', /listening on/],
  ] as const) {
    it(`${step}: rejects with the reason, leaves nothing open, and the data is there next start`, async () => {
      const config = await standalone();
      await withData(config);
      const controller = new AbortController();
      const logger = abortingLogger(controller, when);
      const reason = await runServer(config, logger, { signal: controller.signal }).then(
        (s) => (afterTest(() => s.close()), null),
        (err: unknown) => err,
      );
      expect(reason).toBe(controller.signal.reason);
      expect(logger.lines.some((l) => /recovered \d+ txn/.test(l))).toBe(step !== 'during log recovery');
      const listening = logger.lines.map((l) => /listening on 127\.0\.0\.1:(\d+)/.exec(l)).find((m) => m);
      if (listening) expect(await refused(Number(listening[1]))).toBe(true);

      const again = await runServer(config, abortingLogger(new AbortController(), /^$/));
      afterTest(() => again.close());
      const c = await connect(again.connectString);
      afterTest(() => c.close({ timeoutMs: 200 }));
      expect((await c.getString('/a')).data).toBe('kept');
    });
  }
});
