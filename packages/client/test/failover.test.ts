// Losing the server: restart on the same port and dataDir, cut-offs through a TCP proxy, real expiry.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { once } from '../../../test/support/once.js';
import {
  AbortedError,
  OperationTimeoutError,
  SessionExpiredError,
  connect,
  waitForDeletion,
  type ConnectOptions,
  type WatchEvent,
  type ZabClient,
} from '../src/index.js';
import { arm } from './watch-util.js';
import { Proxy, start, tempDir, type Server } from './server-harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
async function serverInTemp(): Promise<{ server: Server; dir: string }> {
  const d = await tempDir();
  cleanups.push(d.remove);
  const server = await start(d.dir);
  return { server, dir: d.dir };
}
async function open(address: string, opts: ConnectOptions = {}): Promise<ZabClient> {
  const c = await connect(address, { retry: { minTimeout: 10, maxTimeout: 50 }, ...opts });
  cleanups.push(() => c.close({ timeoutMs: 200 }));
  return c;
}

describe('failover', () => {
  it('survives a server restart: suspended, then reconnected with its session, ephemeral and watch; queued requests complete', async () => {
    let { server, dir } = await serverInTemp();
    cleanups.push(() => server.close());
    const port = server.port;
    const c = await open(`127.0.0.1:${port}`, { sessionTimeoutMs: 1000 });
    const sessionId = c.sessionId;
    await c.create('/r', 'v0');
    const eph = await c.create('/r/e', 'x', { mode: 'ephemeral' });
    const watched = await arm((watch) => c.getData('/r', { watch }));

    const events: string[] = [];
    for (const e of ['suspended', 'reconnected', 'expired'] as const) c.on(e, () => events.push(e));
    const suspended = once(c, 'suspended');
    await server.close();
    await suspended;
    expect(c.state).toBe('suspended');
    expect(c.serverAddress).toBeUndefined();

    // requests issued while suspended wait, bounded by their timeout / signal
    const ac = new AbortController();
    const aborted = c.exists('/r', { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    await expect(c.exists('/r', { timeoutMs: 20 })).rejects.toBeInstanceOf(OperationTimeoutError);
    const queued = c.getChildren('/r');

    const reconnected = once(c, 'reconnected');
    server = await start(dir, port);
    await reconnected;
    expect(await queued).toEqual(['e']);
    expect(c.sessionId).toBe(sessionId);
    expect(c.state).toBe('connected');
    expect(events).toEqual(['suspended', 'reconnected']);

    const other = await open(`127.0.0.1:${port}`);
    expect((await other.exists(eph))?.ephemeralOwner).toBe(sessionId);
    await other.setData('/r', 'v1');
    expect(await watched.fired).toEqual({ type: 'NodeDataChanged', path: '/r' });
  });

  it('re-registers watches after a cut-off and gets the changes it missed at once', async () => {
    const { server } = await serverInTemp();
    cleanups.push(() => server.close());
    const proxy = await Proxy.start(server.port);
    cleanups.push(() => proxy.close());
    const a = await open(proxy.address, { sessionTimeoutMs: 1000 });
    const b = await open(server.connectString);
    await b.create('/mv', 'v0');
    const data = await arm((watch) => a.getData('/mv', { watch }));
    const kids = await arm((watch) => a.getChildren('/mv', { watch }));
    const created = await arm((watch) => a.exists('/mv-new', { watch }));
    const untouched = vi.fn();
    await a.exists('/mv-other', { watch: untouched });

    const suspended = once(a, 'suspended');
    proxy.cut();
    await suspended;
    await b.setData('/mv', 'v1');
    await b.create('/mv/kid');
    await b.create('/mv-new');
    const reconnected = once(a, 'reconnected');
    proxy.restore();
    await reconnected;
    expect(await data.fired).toEqual({ type: 'NodeDataChanged', path: '/mv' });
    expect(await kids.fired).toEqual({ type: 'NodeChildrenChanged', path: '/mv' });
    expect(await created.fired).toEqual({ type: 'NodeCreated', path: '/mv-new' });
    await a.sync('/');
    expect(untouched).not.toHaveBeenCalled();
    expect(a.lastZxidSeen).toBeGreaterThanOrEqual((await b.exists('/mv-new'))!.czxid);
  });

  it('learns of its expiry when it gets back: expired, requests fail, no watch fires, no new session', async () => {
    const { server } = await serverInTemp();
    cleanups.push(() => server.close());
    const proxy = await Proxy.start(server.port);
    cleanups.push(() => proxy.close());
    const a = await open(proxy.address, { sessionTimeoutMs: 500 });
    const b = await open(server.connectString);
    await b.create('/ex');
    const eph = await a.create('/ex/a', null, { mode: 'ephemeral' });
    const aWatch = vi.fn();
    await a.getChildren('/ex', { watch: aWatch });
    const sessionId = a.sessionId;
    const gone = await arm((watch) => b.exists(eph, { watch }));
    const waiting = waitForDeletion(a, '/ex');
    const waitingResult = waiting.catch((e: unknown) => e);

    const suspended = once(a, 'suspended');
    proxy.cut();
    await suspended;
    const queued = a.getData('/ex');
    // the server expires the session on its own: b sees the ephemeral go
    expect(await gone.fired).toEqual({ type: 'NodeDeleted', path: eph });

    const expired = once(a, 'expired');
    proxy.restore();
    const [err] = await expired;
    expect(err).toBeInstanceOf(SessionExpiredError);
    expect(a.state).toBe('expired');
    await expect(queued).rejects.toBeInstanceOf(SessionExpiredError);
    await expect(a.exists('/ex')).rejects.toBeInstanceOf(SessionExpiredError);
    expect(aWatch).not.toHaveBeenCalled();
    expect(await waitingResult).toBeInstanceOf(SessionExpiredError);
    expect(a.sessionId).toBe(sessionId);
    expect((await server.status()).sessions).toBe(1); // only b's
  });
});
