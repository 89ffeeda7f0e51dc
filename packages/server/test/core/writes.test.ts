import { OpCode, type MultiResult, type Stat } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { Harness, bytes } from './harness.js';

const setup = (opts = {}) => {
  const h = new Harness(opts);
  return { h, c: h.client() };
};

describe('create / getData / setData / delete', () => {
  it('creates a node and reads it back with its stat', () => {
    const { c } = setup();
    const r = c.create('/a', bytes('hello'));
    expect(r.err).toBeUndefined();
    expect(r.op).toBe(OpCode.create);
    const body = r.body as { path: string; stat: Stat };
    expect(body.path).toBe('/a');
    expect(body.stat.version).toBe(0);
    expect(body.stat.czxid).toBe(r.zxid);
    const g = c.getData('/a');
    expect(g.body).toMatchObject({ data: bytes('hello') });
    expect((g.body as { stat: Stat }).stat.dataLength).toBe(5);
    expect(c.children('/')).toEqual(['a', 'zabkit']);
  });

  it('fails with NoNode for a missing parent and NodeExists for a duplicate', () => {
    const { c } = setup();
    expect(c.create('/x/y').err).toBe('NoNode');
    expect(c.create('/x').err).toBeUndefined();
    expect(c.create('/x').err).toBe('NodeExists');
  });

  it('refuses children under an ephemeral node', () => {
    const { c } = setup();
    c.create('/e', null, 'ephemeral');
    expect(c.create('/e/child').err).toBe('NoChildrenForEphemerals');
  });

  it('setData bumps version and mzxid even with identical bytes', () => {
    const { c } = setup();
    c.create('/a', bytes('v'));
    const before = c.stat('/a') as Stat;
    const r = c.setData('/a', bytes('v'));
    const s = (r.body as { stat: Stat }).stat;
    expect(s.version).toBe(1);
    expect(s.mzxid).toBeGreaterThan(before.mzxid);
    expect(c.setData('/a', bytes('w'), 0).err).toBe('BadVersion');
    expect((c.setData('/a', bytes('w'), 1).body as { stat: Stat }).stat.version).toBe(2);
    expect(c.setData('/nope', null).err).toBe('NoNode');
  });

  it('keeps null data and empty data apart', () => {
    const { c } = setup();
    c.create('/null', null);
    c.create('/empty', new Uint8Array(0));
    expect((c.getData('/null').body as { data: unknown }).data).toBeNull();
    const empty = (c.getData('/empty').body as { data: Uint8Array | null }).data;
    expect(empty).not.toBeNull();
    expect(empty?.byteLength).toBe(0);
    c.setData('/empty', null);
    expect((c.getData('/empty').body as { data: unknown }).data).toBeNull();
  });

  it('delete: BadVersion beats NotEmpty, right version on a parent gives NotEmpty', () => {
    const { c } = setup();
    c.create('/p');
    c.setData('/p', bytes('1'));
    c.create('/p/c');
    expect(c.delete('/p', 5).err).toBe('BadVersion');
    expect(c.delete('/p', 1).err).toBe('NotEmpty');
    expect(c.delete('/p', -1).err).toBe('NotEmpty');
    expect(c.delete('/p/c', 0).err).toBeUndefined();
    expect(c.delete('/p', 0).err).toBe('BadVersion');
    expect(c.delete('/p', 1).err).toBeUndefined();
    expect(c.delete('/p').err).toBe('NoNode');
  });

  it('bumps the parent cversion and pzxid on child create and delete', () => {
    const { c } = setup();
    c.create('/p');
    c.create('/p/a');
    const r = c.delete('/p/a');
    const s = c.stat('/p') as Stat;
    expect(s.cversion).toBe(2);
    expect(s.pzxid).toBe(r.zxid);
    expect(s.numChildren).toBe(0);
  });
});

describe('sequential nodes', () => {
  it('numbers from a per-parent counter: plain creates count, deletes do not rewind, failures do not advance', () => {
    const { c } = setup();
    c.create('/q');
    expect(c.createdPath('/q/job-', 'persistent-sequential')).toBe('/q/job-0000000000');
    c.create('/q/plain'); // consumes 1
    expect(c.createdPath('/q/job-', 'persistent-sequential')).toBe('/q/job-0000000002');
    c.delete('/q/job-0000000002');
    c.delete('/q/plain');
    expect(c.create('/q/plain/under-missing', null, 'persistent-sequential').err).toBe('NoNode');
    expect(c.create('/q/job-0000000000').err).toBe('NodeExists'); // failed create: no advance
    expect(c.createdPath('/q/job-', 'ephemeral-sequential')).toBe('/q/job-0000000003');
    // the visible cversion counts deletes too: it differs from the sequence
    expect((c.stat('/q') as Stat).cversion).toBe(6);
  });

  it('accepts a sequential path ending in /', () => {
    const { c } = setup();
    c.create('/queue');
    c.create('/queue/a');
    c.create('/queue/b');
    c.create('/queue/c');
    expect(c.createdPath('/queue/', 'persistent-sequential')).toBe('/queue/0000000003');
  });
});

describe('multi', () => {
  it('applies all ops atomically, later ops seeing earlier ones', () => {
    const { c } = setup();
    const r = c.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.create, path: '/m', data: bytes('0'), mode: 'persistent' },
        { op: OpCode.setData, path: '/m', data: bytes('1'), version: 0 },
        { op: OpCode.create, path: '/m/s-', data: null, mode: 'persistent-sequential' },
        { op: OpCode.check, path: '/m', version: 1 },
      ],
    });
    expect(r.err).toBeUndefined();
    const results = (r.body as { results: MultiResult[] }).results;
    expect(results.map((x) => x.op)).toEqual([OpCode.create, OpCode.setData, OpCode.create, OpCode.check]);
    expect(results[1]).toMatchObject({ stat: { version: 1 } });
    expect(results[2]).toMatchObject({ path: '/m/s-0000000000' });
    expect((c.getData('/m').body as { stat: Stat }).stat.version).toBe(1);
    // all ops share the one zxid
    const stat = c.stat('/m') as Stat;
    expect(stat.czxid).toBe(stat.mzxid);
  });

  it('a failed multi applies nothing, uses no sequence number, fires no watch', () => {
    const { h, c } = setup();
    c.create('/m');
    const watcher = h.client();
    watcher.getChildren('/m', true);
    watcher.exists('/m/x', true);
    const r = c.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.create, path: '/m/x', data: null, mode: 'persistent' },
        { op: OpCode.create, path: '/m/s-', data: null, mode: 'persistent-sequential' },
        { op: OpCode.delete, path: '/m/missing', version: -1 },
        { op: OpCode.setData, path: '/m', data: null, version: -1 },
      ],
    });
    expect(r.err).toBe('NoNode');
    expect((r.body as { results: MultiResult[] }).results).toEqual([
      { op: 'error', err: 'Ok' },
      { op: 'error', err: 'Ok' },
      { op: 'error', err: 'NoNode' },
      { op: 'error', err: 'RuntimeInconsistency' },
    ]);
    expect(c.stat('/m/x')).toBeNull();
    expect(c.children('/m')).toEqual([]);
    expect((c.stat('/m') as Stat).version).toBe(0);
    expect(c.createdPath('/m/s-', 'persistent-sequential')).toBe('/m/s-0000000000');
    // the watcher's first event is from the successful create, not the failed multi
    expect(watcher.takeEvents()).toEqual(['NodeChildrenChanged /m']);
  });

  it('an empty multi succeeds with no results', () => {
    const { c } = setup();
    const r = c.call({ op: OpCode.multi, ops: [] });
    expect(r.err).toBeUndefined();
    expect(r.body).toEqual({ results: [] });
  });

  it('delete then create of the same path in one multi works', () => {
    const { c } = setup();
    c.create('/d', bytes('old'));
    const r = c.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.delete, path: '/d', version: 0 },
        { op: OpCode.create, path: '/d', data: bytes('new'), mode: 'persistent' },
      ],
    });
    expect(r.err).toBeUndefined();
    expect((c.getData('/d').body as { data: Uint8Array }).data).toEqual(bytes('new'));
  });
});

describe('reserved paths and limits', () => {
  it('refuses to delete / or touch /zabkit', () => {
    const { c } = setup();
    expect(c.delete('/').err).toBe('BadArguments');
    expect(c.delete('/zabkit').err).toBe('BadArguments');
    expect(c.setData('/zabkit', bytes('x')).err).toBe('BadArguments');
    expect(c.create('/zabkit/mine').err).toBe('BadArguments');
    expect(c.create('/zabkit').err).toBe('BadArguments');
    const r = c.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.create, path: '/ok', data: null, mode: 'persistent' },
        { op: OpCode.delete, path: '/zabkit', version: -1 },
      ],
    });
    expect(r.err).toBe('BadArguments');
    expect(c.stat('/ok')).toBeNull();
    expect(c.stat('/zabkit')).not.toBeNull();
    expect(c.stat('/')).not.toBeNull();
  });

  it('answers RequestTooLarge for data over the limit and keeps the connection', () => {
    const { h, c } = setup({ maxDataBytes: 10 });
    expect(c.create('/big', new Uint8Array(11)).err).toBe('RequestTooLarge');
    expect(c.create('/ok', new Uint8Array(10)).err).toBeUndefined();
    expect(c.setData('/ok', new Uint8Array(11)).err).toBe('RequestTooLarge');
    const r = c.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.setData, path: '/ok', data: new Uint8Array(6), version: -1 },
        { op: OpCode.setData, path: '/ok', data: new Uint8Array(6), version: -1 },
      ],
    });
    expect(r.err).toBe('RequestTooLarge');
    expect(h.closed.has(c.connId)).toBe(false);
    expect(c.stat('/big')).toBeNull();
  });

  it('answers a malformed request with BadArguments and a message, keeping the connection', () => {
    const { h, c } = setup();
    const r = c.call({ op: OpCode.create, path: 'relative', data: null, mode: 'persistent' });
    expect(r.err).toBe('BadArguments');
    expect(r.message).toMatch(/path/);
    const r2 = c.call({ op: 999 });
    expect(r2.err).toBe('BadArguments');
    expect(h.closed.has(c.connId)).toBe(false);
    expect(c.create('/fine').err).toBeUndefined();
  });

  it('counts descendants and lists own ephemerals', () => {
    const { h, c } = setup();
    c.create('/t');
    c.create('/t/a');
    c.create('/t/a/b');
    c.create('/t/e', null, 'ephemeral');
    const other = h.client();
    other.create('/t/o', null, 'ephemeral');
    expect(c.call({ op: OpCode.getAllChildrenNumber, path: '/t' }).body).toEqual({ count: 4 });
    expect(c.call({ op: OpCode.getAllChildrenNumber, path: '/none' }).err).toBe('NoNode');
    expect(c.call({ op: OpCode.getEphemerals, prefix: '/t' }).body).toEqual({ paths: ['/t/e'] });
    expect(other.call({ op: OpCode.getEphemerals, prefix: '/' }).body).toEqual({ paths: ['/t/o'] });
    expect((c.stat('/t/e') as Stat).ephemeralOwner).toBe(c.sessionId);
  });
});
