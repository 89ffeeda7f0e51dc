// ConfigWatcher / publish against a real 3-node cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadVersionError, SessionExpiredError, connect, waitForDeletion, type ZabClient } from '@zabkit/client';
import { startTestCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Proxy } from '../../../test/support/proxy.js';
import {
  ConfigDirectoryWatcher,
  ConfigPublisher,
  ConfigValidationError,
  ConfigWatcher,
  publish,
  stringCodec,
  type ConfigChange,
} from '../src/index.js';
import { nextEvent } from '../../../test/support/events.js';
import { readFile } from 'node:fs/promises';
import { configExample } from './readme-example.js';

let tc: TestCluster;
let a: ZabClient; // watchers
let b: ZabClient; // publishers
beforeAll(async () => {
  tc = await startTestCluster();
  [a, b] = await Promise.all([tc.client(), tc.client()]);
});
afterAll(async () => {
  await tc?.close();
});

describe('ConfigWatcher', () => {
  it('loads, follows changes, deletion and re-creation; subscribe and the iterator see them', async () => {
    await using w = new ConfigWatcher<{ level: string }>(a, '/cfg/basic/log');
    expect(await w.start()).toBeUndefined();
    const changes: ConfigChange<{ level: string }>[] = [];
    const unsubscribe = w.subscribe((c) => changes.push(c));
    const iter = w.values();

    await publish(b, '/cfg/basic/log', { level: 'info' }); // creates /cfg/basic too
    expect(await w.waitFor((v) => v?.level === 'info', { timeoutMs: 5_000 })).toEqual({ level: 'info' });
    expect(w.version).toBe(0);
    // the iterator conflates: the value at start (undefined) was replaced before it was read
    expect((await iter.next()).value).toEqual({ level: 'info' });

    const deleted = nextEvent(w, 'deleted');
    await b.delete('/cfg/basic/log');
    await deleted;
    expect(w.get()).toBeUndefined();
    expect(w.version).toBe(-1);

    await publish(b, '/cfg/basic/log', { level: 'debug' });
    await w.waitFor((v) => v?.level === 'debug', { timeoutMs: 5_000 });
    unsubscribe();
    await publish(b, '/cfg/basic/log', { level: 'warn' });
    await w.waitFor((v) => v?.level === 'warn', { timeoutMs: 5_000 });
    expect(changes.map((c) => c.value?.level)).toEqual(['info', undefined, 'debug']);
    expect(changes[1]).toMatchObject({ previous: { level: 'info' }, version: -1, stat: null });
    await iter.return!();
  });

  it('sees the final value after 100 rapid publishes; every value it sees was published, in version order', async () => {
    await publish(b, '/cfg/rapid', { n: -1 });
    await a.sync('/cfg/rapid'); // published through b: a's server may not have it yet
    await using w = new ConfigWatcher<{ n: number }>(a, '/cfg/rapid');
    await w.start();
    const seen: { n: number; version: number }[] = [];
    w.subscribe((c) => seen.push({ n: c.value!.n, version: c.version }));
    const iterated: number[] = [];
    const consumer = (async () => {
      for await (const v of w) {
        iterated.push(v!.n);
        if (v!.n === 99) break;
      }
    })();

    await Promise.all(Array.from({ length: 100 }, (_, n) => publish(b, '/cfg/rapid', { n })));
    // (pipelined on one session: applied in the order sent)
    const final = await w.waitFor((v) => v?.n === 99, { timeoutMs: 10_000 });
    expect(final).toEqual({ n: 99 });
    expect(w.version).toBe(100);
    await consumer;

    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toEqual({ n: 99, version: 100 });
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.version).toBeGreaterThan(seen[i - 1]!.version);
      expect(seen[i]!.n).toBeGreaterThan(seen[i - 1]!.n);
    }
    for (const s of seen) expect(s.version).toBe(s.n + 1); // exactly the value published at that version
    expect(iterated.at(-1)).toBe(99);
    for (let i = 1; i < iterated.length; i++) expect(iterated[i]!).toBeGreaterThan(iterated[i - 1]!);
  });

  it('publish is a compare-and-set with expectedVersion; BadVersion is a typed error', async () => {
    const p = new ConfigPublisher<number>(b, '/cfg/cas');
    const created = await p.publish(1, { expectedVersion: null });
    expect(created.version).toBe(0);
    await expect(p.publish(2, { expectedVersion: null })).rejects.toBeInstanceOf(BadVersionError);
    expect((await p.publish(2, { expectedVersion: 0 })).version).toBe(1);
    const stale = p.publish(3, { expectedVersion: 0 });
    await expect(stale).rejects.toBeInstanceOf(BadVersionError);
    await expect(stale).rejects.toMatchObject({ code: 'BadVersion', path: '/cfg/cas' });
    await expect(publish(b, '/cfg/missing', 1, { expectedVersion: 3 })).rejects.toMatchObject({ code: 'BadVersion' });
    expect((await b.getString('/cfg/cas')).data).toBe('2');

    // read-modify-write through the watcher's version
    await a.sync('/cfg/cas');
    await using w = new ConfigWatcher<number>(a, '/cfg/cas');
    await w.start();
    await p.publish(w.get()! + 40, { expectedVersion: w.version });
    expect(await w.waitFor((v) => v === 42, { timeoutMs: 5_000 })).toBe(42);
  });

  it('rejects a value that fails validation or decoding, keeps the last good one and says why', async () => {
    const validate = (v: unknown): { port: number } => {
      const port = (v as { port?: unknown } | null)?.port;
      if (typeof port !== 'number' || port <= 0 || port > 65535) throw new TypeError(`port must be 1..65535, got ${JSON.stringify(port)}`);
      return { port };
    };
    await publish(b, '/cfg/valid', { port: 8080 });
    await a.sync('/cfg/valid');
    await using w = new ConfigWatcher(a, '/cfg/valid', { validate });
    expect(await w.start()).toEqual({ port: 8080 });
    const changes: unknown[] = [];
    w.subscribe((c) => changes.push(c.value));

    let invalid = nextEvent(w, 'invalid');
    await publish(b, '/cfg/valid', { port: 'eighty' });
    let [err] = await invalid;
    expect(err).toBeInstanceOf(ConfigValidationError);
    expect(err.message).toContain('port must be 1..65535, got "eighty"');
    expect(err).toMatchObject({ path: '/cfg/valid', version: 1 });
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(w.get()).toEqual({ port: 8080 });
    expect(w.version).toBe(1); // the node's version, for a CAS that fixes it

    invalid = nextEvent(w, 'invalid');
    await b.setData('/cfg/valid', '{not json');
    [err] = await invalid;
    expect(err.cause).toBeInstanceOf(SyntaxError);
    expect(w.get()).toEqual({ port: 8080 });

    await publish(b, '/cfg/valid', { port: 9090 }, { expectedVersion: w.version });
    expect(await w.waitFor((v) => v?.port === 9090, { timeoutMs: 5_000 })).toEqual({ port: 9090 });
    expect(changes).toEqual([{ port: 9090 }]);
  });

  it('takes a pluggable codec', async () => {
    await publish(b, '/cfg/plain', 'hello', { codec: stringCodec });
    expect((await b.getString('/cfg/plain')).data).toBe('hello');
    await a.sync('/cfg/plain');
    await using w = new ConfigWatcher<string>(a, '/cfg/plain', { codec: stringCodec });
    const iter = w.values(); // made before start: begins with the loaded value
    expect(await w.start()).toBe('hello');
    expect(await iter.next()).toEqual({ value: 'hello', done: false });
    await w.close();
    expect(await iter.next()).toEqual({ value: undefined, done: true }); // ends on close
  });

  it('start and waitFor honour timeoutMs and signal', async () => {
    await using w = new ConfigWatcher<number>(a, '/cfg/never');
    await w.start({ timeoutMs: 5_000 });
    await expect(w.waitFor((v) => v === 1, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'OperationTimeout' });
    await expect(w.waitFor((v) => v === 1, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'Aborted' });
    const pending = w.waitFor((v) => v === 1);
    await w.close();
    await expect(pending).rejects.toMatchObject({ code: 'Closed' });
    await expect(w.waitFor(() => true)).rejects.toMatchObject({ code: 'Closed' });
  });

  it("survives its server being killed: reconnects, sees what was published meanwhile, keeps updating", async () => {
    const leader = await tc.cluster.waitForLeader({ timeoutMs: 20_000 });
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const others = [1, 2, 3].filter((id) => id !== follower).map((id) => tc.cluster.address(id));
    // watcher on the follower first (in order), able to fail over to the others
    const wc = await connect([tc.cluster.address(follower), ...others].join(','), { shuffle: false, sessionTimeoutMs: 6_000 });
    const pc = await connect(tc.cluster.address(leader), { sessionTimeoutMs: 6_000 });
    try {
      expect(wc.serverAddress).toBe(tc.cluster.address(follower));
      await publish(pc, '/cfg/failover', { v: 1 });
      await wc.sync('/cfg/failover'); // published on the leader, read on a follower
      await using w = new ConfigWatcher<{ v: number }>(wc, '/cfg/failover');
      expect(await w.start()).toEqual({ v: 1 });

      const suspended = nextEvent(wc, 'suspended');
      const reconnected = nextEvent(wc, 'reconnected');
      await tc.cluster.kill(follower);
      await suspended;
      await publish(pc, '/cfg/failover', { v: 2 }); // while the watcher is away
      await reconnected;
      expect(await w.waitFor((v) => v?.v === 2, { timeoutMs: 10_000 })).toEqual({ v: 2 });
      await publish(pc, '/cfg/failover', { v: 3 });
      expect(await w.waitFor((v) => v?.v === 3, { timeoutMs: 10_000 })).toEqual({ v: 3 });
    } finally {
      await Promise.all([wc.close(), pc.close()]);
      await tc.cluster.startNode(follower);
    }
  });
});

describe('ConfigWatcher after session expiry', () => {
  it('reports the expiry as an error, ends its iterators, and continues on a new client with rebind', async () => {
    const proxy = await Proxy.start(Number(tc.cluster.address(1).split(':')[1]));
    const pc = await connect(proxy.address, { sessionTimeoutMs: 1_000, retry: { minTimeout: 20, maxTimeout: 100 } });
    const fresh = await tc.client();
    try {
      await publish(b, '/cfg/expiry', 'v1', { codec: stringCodec });
      await pc.sync('/cfg/expiry');
      const w = new ConfigWatcher<string>(pc, '/cfg/expiry', { codec: stringCodec });
      expect(await w.start()).toBe('v1');
      const iterated: (string | undefined)[] = [];
      const consumer = (async () => {
        for await (const v of w) iterated.push(v);
      })();
      const marker = await pc.create('/cfg/expiry-marker', null, { mode: 'ephemeral' });
      await b.sync(marker); // else b may not have seen the marker yet and find it "deleted" at once

      proxy.cut();
      await waitForDeletion(b, marker, { timeoutMs: 15_000 }); // the ensemble expired pc's session
      await publish(b, '/cfg/expiry', 'v2', { codec: stringCodec }); // missed while away
      const error = nextEvent(w, 'error');
      proxy.restore();
      const [err] = await error;
      expect(err).toBeInstanceOf(SessionExpiredError);
      await expect(consumer).rejects.toBeInstanceOf(SessionExpiredError);
      expect(iterated).toEqual(['v1']);
      expect(w.get()).toBe('v1'); // last known value stays readable

      await fresh.sync('/cfg/expiry'); // fresh connected before v2 was published
      await w.rebind(fresh);
      expect(w.get()).toBe('v2');
      await publish(b, '/cfg/expiry', 'v3', { codec: stringCodec });
      expect(await w.waitFor((v) => v === 'v3', { timeoutMs: 5_000 })).toBe('v3');
      await w.close();
    } finally {
      await pc.close({ timeoutMs: 200 }).catch(() => {});
      await proxy.close();
    }
  });
});

describe('ConfigDirectoryWatcher', () => {
  it('follows keys being added, changed, invalidated and removed', async () => {
    const validate = (v: unknown): { limit: number } => {
      if (typeof (v as { limit?: unknown })?.limit !== 'number') throw new TypeError('limit must be a number');
      return v as { limit: number };
    };
    await using dir = new ConfigDirectoryWatcher(a, '/cfg/dir/limits', { validate });
    expect(await dir.start()).toEqual(new Map()); // directory does not exist yet
    const log: string[] = [];
    dir.on('added', (k, v) => log.push(`+${k}=${v.limit}`));
    dir.on('changed', (k, v, p) => log.push(`~${k}=${p.limit}->${v.limit}`));
    dir.on('removed', (k, p) => log.push(`-${k}=${p.limit}`));
    dir.on('invalid', (k, e) => log.push(`!${k}@${e.version}`));

    await publish(b, '/cfg/dir/limits/api', { limit: 10 });
    await publish(b, '/cfg/dir/limits/web', { limit: 20 });
    await dir.waitFor((m) => m.size === 2, { timeoutMs: 5_000 });
    await publish(b, '/cfg/dir/limits/api', { limit: 11 });
    await dir.waitFor((m) => m.get('api')?.limit === 11, { timeoutMs: 5_000 });
    const invalid = nextEvent(dir, 'invalid');
    await publish(b, '/cfg/dir/limits/web', { limit: 'lots' });
    const [key, err] = await invalid;
    expect(key).toBe('web');
    expect(err.message).toContain('limit must be a number');
    expect(dir.get('web')).toEqual({ limit: 20 });
    await b.delete('/cfg/dir/limits/api');
    await dir.waitFor((m) => !m.has('api'), { timeoutMs: 5_000 });
    await publish(b, '/cfg/dir/limits/web', { limit: 21 });
    const snap = await dir.waitFor((m) => m.get('web')?.limit === 21, { timeoutMs: 5_000 });
    expect(snap).toEqual(new Map([['web', { limit: 21 }]]));
    expect(log).toEqual(['+api=10', '+web=20', '~api=10->11', '!web@1', '-api=11', '~web=20->21']);

    // a second watcher starting on the populated directory loads every key
    await publish(b, '/cfg/dir/limits/batch', { limit: 5 });
    await a.sync('/cfg/dir/limits');
    await using again = new ConfigDirectoryWatcher(a, '/cfg/dir/limits', { validate });
    expect(await again.start()).toEqual(new Map([['web', { limit: 21 }], ['batch', { limit: 5 }]]));
  });

  it('sees many keys written at once, and each key\'s final value', async () => {
    await using dir = new ConfigDirectoryWatcher<number>(a, '/cfg/dir/many');
    await dir.start();
    const writes: Promise<unknown>[] = [];
    for (let round = 0; round < 5; round++) for (let k = 0; k < 10; k++) writes.push(publish(b, `/cfg/dir/many/k${k}`, round));
    await Promise.all(writes);
    const snap = await dir.waitFor((m) => m.size === 10 && [...m.values()].every((v) => v === 4), { timeoutMs: 10_000 });
    expect([...snap.keys()].sort()).toEqual(Array.from({ length: 10 }, (_, k) => `k${k}`).sort());
  });
});

describe('README', () => {
  it('shows the example verbatim, and the example works', async () => {
    const source = await readFile(new URL('./readme-example.ts', import.meta.url), 'utf8');
    const region = /\/\/ #region readme\n([\s\S]*?)\/\/ #endregion readme/.exec(source)![1]!;
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + region + '```');

    const applied: number[] = [];
    const log = console.log;
    console.log = () => {};
    try {
      const tenants = await configExample(a, (l) => applied.push(l.rps));
      expect(tenants).toEqual(new Map([['acme', { rps: 5, burst: 1 }]]));
    } finally {
      console.log = log;
    }
    expect(applied).toEqual([100, 200]);
  });
});
