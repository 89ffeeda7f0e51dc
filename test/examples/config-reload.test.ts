import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish } from '@zabkit/config';
import type { ZabClient } from '@zabkit/client';
import { start, type ConfigReloadService, type GreetingResponse } from '../../examples/config-reload/src/index.js';
import { startTestCluster, type TestCluster } from '../support/cluster.js';

async function greet(service: ConfigReloadService): Promise<GreetingResponse> {
  const res = await fetch(`${service.url}/`);
  expect(res.status).toBe(200);
  return (await res.json()) as GreetingResponse;
}

describe('examples/config-reload on a 3-node cluster', () => {
  let tc: TestCluster;
  let admin: ZabClient;
  const services: ConfigReloadService[] = [];
  const startService = async (configPath: string, log: (line: string) => void = () => {}) => {
    const s = await start(tc.connectString, { configPath, log });
    services.push(s);
    return s;
  };
  beforeAll(async () => {
    tc = await startTestCluster();
    admin = await tc.client();
  });
  afterAll(async () => {
    await Promise.all(services.map((s) => s.close()));
    await tc?.close();
  });

  it('answers with the defaults until a config is published, then with the published one (every replica)', async () => {
    const path = '/t/config-reload/basic/greeting';
    const lines: string[] = [];
    const one = await startService(path, (l) => lines.push(l));
    const two = await startService(path);
    expect(await greet(one)).toEqual({ message: 'hello, world!', configVersion: -1 });

    const seen = Promise.all([one, two].map((s) => s.watcher.waitFor((c) => c?.greeting === 'bonjour', { timeoutMs: 5_000 })));
    await publish(admin, path, { greeting: 'bonjour', audience: 'zabkit' });
    await seen;
    for (const s of [one, two]) expect(await greet(s)).toEqual({ message: 'bonjour, zabkit!', configVersion: 0 });
    expect(lines).toContain('config-reload: reloaded config v0: {"greeting":"bonjour","audience":"zabkit"}');

    const again = Promise.all([one, two].map((s) => s.watcher.waitFor((c) => c?.greeting === 'hola', { timeoutMs: 5_000 })));
    await publish(admin, path, { greeting: 'hola' });
    await again;
    for (const s of [one, two]) expect(await greet(s)).toEqual({ message: 'hola, world!', configVersion: 1 });
  });

  it('an invalid publish is ignored (the last good config keeps serving); deleting the node brings the defaults back', async () => {
    const path = '/t/config-reload/invalid/greeting';
    await publish(admin, path, { greeting: 'hi' });
    const s = await startService(path);
    expect(await greet(s)).toEqual({ message: 'hi, world!', configVersion: 0 });

    const refused = new Promise((resolve) => s.watcher.once('invalid', resolve));
    await publish(admin, path, { greeting: 42 });
    await refused;
    expect(await greet(s)).toEqual({ message: 'hi, world!', configVersion: 0 });

    const deleted = s.watcher.waitFor((c) => c === undefined, { timeoutMs: 5_000 });
    await admin.delete(path);
    await deleted;
    expect(await greet(s)).toEqual({ message: 'hello, world!', configVersion: -1 });
  });

  it('after 50 rapid publishes the service answers with the last one', async () => {
    const path = '/t/config-reload/rapid/greeting';
    const s = await startService(path);
    for (let i = 1; i <= 50; i++) await publish(admin, path, { greeting: `v${i}` });
    await s.watcher.waitFor((c) => c?.greeting === 'v50', { timeoutMs: 10_000 });
    expect(await greet(s)).toEqual({ message: 'v50, world!', configVersion: 49 });
    expect((await fetch(`${s.url}/other`)).status).toBe(404);
  });
});
