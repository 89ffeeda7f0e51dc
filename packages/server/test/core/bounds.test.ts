import { OpCode } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/core/data-tree.js';
import { Harness, bytes } from './harness.js';

const count = (c: ReturnType<Harness['client']>, path: string) => c.call({ op: OpCode.getAllChildrenNumber, path });

/** The count by walking the tree, as getAllChildrenNumber did before it was kept per znode. */
function walk(tree: DataTree, path: string): number {
  let n = 0;
  const stack = [path];
  while (stack.length > 0) {
    for (const child of tree.get(stack.pop() as string)?.children ?? []) {
      n++;
      stack.push(child);
    }
  }
  return n;
}

describe('descendant counts (getAllChildrenNumber in O(1))', () => {
  it('follow creates, deletes, multis, ephemerals of a closed session and sequentials, at every level', () => {
    const h = new Harness();
    const c = h.client();
    c.create('/a');
    c.create('/a/b');
    for (let i = 0; i < 5; i++) c.create('/a/b/s-', null, 'persistent-sequential');
    c.create('/a/c');
    expect(count(c, '/a').body).toEqual({ count: 7 });
    expect(count(c, '/a/b').body).toEqual({ count: 5 });
    c.delete('/a/b/s-0000000002');
    c.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.create, path: '/a/c/x', data: null, mode: 'persistent' },
        { op: OpCode.create, path: '/a/c/x/y', data: null, mode: 'persistent' },
        { op: OpCode.delete, path: '/a/b/s-0000000000', version: -1 },
      ],
    });
    const other = h.client();
    other.create('/a/c/e1', null, 'ephemeral');
    other.create('/a/c/x/e2', null, 'ephemeral');
    expect(count(c, '/a').body).toEqual({ count: 9 });
    other.call({ op: OpCode.closeSession });
    expect(count(c, '/a').body).toEqual({ count: 7 });
    expect(count(c, '/a/c').body).toEqual({ count: 2 });
    // a failed multi changes nothing
    const failed = c.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.create, path: '/a/z', data: null, mode: 'persistent' },
        { op: OpCode.delete, path: '/a/missing', version: -1 },
      ],
    });
    expect(failed.err).toBe('NoNode');
    expect(count(c, '/a').body).toEqual({ count: 7 });
    // /a and its 7, and /zookeeper
    expect(count(c, '/').body).toEqual({ count: 9 });
  });

  it('are rebuilt from a snapshot (the format does not carry them) and the digest is unchanged', () => {
    const h = new Harness();
    const c = h.client();
    c.create('/r');
    for (let i = 0; i < 20; i++) c.create(`/r/n${i}`, bytes('x'));
    for (let i = 0; i < 20; i += 2) c.create(`/r/n${i}/leaf`);
    const before = count(c, '/r').body;
    const restored = new Harness({}, h.core.restore([...h.core.snapshotChunks()], []));
    const r = restored.client();
    expect(before).toEqual({ count: 30 });
    expect(count(r, '/r').body).toEqual(before);
    expect(count(r, '/r/n4').body).toEqual({ count: 1 });
    expect(restored.core.treeDigest()).toBe(h.core.treeDigest());
  });

  it('match a walk on a tree applied directly, including a node replaced by a snapshot insert', () => {
    const tree = new DataTree();
    let zxid = 0n;
    const create = (path: string) =>
      tree.applyTxn({
        hdr: { sessionId: 1n, cxid: 0, zxid: ++zxid, time: 0, type: OpCode.create },
        body: { type: 'create', path, data: null, ephemeralOwner: 0n, kind: 'normal', parentCVersion: Number(zxid), parentSeq: 0 },
      } as never);
    create('/p');
    create('/p/q');
    create('/p/q/r');
    const q = tree.get('/p/q')!;
    // a snapshot row for an existing path keeps its subtree (and so its count)
    expect(tree.insert({ ...q })).toBe(true);
    expect(tree.countDescendants('/p')).toBe(2);
    expect(tree.countDescendants('/p/q')).toBe(walk(tree, '/p/q'));
    expect(tree.countDescendants('/')).toBe(walk(tree, '/'));
  });
});

describe('watches per session are capped (maxWatchesPerSession)', () => {
  it('a read asking for one watch too many fails with TooManyWatches and registers nothing; others keep working', () => {
    const h = new Harness({ maxWatchesPerSession: 3 });
    const c = h.client();
    const w = h.client();
    for (const p of ['/a', '/b', '/c', '/d']) c.create(p);
    expect(w.getData('/a', true).err).toBeUndefined();
    expect(w.exists('/b', true).err).toBeUndefined();
    expect(w.getChildren('/c', true).err).toBeUndefined();
    const refused = w.getData('/d', true);
    expect(refused.err).toBe('TooManyWatches');
    expect(refused.message).toMatch(/maxWatchesPerSession.* 3/);
    expect(w.exists('/missing', true).err).toBe('TooManyWatches');
    // re-asking for a watch it holds, and reads without a watch, are fine
    expect(w.getData('/a', true).err).toBeUndefined();
    expect(w.getData('/d', false).err).toBeUndefined();
    // the cap is per session
    expect(c.getData('/d', true).err).toBeUndefined();
    c.setData('/d', bytes('1'));
    expect(w.takeEvents()).toEqual([]);
    // a watch that fires frees its slot
    c.setData('/a', bytes('1'));
    expect(w.takeEvents()).toEqual(['NodeDataChanged /a']);
    expect(w.getData('/d', true).err).toBeUndefined();
  });

  it('setWatches past the cap is refused as a whole', () => {
    const h = new Harness({ maxWatchesPerSession: 2 });
    const c = h.client();
    c.create('/a');
    const r = c.call({ op: OpCode.setWatches, relativeZxid: 0n, dataWatches: ['/a', '/b'], existWatches: ['/c'], childWatches: [] });
    expect(r.err).toBe('TooManyWatches');
    const ok = c.call({ op: OpCode.setWatches, relativeZxid: h.core.lastAppliedZxid(), dataWatches: ['/a'], existWatches: ['/c'], childWatches: [] });
    expect(ok.err).toBeUndefined();
    expect(c.getData('/a', true).err).toBeUndefined();
  });
});
