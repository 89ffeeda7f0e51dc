import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceRegistry } from '@zabkit/registry';
import { start, startCaller, startService, type Caller, type HelloService } from '../../examples/service-discovery/src/index.js';
import { startTestCluster, type TestCluster } from '../support/cluster.js';

async function get(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

describe('examples/service-discovery on a 3-node cluster', () => {
  let tc: TestCluster;
  const handles: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    tc = await startTestCluster();
  });
  afterAll(async () => {
    for (const h of handles.reverse()) await h.close();
    await tc?.close();
  });

  it('the caller finds instances as they register, calls them over HTTP, and stops routing to one that stops', async () => {
    const basePath = '/t/discovery/route';
    const caller: Caller = await startCaller(tc.connectString, { basePath, log: () => {} });
    handles.push(caller);
    expect(await get(`${caller.url}/call`)).toEqual({ status: 503, body: { error: 'no instance of hello available' } });

    const both = caller.cache.waitFor((list) => list.length === 2, { timeoutMs: 10_000 });
    const one: HelloService = await startService(tc.connectString, { id: 'hello-1', basePath, log: () => {} });
    const two: HelloService = await startService(tc.connectString, { id: 'hello-2', basePath, log: () => {} });
    handles.push(one, two);
    await both;

    const via = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { status, body } = await get(`${caller.url}/call`);
      expect(status).toBe(200);
      expect(body.response).toEqual({ message: `hello from ${body.via}`, id: body.via });
      via.add(body.via);
    }
    expect(via).toEqual(new Set(['hello-1', 'hello-2'])); // round-robin over both

    const oneGone = caller.cache.waitFor((list) => !list.some((i) => i.id === 'hello-1'), { timeoutMs: 10_000 });
    await one.close();
    await oneGone;
    for (let i = 0; i < 4; i++) {
      const { status, body } = await get(`${caller.url}/call`);
      expect(status).toBe(200);
      expect(body.via).toBe('hello-2');
    }

    const allGone = caller.cache.waitFor((list) => list.length === 0, { timeoutMs: 10_000 });
    await two.close();
    await allGone;
    expect((await get(`${caller.url}/call`)).status).toBe(503);
    await expect(caller.call()).rejects.toThrow(/no instance of hello/);
  });

  it('start(): one instance and one caller; the caller gets the instance\'s response', async () => {
    const basePath = '/t/discovery/start';
    const pair = await start(tc.connectString, { service: { id: 'solo', basePath, log: () => {} }, caller: { basePath, log: () => {} } });
    handles.push(pair);
    expect(await get(`${pair.caller.url}/call`)).toEqual({ status: 200, body: { via: 'solo', response: { message: 'hello from solo', id: 'solo' } } });
    expect(await get(`${pair.service.url}/hello`)).toEqual({ status: 200, body: { message: 'hello from solo', id: 'solo' } });
  });

  it('an instance that is registered but does not answer is marked down: the call goes to another one', async () => {
    const basePath = '/t/discovery/zombie';
    const caller = await startCaller(tc.connectString, { basePath, log: () => {} });
    handles.push(caller);
    const ready = caller.cache.waitFor((list) => list.length === 2, { timeoutMs: 10_000 });
    const alive = await startService(tc.connectString, { id: 'b-alive', basePath, log: () => {} });
    handles.push(alive);
    // a hung process: its registration (id sorted first) is still there, nothing listens on its port
    const registry = new ServiceRegistry(await tc.client(), { basePath });
    handles.push(registry);
    await registry.register({ name: 'hello', id: 'a-zombie', address: '127.0.0.1', port: await closedPort() });
    await ready;

    for (let i = 0; i < 3; i++) {
      const { status, body } = await get(`${caller.url}/call`);
      expect(status).toBe(200);
      expect(body.via).toBe('b-alive');
    }
    expect(caller.provider.isDown({ id: 'a-zombie' })).toBe(true);
  });
});

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
