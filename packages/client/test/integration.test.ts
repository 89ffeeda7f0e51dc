// Against a real @zabkit/server in this process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import {
  BadVersionError,
  NoChildrenForEphemeralsError,
  NoNodeError,
  NodeExistsError,
  NotEmptyError,
  ZabError,
  connect,
  createProtected,
  createProtectedWithStat,
  getServerStatus,
  mkdirp,
  sortSequential,
  waitForDeletion,
  type WatchEvent,
  type ZabClient,
} from '../src/index.js';
import { arm } from './watch-util.js';
import { start, tempDir, type Server } from './server-harness.js';

const text = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b));

let server: Server;
let removeDir: () => Promise<void>;
const clients: ZabClient[] = [];
async function open(suffix = '', opts: Parameters<typeof connect>[1] = {}): Promise<ZabClient> {
  const c = await connect(`127.0.0.1:${server.port}${suffix}`, opts);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  const d = await tempDir();
  removeDir = d.remove;
  server = await start(d.dir);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close({ timeoutMs: 500 })));
  await server.close();
  await removeDir();
});

describe('client against a real server', () => {
  it('creates, reads, updates and deletes with the right Stat fields and errors', async () => {
    const c = await open();
    const z0 = c.lastZxidSeen;
    expect(await c.create('/crud', 'v1')).toBe('/crud');
    const { data, stat } = await c.getData('/crud');
    expect(text(data)).toBe('v1');
    expect(stat).toMatchObject({ version: 0, cversion: 0, dataLength: 2, numChildren: 0, ephemeralOwner: 0n });
    expect(stat.czxid).toBe(stat.mzxid);
    expect(stat.czxid).toBeGreaterThan(z0);
    expect(c.lastZxidSeen).toBeGreaterThanOrEqual(stat.czxid);

    const s1 = await c.setData('/crud', 'v2', { version: 0 });
    expect(s1.version).toBe(1);
    expect(s1.mzxid).toBeGreaterThan(stat.mzxid);
    expect(s1.czxid).toBe(stat.czxid);
    await expect(c.setData('/crud', 'v3', { version: 0 })).rejects.toBeInstanceOf(BadVersionError);
    expect((await c.getString('/crud')).data).toBe('v2');

    await expect(c.create('/crud')).rejects.toSatisfy((e: ZabError) => e instanceof NodeExistsError && e.path === '/crud');
    await expect(c.create('/missing/child')).rejects.toBeInstanceOf(NoNodeError);
    await expect(c.getData('/missing')).rejects.toBeInstanceOf(NoNodeError);
    expect(await c.exists('/missing')).toBeNull();

    // null and empty data differ
    await c.create('/crud/null');
    await c.create('/crud/empty', new Uint8Array(0));
    expect((await c.getData('/crud/null')).data).toBeNull();
    expect((await c.getData('/crud/empty')).data?.byteLength).toBe(0);

    const seq1 = await c.create('/crud/s-', 'a', { mode: 'persistent-sequential' });
    const seq2 = await c.create('/crud/s-', 'b', { mode: 'persistent-sequential' });
    expect(seq1).toMatch(/^\/crud\/s-\d{10}$/);
    expect(seq2 > seq1).toBe(true);

    const { children, stat: parent } = await c.getChildrenWithStat('/crud');
    expect(children.sort()).toEqual(['empty', 'null', seq1.slice(6), seq2.slice(6)].sort());
    expect(parent.numChildren).toBe(4);
    expect(parent.cversion).toBe(4);
    expect(sortSequential(children, 's-')).toEqual([seq1.slice(6), seq2.slice(6)]);
    expect(await c.getAllChildrenNumber('/crud')).toBe(4);

    await expect(c.delete('/crud')).rejects.toBeInstanceOf(NotEmptyError);
    for (const ch of children) await c.delete(`/crud/${ch}`);
    await expect(c.delete('/crud', { version: 0 })).rejects.toBeInstanceOf(BadVersionError);
    await c.delete('/crud', { version: 1 });
    expect(await c.exists('/crud')).toBeNull();
    await c.sync('/');

    const made = await c.createWithStat('/crud2', new Uint8Array([1, 2, 3]), { mode: 'ephemeral' });
    expect(made.path).toBe('/crud2');
    expect(made.stat).toMatchObject({ version: 0, dataLength: 3, ephemeralOwner: c.sessionId });
  });

  it('answers a status request without a session, and closes through await using', async () => {
    const status = await getServerStatus(`127.0.0.1:${server.port}`);
    expect(status.serverId).toBe(server.serverId);
    expect(status.role).toBe('standalone');
    let sessionId = 0n;
    {
      await using c = await connect(`127.0.0.1:${server.port}`);
      sessionId = c.sessionId;
      await c.create('/disposable', null, { mode: 'ephemeral' });
    }
    const other = await open();
    expect(await other.exists('/disposable')).toBeNull();
    expect(sessionId).not.toBe(0n);
  });

  it('ephemerals: listed, no children, removed when the session closes (seen by another client)', async () => {
    const a = await open();
    const b = await open();
    await b.create('/eph');
    const path = await a.create('/eph/a', 'x', { mode: 'ephemeral' });
    expect((await b.exists(path))?.ephemeralOwner).toBe(a.sessionId);
    expect(await a.getEphemerals('/eph')).toEqual(['/eph/a']);
    await expect(a.create('/eph/a/child')).rejects.toBeInstanceOf(NoChildrenForEphemeralsError);

    const deleted = await arm((watch) => b.exists(path, { watch }));
    const children = await arm((watch) => b.getChildren('/eph', { watch }));
    await a.close();
    expect(a.state).toBe('closed');
    expect(await deleted.fired).toEqual({ type: 'NodeDeleted', path: '/eph/a' });
    expect(await children.fired).toEqual({ type: 'NodeChildrenChanged', path: '/eph' });
    expect(await b.exists(path)).toBeNull();
  });

  it('watches fire once with the right type; every callback on a path is called once', async () => {
    const c = await open();
    const w = await open();
    const seen: string[] = [];
    const log = (tag: string) => (e: WatchEvent) => seen.push(`${tag}:${e.type}:${e.path}`);

    expect(await w.exists('/wt', { watch: log('exists') })).toBeNull();
    await c.create('/wt', 'a');
    await w.sync('/'); // events precede later replies on w's socket
    expect(seen).toEqual(['exists:NodeCreated:/wt']);

    seen.length = 0;
    const data1 = log('data1');
    await w.getData('/wt', { watch: data1 });
    await w.getData('/wt', { watch: log('data2') });
    await w.exists('/wt', { watch: data1 }); // same callback again: still one call
    await w.getChildren('/wt', { watch: log('child') });
    await c.setData('/wt', 'b');
    await c.setData('/wt', 'c'); // one-shot: no second event
    await w.sync('/');
    expect(seen.sort()).toEqual(['data1:NodeDataChanged:/wt', 'data2:NodeDataChanged:/wt']);

    seen.length = 0;
    await c.create('/wt/kid');
    await w.sync('/');
    expect(seen).toEqual(['child:NodeChildrenChanged:/wt']);

    seen.length = 0;
    await w.getData('/wt/kid', { watch: log('kid') });
    await w.getChildren('/wt', { watch: log('parent') });
    await c.delete('/wt/kid');
    await w.sync('/');
    expect(seen.sort()).toEqual(['kid:NodeDeleted:/wt/kid', 'parent:NodeChildrenChanged:/wt']);

    // getData on a missing node leaves no watch behind
    seen.length = 0;
    await expect(w.getData('/wt/kid', { watch: log('nowatch') })).rejects.toBeInstanceOf(NoNodeError);
    await c.create('/wt/kid');
    await w.sync('/');
    expect(seen).toEqual([]);

    // a client's own write fires its own watch before the write's reply
    await c.getData('/wt/kid', { watch: log('own') });
    await c.setData('/wt/kid', 'z');
    expect(seen).toEqual(['own:NodeDataChanged:/wt/kid']);
  });

  it('applies the chroot to paths both ways', async () => {
    const root = await open();
    await mkdirp(root, '/apps/one');
    const c = await open('/apps/one');
    expect(c.chroot).toBe('/apps/one');
    expect(await c.create('/x', 'in')).toBe('/x');
    expect(text((await root.getData('/apps/one/x')).data)).toBe('in');
    const seq = await c.create('/q-', null, { mode: 'persistent-sequential' });
    expect(seq).toMatch(/^\/q-\d{10}$/);
    expect((await c.getChildren('/')).sort()).toEqual(['q-' + seq.slice(3), 'x'].sort());

    const event = await arm((watch) => c.getData('/x', { watch }));
    await root.setData('/apps/one/x', 'out');
    expect(await event.fired).toEqual({ type: 'NodeDataChanged', path: '/x' });

    const results = await c.transaction().create('/m', 'm').setData('/m', 'n').commit();
    expect(results[0]).toMatchObject({ type: 'create', path: '/m' });
    await c.create('/e', null, { mode: 'ephemeral' });
    expect(await c.getEphemerals()).toEqual(['/e']);
    expect(await root.exists('/apps/one/m')).not.toBeNull();
  });

  it('multi: applies all ops atomically, or none with per-op results', async () => {
    const c = await open();
    await c.create('/mt');
    const ok = await c.multi([
      { type: 'create', path: '/mt/a', data: 'a' },
      { type: 'setData', path: '/mt/a', data: 'a2' },
      { type: 'check', path: '/mt', version: 0 },
      { type: 'create', path: '/mt/s-', mode: 'persistent-sequential' },
    ]);
    expect(ok.map((r) => r.type)).toEqual(['create', 'setData', 'check', 'create']);
    expect(ok[1]).toMatchObject({ type: 'setData', stat: { version: 1 } });
    expect(ok[3]).toMatchObject({ type: 'create', path: expect.stringMatching(/^\/mt\/s-\d{10}$/) });
    expect(await c.multi([])).toEqual([]);

    const err = (await c
      .transaction()
      .create('/mt/b')
      .create('/mt/a') // exists
      .delete('/mt')
      .commit()
      .catch((e: unknown) => e)) as ZabError;
    expect(err).toBeInstanceOf(NodeExistsError);
    expect(err.failedOpIndex).toBe(1);
    expect(err.results?.map((r) => (r.type === 'error' ? r.code : r.type))).toEqual(['Ok', 'NodeExists', 'RuntimeInconsistency']);
    expect(await c.exists('/mt/b')).toBeNull();

    await expect(c.transaction().check('/mt/a', 5).commit()).rejects.toBeInstanceOf(BadVersionError);
  });

  it('recipe helpers: mkdirp, createProtected, waitForDeletion', async () => {
    const c = await open();
    const other = await open();
    await mkdirp(c, '/rh/locks/deep');
    await mkdirp(c, '/rh/locks/deep'); // idempotent
    const p = await createProtected(c, '/rh/locks/lock-', 'me', 'ephemeral-sequential');
    expect(p).toMatch(/^\/rh\/locks\/_c_[0-9a-f-]{36}-lock-\d{10}$/);
    expect((await c.exists(p))?.ephemeralOwner).toBe(c.sessionId);
    // the Stat variant answers with the create's own Stat (no read needed to learn the owner)
    const withStat = await createProtectedWithStat(c, '/rh/locks/lock-', 'me', 'ephemeral-sequential');
    expect(withStat.stat?.ephemeralOwner).toBe(c.sessionId);
    expect(withStat.stat).toEqual(await c.exists(withStat.path));

    let resolved = false;
    const gone = waitForDeletion(other, p, { timeoutMs: 5000 }).then(() => void (resolved = true));
    await other.sync(p); // its exists (and watch) went first
    await c.setData(p, 'still here'); // a data change re-arms the watch, does not resolve
    await other.sync(p);
    expect((await other.getString(p)).data).toBe('still here'); // the change's event came before this answer
    expect(resolved).toBe(false);
    await c.delete(p);
    await expect(gone).resolves.toBeUndefined();
    await expect(waitForDeletion(other, '/rh/never-there')).resolves.toBeUndefined();
    await expect(waitForDeletion(other, '/rh/locks', { timeoutMs: 50 })).rejects.toMatchObject({ code: 'OperationTimeout' });
  });
});
