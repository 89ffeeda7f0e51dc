// ServiceRegistry / ServiceCache against a real 3-node cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionLossError, NodeExistsError, SessionExpiredError, connect, waitForDeletion, type ConnectOptions, type ZabClient } from '@zabkit/client';
import { startTestCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Proxy } from '../../../test/support/proxy.js';
import { Provider, ServiceCache, ServiceRegistry, discover } from '../src/index.js';
import { nextEvent } from '../../../test/support/events.js';
import { readFile } from 'node:fs/promises';
import { registryExample } from './readme-example.js';

let tc: TestCluster;
let watcher: ZabClient; // the "other session" that observes
const opened: ZabClient[] = [];
const proxies: Proxy[] = [];
beforeAll(async () => {
  tc = await startTestCluster();
  watcher = await tc.client();
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close({ timeoutMs: 200 }).catch(() => {})));
  await Promise.all(proxies.map((p) => p.close()));
  await tc?.close();
});

/** A client reaching node 1 through a proxy that can cut it off. */
async function proxied(options: ConnectOptions = {}): Promise<{ client: ZabClient; proxy: Proxy }> {
  const proxy = await Proxy.start(Number(tc.cluster.address(1).split(':')[1]));
  proxies.push(proxy);
  const client = await connect(proxy.address, { retry: { minTimeout: 20, maxTimeout: 100 }, ...options });
  opened.push(client);
  return { client, proxy };
}


/**
 * discover() through `watcher` after a sync: the writes being checked were made by other clients,
 * maybe through other servers, and a read is only sure to see them after a sync (as in ZooKeeper).
 */
async function discoverSynced(basePath: string, name: string) {
  await watcher.sync(basePath);
  return discover(watcher, basePath, name);
}
describe('ServiceRegistry', () => {
  it('registers ephemeral and permanent instances, updates, unregisters and discovers them', async () => {
    const c = await tc.client();
    const registry = new ServiceRegistry(c, { basePath: '/svc/basic' });
    const web1 = await registry.register({ name: 'web', id: 'web-1', address: '10.0.0.1', port: 8080, metadata: { zone: 'a' } });
    const web2 = await registry.register({ name: 'web', address: '10.0.0.2', port: 8080 });
    expect(web2.id).toMatch(/^[0-9a-f-]{36}$/);
    await registry.register({ name: 'db', id: 'db-1', address: '10.0.0.9', port: 5432 }, { permanent: true });

    const found = await discoverSynced('/svc/basic', 'web');
    expect(found.map((i) => i.id).sort()).toEqual(['web-1', web2.id].sort());
    expect(found.find((i) => i.id === 'web-1')).toMatchObject({ name: 'web', address: '10.0.0.1', port: 8080, metadata: { zone: 'a' } });
    expect((await watcher.exists('/svc/basic/web/web-1'))?.ephemeralOwner).toBe(c.sessionId);
    expect((await watcher.exists('/svc/basic/db/db-1'))?.ephemeralOwner).toBe(0n);
    expect(await registry.discover('nothing')).toEqual([]);

    await web1.update({ port: 9090 });
    expect(web1.instance?.port).toBe(9090);
    expect((await discoverSynced('/svc/basic', 'web')).find((i) => i.id === 'web-1')?.port).toBe(9090);
    await expect(registry.update({ id: 'web-1', name: 'api' })).rejects.toThrow(/cannot rename/);

    await web2.close();
    expect((await discoverSynced('/svc/basic', 'web')).map((i) => i.id)).toEqual(['web-1']);

    // an id registered by another live session is refused
    const other = new ServiceRegistry(watcher, { basePath: '/svc/basic' });
    await expect(other.register({ name: 'web', id: 'web-1', address: 'x', port: 1 })).rejects.toBeInstanceOf(NodeExistsError);

    await registry.close(); // ephemerals go, the permanent one stays
    expect(await discoverSynced('/svc/basic', 'web')).toEqual([]);
    expect((await discoverSynced('/svc/basic', 'db')).map((i) => i.id)).toEqual(['db-1']);
    await c.close();
  });

  it('ServiceCache in another session sees added / updated / removed, including a closed process client', async () => {
    const c = await tc.client();
    await using cache = new ServiceCache(watcher, { basePath: '/svc/cache', name: 'api' });
    expect(await cache.start()).toEqual([]);
    const log: string[] = [];
    cache.on('added', (i) => log.push(`+${i.id}:${i.port}`));
    cache.on('updated', (i, p) => log.push(`~${i.id}:${p.port}->${i.port}`));
    cache.on('removed', (i) => log.push(`-${i.id}`));

    const registry = new ServiceRegistry(c, { basePath: '/svc/cache' });
    const r1 = await registry.register({ name: 'api', id: 'a1', address: 'h1', port: 1 });
    await registry.register({ name: 'api', id: 'a2', address: 'h2', port: 2 });
    await cache.waitFor((xs) => xs.length === 2, { timeoutMs: 5_000 });
    await r1.update({ port: 11 });
    await cache.waitFor((xs) => xs[0]?.port === 11, { timeoutMs: 5_000 });
    await r1.unregister();
    await cache.waitFor((xs) => xs.length === 1, { timeoutMs: 5_000 });

    const removed = nextEvent(cache, 'removed');
    await c.close(); // the process's client goes away: its ephemerals go at once
    const [gone] = await removed;
    expect(gone.id).toBe('a2');
    expect(cache.instances()).toEqual([]);
    expect(log).toEqual(['+a1:1', '+a2:2', '~a1:1->11', '-a1', '-a2']);

    // a provider over the cache
    const c2 = await tc.client();
    const reg2 = new ServiceRegistry(c2, { basePath: '/svc/cache' });
    for (const id of ['p1', 'p2', 'p3']) await reg2.register({ name: 'api', id, address: id, port: 80 });
    await cache.waitFor((xs) => xs.length === 3, { timeoutMs: 5_000 });
    await using provider = new Provider(cache, { strategy: 'round-robin', downInstancePolicy: { errorThreshold: 1 } });
    expect([0, 1, 2, 3].map(() => provider.getInstance()?.id)).toEqual(['p1', 'p2', 'p3', 'p1']);
    provider.noteError(cache.get('p2')!);
    expect(new Set([0, 1, 2, 3].map(() => provider.getInstance()?.id))).toEqual(new Set(['p1', 'p3']));
    await reg2.close();
  });

  it('a lost create reply: the registration succeeds once, with the node this session created', async () => {
    const c = await tc.client();
    const create = c.create.bind(c);
    let lost = 0;
    // fault injection: the create is applied by the ensemble, but the caller sees ConnectionLoss
    c.create = async (...args: Parameters<ZabClient['create']>) => {
      const path = await create(...args);
      if (path.endsWith('/lost-1') && lost++ === 0) throw new ConnectionLossError('reply lost (injected)');
      return path;
    };
    const registry = new ServiceRegistry(c, { basePath: '/svc/lost' });
    const reg = await registry.register({ name: 'api', id: 'lost-1', address: 'h', port: 1 });
    expect(lost).toBe(1);
    expect(reg.instance?.id).toBe('lost-1');
    await watcher.sync('/svc/lost');
    expect((await watcher.exists('/svc/lost/api/lost-1'))?.ephemeralOwner).toBe(c.sessionId);
    expect((await discoverSynced('/svc/lost', 'api')).map((i) => i.id)).toEqual(['lost-1']);
    await registry.close();
    await c.close();
  });

  it('a killed instance (session expired behind a cut-off) is removed within the session timeout', async () => {
    const { client, proxy } = await proxied({ sessionTimeoutMs: 2_000 });
    const registry = new ServiceRegistry(client, { basePath: '/svc/kill' });
    await registry.register({ name: 'worker', id: 'w1', address: 'h', port: 1 });
    await watcher.sync('/svc/kill'); // the cache's first read must see the registration made through node 1
    await using cache = new ServiceCache(watcher, { basePath: '/svc/kill', name: 'worker' });
    expect((await cache.start()).map((i) => i.id)).toEqual(['w1']);

    const removed = nextEvent(cache, 'removed', 15_000);
    const cutAt = Date.now();
    proxy.cut();
    const [gone] = await removed;
    const elapsed = Date.now() - cutAt;
    expect(gone.id).toBe('w1');
    // the ensemble expires a session between 1x and 2x its timeout (tick-based buckets); allow for a loaded machine
    expect(elapsed).toBeLessThan(client.sessionTimeoutMs * 2 + 1_500);
    expect(cache.instances()).toEqual([]);
  });

  it('re-registers after session expiry through clientFactory, with the CURRENT data', async () => {
    const { client, proxy } = await proxied({ sessionTimeoutMs: 1_000 });
    let made: ZabClient | undefined;
    const registry = new ServiceRegistry<{ v: number }>(client, {
      basePath: '/svc/expiry',
      clientFactory: async () => (made = await tc.client()),
    });
    const reg = await registry.register({ name: 'api', id: 'e1', address: 'h', port: 1, metadata: { v: 1 } });
    await reg.update({ metadata: { v: 2 } });
    await watcher.sync('/svc/expiry');
    await using cache = new ServiceCache<{ v: number }>(watcher, { basePath: '/svc/expiry', name: 'api' });
    expect((await cache.start())[0]?.metadata).toEqual({ v: 2 });

    const removed = nextEvent(cache, 'removed', 15_000);
    proxy.cut();
    await removed; // the session is gone
    // an update while cut off: it cannot be written in this session, but it is the current data from now on
    const pending = reg.update({ metadata: { v: 3 } }).then(
      () => 'written',
      (e: unknown) => e,
    );
    const expired = nextEvent(registry, 'expired');
    const rebound = nextEvent(registry, 'rebound');
    const added = nextEvent(cache, 'added');
    proxy.restore();
    const [expiry] = await expired;
    expect(expiry).toBeInstanceOf(SessionExpiredError);
    await rebound;
    expect(registry.client).toBe(made);
    const [back] = await added;
    expect(back).toMatchObject({ id: 'e1', metadata: { v: 3 } });
    expect(await pending).toBeInstanceOf(SessionExpiredError);
    expect((await watcher.exists('/svc/expiry/api/e1'))?.ephemeralOwner).toBe(made!.sessionId);

    // and it keeps working on the new session
    await reg.update({ metadata: { v: 4 } });
    await cache.waitFor((xs) => xs[0]?.metadata.v === 4, { timeoutMs: 5_000 });
    await registry.close();
    await cache.waitFor((xs) => xs.length === 0, { timeoutMs: 5_000 });
  });

  it('without a factory it reports the expiry and re-registers on rebind(newClient)', async () => {
    const { client, proxy } = await proxied({ sessionTimeoutMs: 1_000 });
    const registry = new ServiceRegistry(client, { basePath: '/svc/rebind' });
    await registry.register({ name: 'api', id: 'r1', address: 'h', port: 1 });
    const marker = await client.create('/svc/rebind-marker', null, { mode: 'ephemeral' });
    await watcher.sync(marker); // else a watcher that has not seen the marker yet finds it "deleted" at once
    proxy.cut();
    await waitForDeletion(watcher, marker, { timeoutMs: 15_000 }); // the ensemble expired the session
    const expired = nextEvent(registry, 'expired');
    proxy.restore();
    await expired;
    expect(await discoverSynced('/svc/rebind', 'api')).toEqual([]);
    const fresh = await tc.client();
    await registry.rebind(fresh);
    expect((await discoverSynced('/svc/rebind', 'api')).map((i) => i.id)).toEqual(['r1']);
    await registry.close();
  });

  it('after a reconnect it recreates a node that disappeared while the session lived', async () => {
    const { client, proxy } = await proxied({ sessionTimeoutMs: 6_000 });
    const registry = new ServiceRegistry(client, { basePath: '/svc/reconnect' });
    await registry.register({ name: 'api', id: 'k1', address: 'h', port: 1 });
    await watcher.delete('/svc/reconnect/api/k1'); // e.g. an operator's mistake, through another server
    const suspended = nextEvent(client, 'suspended');
    const reregistered = nextEvent(registry, 'reregistered');
    proxy.cut();
    await suspended;
    proxy.restore();
    const [instance, reason] = await reregistered;
    expect(reason).toBe('reconnected');
    expect(instance.id).toBe('k1');
    await watcher.sync('/svc/reconnect/api');
    expect((await watcher.exists('/svc/reconnect/api/k1'))?.ephemeralOwner).toBe(client.sessionId);
    await registry.close();
  });
});

describe('README', () => {
  it('shows the example verbatim, and the example works', async () => {
    const source = await readFile(new URL('./readme-example.ts', import.meta.url), 'utf8');
    const region = /\/\/ #region readme\n([\s\S]*?)\/\/ #endregion readme/.exec(source)![1]!;
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + region + '```');

    expect(await registryExample(tc.connectString)).toEqual(['http://10.0.0.7:8080', 'http://10.0.0.8:8080', 'http://10.0.0.7:8080']);
    expect(await discoverSynced('/services', 'billing')).toEqual([]); // `await using` unregistered them
  });

  it('ServiceCache.waitFor rejects with Closed when the cache closes', async () => {
    const cache = new ServiceCache(watcher, { basePath: '/svc/closed', name: 'x' });
    await cache.start();
    const pending = cache.waitFor((xs) => xs.length > 0);
    await cache.close();
    await expect(pending).rejects.toMatchObject({ code: 'Closed' });
  });
});
