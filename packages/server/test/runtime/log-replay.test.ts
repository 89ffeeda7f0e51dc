import { describe, expect, it, vi } from 'vitest';
import { ZabNode, dataOf, encodeTxn, resolveCoreOptions, resolveZabOptions, type Txn } from '../../src/core/index.js';
import { reloadLog, replayLog } from '../../src/runtime/log-replay.js';
import { StorageExecutor } from '../../src/runtime/storage-executor.js';
import { FileTxnLog, openFileStorage, type FileStorage } from '../../src/storage/index.js';
import { tempDir } from './helpers.js';

const EPOCHS = { acceptedEpoch: 1, currentEpoch: 1 };
const SESSION = 0x100n;
const bytes = (s: string) => new TextEncoder().encode(s);
const zx = (i: number) => (1n << 32n) | BigInt(i);

/** A consistent history: a session, /app with 10 children, `sets` setData spread over them, a delete, an ephemeral the session's close removes. */
function history(sets: number): Txn[] {
  const txns: Txn[] = [];
  const add = (body: Txn['body']) => txns.push({ hdr: { sessionId: SESSION, cxid: txns.length, zxid: zx(txns.length + 1), time: 1_000 + txns.length }, body });
  add({ type: 'createSession', timeoutMs: 30_000, passwd: bytes('0123456789abcdef') });
  add({ type: 'create', path: '/app', data: bytes('root'), ephemeralOwner: 0n, kind: 'normal', parentCVersion: 1, parentSeq: 1 });
  for (let k = 0; k < 10; k++) {
    add({ type: 'create', path: `/app/k${k}`, data: null, ephemeralOwner: 0n, kind: 'normal', parentCVersion: k + 1, parentSeq: k + 1 });
  }
  const versions = new Array<number>(10).fill(0);
  for (let i = 0; i < sets; i++) {
    const k = (i * 7) % 10;
    add({ type: 'setData', path: `/app/k${k}`, data: bytes(`value ${i} `.repeat(1 + (i % 5))), version: ++versions[k]! });
  }
  add({ type: 'delete', path: '/app/k9', parentCVersion: 11 });
  add({ type: 'create', path: '/app/e', data: bytes('eph'), ephemeralOwner: SESSION, kind: 'normal', parentCVersion: 12, parentSeq: 11 });
  add({ type: 'error', err: 'NoNode' });
  add({ type: 'closeSession', deletes: [{ path: '/app/e', parentCVersion: 13 }] });
  add({ type: 'noop' });
  return txns;
}

/** The txns, encoded as the runtime logs them, `perFlush` at a time; by default in many small segments. */
async function logOf(txns: readonly Txn[], { maxSegmentBytes = 2048, perFlush = 25 } = {}): Promise<string> {
  const dir = await tempDir();
  const log = new FileTxnLog({ dir, maxSegmentBytes });
  await log.open(0n);
  for (let i = 0; i < txns.length; i += perFlush) {
    log.append(txns.slice(i, i + perFlush).map((t) => ({ zxid: t.hdr.zxid, bytes: encodeTxn(t) })));
    await log.flush();
  }
  await log.close();
  return dir;
}

const newNode = () => new ZabNode(resolveZabOptions(resolveCoreOptions({ serverId: 1 }), { committedLogSize: 7 }));
const stateOf = (node: ZabNode) => Buffer.concat([...node.snapshotChunks()]);

/** A node restored the reference way: ZabNode.restore with the txns in memory (not read from the log). */
function reference(chunks: Uint8Array[] | null, txns: readonly Txn[]): ZabNode {
  const node = newNode();
  node.restore(chunks, txns, EPOCHS);
  return node;
}

/**
 * A node restored the way ClusterServer.start does: restore without txns, then replayLog from the
 * files. `applied` is every txn the replica applied, in order (an overwritten setData lost or two
 * independent txns swapped would leave the same final tree).
 */
async function replayed(dir: string, chunks: Uint8Array[] | null, after: bigint): Promise<{ node: ZabNode; records: number; applied: Txn[] }> {
  const node = newNode();
  node.restore(chunks, [], EPOCHS);
  const applied: Txn[] = [];
  const apply = node.replica.apply.bind(node.replica);
  vi.spyOn(node.replica, 'apply').mockImplementation((txn) => {
    applied.push(txn);
    apply(txn);
  });
  const log = new FileTxnLog({ dir });
  const { records, warnings } = await replayLog(log, after, node);
  await log.close();
  expect(warnings).toEqual([]);
  return { node, records, applied };
}

/** Same tree, sessions, last zxid and DIFF/TRUNC/SNAP answers for every learner position. */
function expectSameNode(actual: ZabNode, expected: ZabNode, txns: readonly Txn[]): void {
  expect(actual.lastLoggedZxid()).toBe(expected.lastLoggedZxid());
  expect(actual.replica.lastApplied).toBe(txns.at(-1)!.hdr.zxid);
  expect(stateOf(actual).equals(stateOf(expected))).toBe(true);
  expect(actual.history.last).toBe(expected.history.last);
  for (let i = 0; i <= txns.length + 1; i++) expect(actual.history.planSync(zx(i))).toEqual(expected.history.planSync(zx(i)));
}

describe('replayLog (restart: the txn log applied as it is read)', () => {
  it('gives the node restore() would give it with every txn, across many segments', async () => {
    const txns = history(300);
    const dir = await logOf(txns);
    const { node, records, applied } = await replayed(dir, null, 0n);
    expect(records).toBe(txns.length);
    expect(applied).toEqual(txns);
    expectSameNode(node, reference(null, txns), txns);
    // every setData applied once and in order: k0 got 30 of the 300, the last one written last
    const k0 = node.replica.tree.get('/app/k0')!;
    expect(k0.version).toBe(30);
    expect(new TextDecoder().decode(dataOf(k0)!)).toBe('value 290 '.repeat(1));
  });

  it('on top of a snapshot, replays only what follows it (also when the log starts before the snapshot)', async () => {
    const txns = history(120);
    const dir = await logOf(txns);
    const cut = 70;
    const chunks = [...reference(null, txns.slice(0, cut)).snapshotChunks()];
    const expected = reference(chunks, txns.slice(cut));
    for (const after of [zx(cut), zx(cut - 20)]) {
      const { node, records, applied } = await replayed(dir, chunks, after);
      expect(records).toBe(txns.length - Number(after & 0xffff_ffffn));
      expect(applied).toEqual(txns.slice(cut));
      expectSameNode(node, expected, txns);
    }
  });

  it('keeps the whole history as the committed window when it is shorter than the window', async () => {
    const txns = history(0).slice(0, 5);
    const dir = await logOf(txns);
    const { node } = await replayed(dir, null, 0n);
    expectSameNode(node, reference(null, txns), txns);
    expect(node.history.planSync(0n)).toEqual({ kind: 'diff', txns: expect.any(Array) });
  });
});

/** Writes a snapshot of the state after `txns` to the server's snapshot store. */
async function snapshotAfter(storage: FileStorage, txns: readonly Txn[]): Promise<void> {
  const writer = await storage.snapshots.begin(txns.at(-1)!.hdr.zxid);
  for (const chunk of reference(null, txns).snapshotChunks()) await writer.write(chunk);
  await writer.commit();
}

/**
 * A follower told to TRUNC at txns[cut - 1]: the log holds `txns` (and `dir` snapshots after
 * txns[snapAt - 1] and after txns[cut + 4], the second one above the cut), and the node holds every
 * txn. The truncate op goes through StorageExecutor, reloading with reloadLog as ClusterServer does.
 */
async function truncated(dir: string, txns: readonly Txn[], cut: number, snapAt: number) {
  const storage = await openFileStorage({ dataDir: dir, dataLogDir: dir });
  await snapshotAfter(storage, txns.slice(0, snapAt));
  await snapshotAfter(storage, txns.slice(0, cut + 5));
  await storage.log.open(0n, () => {});
  const node = newNode();
  node.restore(null, txns, EPOCHS);
  let reloaded: Awaited<ReturnType<typeof reloadLog>> | undefined;
  const executor = new StorageExecutor(storage.log, storage.snapshots, storage.epochs, async () => {
    reloaded = await reloadLog(storage.log, storage.snapshots, node);
  });
  await executor.submit([{ kind: 'truncate', zxid: txns[cut - 1]!.hdr.zxid }]);
  return { node, reloaded: reloaded!, storage };
}

describe('reloadLog (TRUNC: the state rebuilt from the newest snapshot and the cut log, streamed)', () => {
  it('across many segments: the node restore() would give the txns kept; the snapshot above the cut is gone', async () => {
    const txns = history(300);
    const dir = await logOf(txns);
    const cut = 250;
    const { node, reloaded, storage } = await truncated(dir, txns, cut, 100);
    expect(reloaded).toEqual({ records: cut - 100, snapshotZxid: zx(100), warnings: [] });
    expectSameNode(node, reference(null, txns.slice(0, cut)), txns.slice(0, cut));
    expect(await storage.snapshots.list()).toEqual([zx(100)]);
    await storage.log.close();
  });

  it('200k txns in one segment (collecting them with a spread push overflowed the stack at ~150k)', async () => {
    const txns = history(200_000);
    const dir = await logOf(txns, { maxSegmentBytes: 64 * 1024 * 1024, perFlush: 20_000 });
    const cut = txns.length - 10;
    const { node, reloaded, storage } = await truncated(dir, txns, cut, 5);
    expect(reloaded.records).toBe(cut - 5);
    const kept = txns.slice(0, cut);
    expect(node.lastLoggedZxid()).toBe(zx(cut));
    expect(stateOf(node).equals(stateOf(reference(null, kept)))).toBe(true);
    expect(storage.log.lastZxid()).toBe(zx(cut));
    await storage.log.close();
  }, 60_000);
});
