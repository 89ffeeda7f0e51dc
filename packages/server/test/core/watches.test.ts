import { FrameKind, OpCode, type EventFrame, type ResponseFrame } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { Harness, bytes } from './harness.js';

const setup = () => {
  const h = new Harness();
  const w = h.client(); // watcher
  const c = h.client(); // writer
  return { h, w, c };
};

describe('watch event table', () => {
  it('create /p: NodeCreated for exists watchers, NodeChildrenChanged for the parent', () => {
    const { w, c } = setup();
    c.create('/a');
    w.exists('/a/p', true);
    w.getChildren('/a', true);
    c.create('/a/p');
    expect(w.takeEvents()).toEqual(['NodeCreated /a/p', 'NodeChildrenChanged /a']);
  });

  it('delete /p: NodeDeleted for data and child watchers of /p, NodeChildrenChanged for the parent', () => {
    const { h, w, c } = setup();
    const w2 = h.client();
    c.create('/a');
    c.create('/a/p');
    w.getData('/a/p', true);
    w2.getChildren('/a/p', true);
    w2.getChildren('/a', true);
    c.delete('/a/p');
    expect(w.takeEvents()).toEqual(['NodeDeleted /a/p']);
    expect(w2.takeEvents()).toEqual(['NodeDeleted /a/p', 'NodeChildrenChanged /a']);
  });

  it('setData: NodeDataChanged for getData and exists watchers, nothing for child watchers', () => {
    const { h, w, c } = setup();
    const w2 = h.client();
    c.create('/a');
    w.getData('/a', true);
    w2.exists('/a', true);
    c.getChildren('/a', true);
    c.setData('/a', bytes('x'));
    expect(w.takeEvents()).toEqual(['NodeDataChanged /a']);
    expect(w2.takeEvents()).toEqual(['NodeDataChanged /a']);
    expect(c.takeEvents()).toEqual([]);
  });

  it('watches are one-shot', () => {
    const { w, c } = setup();
    c.create('/a');
    w.getData('/a', true);
    c.setData('/a', bytes('1'));
    c.setData('/a', bytes('2'));
    expect(w.takeEvents()).toEqual(['NodeDataChanged /a']);
    w.getData('/a', true);
    c.setData('/a', bytes('3'));
    expect(w.takeEvents()).toEqual(['NodeDataChanged /a']);
  });

  it('one change gives one notification per path per session, however it was watched', () => {
    const { w, c } = setup();
    c.create('/a');
    w.exists('/a', true);
    w.getData('/a', true);
    w.getChildren('/a', true);
    c.setData('/a', bytes('x'));
    expect(w.takeEvents()).toEqual(['NodeDataChanged /a']);
    // the child watch survived the data change and a delete fires it (with the re-armed data watch) once
    w.getData('/a', true);
    c.delete('/a');
    expect(w.takeEvents()).toEqual(['NodeDeleted /a']);
    c.create('/a');
    expect(w.takeEvents()).toEqual([]);
  });

  it('getData / getChildren on a missing node fail with NoNode and leave no watch', () => {
    const { h, w, c } = setup();
    expect(w.getData('/m', true).err).toBe('NoNode');
    expect(w.getChildren('/m', true).err).toBe('NoNode');
    expect(h.core.status().watches).toBe(0);
    c.create('/m');
    c.create('/m/c');
    c.setData('/m', null);
    expect(w.takeEvents()).toEqual([]);
  });

  it("a writer's own watch fires before its write's reply", () => {
    const { c } = setup();
    c.create('/a');
    c.getData('/a', true);
    const xid = c.send({ op: OpCode.setData, path: '/a', data: null, version: -1 });
    c.h.flush();
    const frames = c.frames();
    const ev = frames.findIndex((f) => f.k === FrameKind.event && (f as EventFrame).path === '/a');
    const rep = frames.findIndex((f) => f.k === FrameKind.response && (f as ResponseFrame).xid === xid);
    expect(ev).toBeGreaterThanOrEqual(0);
    expect(ev).toBeLessThan(rep);
    expect((frames[ev] as EventFrame).zxid).toBe((frames[rep] as ResponseFrame).zxid);
  });

  it('watches of a connection go when it disconnects; setWatches re-arms them', () => {
    const { h, w, c } = setup();
    c.create('/a');
    w.getData('/a', true);
    w.disconnect();
    c.setData('/a', bytes('x'));
    const w2 = h.client(w);
    const rel = h.core.lastAppliedZxid();
    expect(w2.takeEvents()).toEqual([]);
    w2.call({ op: OpCode.setWatches, relativeZxid: rel, dataWatches: ['/a'], existWatches: ['/b'], childWatches: ['/a'] });
    expect(w2.takeEvents()).toEqual([]);
    c.create('/b');
    c.create('/a/k');
    c.setData('/a', bytes('y'));
    expect(w2.takeEvents()).toEqual(['NodeCreated /b', 'NodeChildrenChanged /a', 'NodeDataChanged /a']);
  });
});

describe('setWatches on reconnect', () => {
  it('fires at once every watch whose node changed after relativeZxid', () => {
    const { h, w, c } = setup();
    c.create('/data');
    c.create('/gone');
    c.create('/kids');
    c.create('/same');
    const rel = h.core.lastAppliedZxid();
    w.disconnect();
    c.setData('/data', bytes('new'));
    c.delete('/gone');
    c.create('/kids/k');
    c.create('/born');
    const w2 = h.client(w, rel);
    const r = w2.call({
      op: OpCode.setWatches,
      relativeZxid: rel,
      dataWatches: ['/data', '/gone', '/same'],
      existWatches: ['/born', '/unborn'],
      childWatches: ['/kids', '/gone', '/same'],
    });
    expect(r.err).toBeUndefined();
    expect(w2.takeEvents()).toEqual([
      'NodeDataChanged /data',
      'NodeDeleted /gone',
      'NodeCreated /born',
      'NodeChildrenChanged /kids',
    ]);
    // the rest were re-registered and fire on the next change
    c.setData('/same', null);
    c.create('/unborn');
    c.create('/same/x');
    expect(w2.takeEvents()).toEqual(['NodeDataChanged /same', 'NodeCreated /unborn', 'NodeChildrenChanged /same']);
  });
});
