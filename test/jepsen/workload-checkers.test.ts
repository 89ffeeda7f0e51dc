// The workload checkers on small hand-made histories that keep and break each guarantee.
import { describe, expect, it } from 'vitest';
import { checkCounter, checkLeaderTerms, checkQueue, checkSequential, checkUniqueCreates, seqOf, type CreateOp, type IncrementOp, type QueueOp, type SeqOp } from './workload-checkers.js';

const checks = (ps: { check: string }[]): string[] => ps.map((p) => p.check);

describe('unique creates checker', () => {
  const ops: CreateOp[] = [
    { op: 1, process: 'a', name: 'a-1', status: 'ok' },
    { op: 2, process: 'a', name: 'a-2', status: 'info', error: 'ConnectionLoss' },
    { op: 3, process: 'b', name: 'b-1', status: 'fail', error: 'NodeExists' },
    { op: 4, process: 'b', name: 'b-2', status: 'ok' },
  ];
  const listing = (...names: string[]) => new Map(names.map((n) => [n, n]));
  it('accepts ok creates present, info creates present or not, on identical servers', () => {
    expect(checkUniqueCreates(ops, new Map([[1, listing('a-1', 'b-2')], [2, listing('a-1', 'b-2')]]))).toEqual([]);
    expect(checkUniqueCreates(ops, new Map([[1, listing('a-1', 'a-2', 'b-2')]]))).toEqual([]);
  });
  it('rejects a lost ok create, a failed create that exists, a phantom, wrong data, divergence', () => {
    expect(checks(checkUniqueCreates(ops, new Map([[1, listing('a-1')]])))).toEqual(['create-lost']);
    expect(checks(checkUniqueCreates(ops, new Map([[1, listing('a-1', 'b-1', 'b-2')]])))).toEqual(['failed-create-exists']);
    expect(checks(checkUniqueCreates(ops, new Map([[1, listing('a-1', 'b-2', 'zz')]])))).toEqual(['phantom']);
    expect(checks(checkUniqueCreates(ops, new Map([[1, new Map([['a-1', 'x'], ['b-2', 'b-2']])]])))).toEqual(['wrong-data']);
    expect(checks(checkUniqueCreates(ops, new Map([[1, listing('a-1', 'b-2')], [2, listing('a-1', 'a-2', 'b-2')]])))).toEqual(['divergent']);
  });
});

describe('sequential nodes checker', () => {
  const good: SeqOp[] = [
    { op: 1, process: 'a', f: 'create', value: 'a-1', seq: 0, status: 'ok' },
    { op: 2, process: 'b', f: 'create', value: 'b-1', seq: 1, status: 'ok' },
    { op: 3, process: 'a', f: 'create', value: 'a-2', status: 'info', error: 'ConnectionLoss' },
    { op: 4, process: 'a', f: 'create', value: 'a-3', seq: 3, status: 'ok' },
    { op: 5, process: 'b', f: 'delete', seq: 1, status: 'ok' },
    { op: 6, process: 'b', f: 'create', value: 'b-2', seq: 5, status: 'ok' },
    { op: 7, process: 'b', f: 'create', value: 'b-3', status: 'fail', error: 'NoNode' },
  ];
  const listing = (...e: [number, string][]) => new Map(e);
  it('accepts gaps from info creates and deletes', () => {
    expect(checkSequential(good, new Map([[1, listing([0, 'a-1'], [3, 'a-3'], [5, 'b-2'])]]))).toEqual([]);
    // the info create applied (at 2): fine
    expect(checkSequential(good, new Map([[1, listing([0, 'a-1'], [2, 'a-2'], [3, 'a-3'], [5, 'b-2'])]]))).toEqual([]);
  });
  it('rejects a duplicate sequence number and one that goes backward in a session', () => {
    const dup: SeqOp[] = [...good, { op: 8, process: 'c', f: 'create', value: 'c-1', seq: 3, status: 'ok' }];
    expect(checks(checkSequential(dup, new Map()))).toContain('seq-duplicate');
    const back: SeqOp[] = [...good, { op: 8, process: 'a', f: 'create', value: 'a-4', seq: 2, status: 'ok' }];
    expect(checks(checkSequential(back, new Map()))).toEqual(['seq-order']);
  });
  it('rejects a missing ok create, a reused number after a delete, an info create twice, a failed create present', () => {
    expect(checks(checkSequential(good, new Map([[1, listing([0, 'a-1'], [5, 'b-2'])]])))).toEqual(['create-lost']);
    // number 1 was b-1's and was deleted; it comes back holding a-2: reuse
    expect(checks(checkSequential(good, new Map([[1, listing([0, 'a-1'], [1, 'a-2'], [3, 'a-3'], [5, 'b-2'])]])))).toEqual(['seq-reused']);
    expect(checks(checkSequential(good, new Map([[1, listing([0, 'a-1'], [2, 'a-2'], [3, 'a-3'], [4, 'a-2'], [5, 'b-2'])]])))).toEqual(['create-twice']);
    expect(checks(checkSequential(good, new Map([[1, listing([0, 'a-1'], [3, 'a-3'], [5, 'b-2'], [6, 'b-3'])]])))).toEqual(['failed-create-exists']);
  });
  it('reads sequence numbers from node names', () => {
    expect(seqOf('n-0000000042')).toBe(42);
    expect(() => seqOf('n-42')).toThrow();
  });
});

describe('fenced counter checker', () => {
  const ops: IncrementOp[] = [
    { op: 1, process: 'a', token: '0x10', status: 'ok' },
    { op: 2, process: 'a', token: '0x10', status: 'info', error: 'ConnectionLoss' },
    { op: 3, process: 'b', token: '0x20', status: 'ok' },
    { op: 4, process: 'a', token: '0x10', status: 'fenced' },
    { op: 5, process: 'c', token: '0x30', status: 'fail', error: 'BadVersion' },
  ];
  it('accepts a chain holding every ok increment (an info one may be in it)', () => {
    const chain = [{ op: 1, token: '0x10' }, { op: 2, token: '0x10' }, { op: 3, token: '0x20' }];
    expect(checkCounter(ops, new Map([[1, { count: 3, chain }], [2, { count: 3, chain }]]))).toEqual([]);
    expect(checkCounter(ops, new Map([[1, { count: 2, chain: [chain[0]!, chain[2]!] }]]))).toEqual([]);
  });
  it('rejects a lost update, a count off the chain, a fenced or failed write applied, a lower token after a higher one', () => {
    expect(checks(checkCounter(ops, new Map([[1, { count: 1, chain: [{ op: 1, token: '0x10' }] }]])))).toEqual(['lost-update']);
    expect(checks(checkCounter(ops, new Map([[1, { count: 3, chain: [{ op: 1, token: '0x10' }, { op: 3, token: '0x20' }] }]])))).toEqual(['counter']);
    expect(checks(checkCounter(ops, new Map([[1, { count: 3, chain: [{ op: 1, token: '0x10' }, { op: 3, token: '0x20' }, { op: 5, token: '0x30' }] }]])))).toEqual(['failed-applied']);
    expect(checks(checkCounter(ops, new Map([[1, { count: 3, chain: [{ op: 1, token: '0x10' }, { op: 3, token: '0x20' }, { op: 4, token: '0x10' }] }]])))).toEqual(['failed-applied', 'fencing']);
    expect(checks(checkCounter(ops, new Map([[1, { count: 3, chain: [{ op: 1, token: '0x10' }, { op: 3, token: '0x20' }, { op: 2, token: '0x10' }] }]])))).toEqual(['fencing']);
    expect(checks(checkCounter(ops, new Map([[1, { count: 3, chain: [{ op: 1, token: '0x10' }, { op: 1, token: '0x10' }, { op: 3, token: '0x20' }] }]])))).toEqual(['counter-duplicate']);
  });
});

describe('queue checker', () => {
  const ops: QueueOp[] = [
    { op: 1, process: 'p', f: 'put', item: 'x1', status: 'ok' },
    { op: 2, process: 'p', f: 'put', item: 'x2', status: 'ok' },
    { op: 3, process: 'p', f: 'put', item: 'x3', status: 'info', error: 'ConnectionLoss' },
    { op: 4, process: 'p', f: 'put', item: 'x4', status: 'ok' },
    { op: 5, process: 'k', f: 'ack', item: 'x1', status: 'ok' },
    { op: 6, process: 'k', f: 'ack', item: 'x2', status: 'info', error: 'ConnectionLoss' },
  ];
  it('accepts every ok put acked or still queued', () => {
    expect(checkQueue(ops, new Map([[1, ['x4']], [2, ['x4']]]))).toEqual([]);
    expect(checkQueue(ops, new Map([[1, ['x2', 'x3', 'x4']]]))).toEqual([]);
  });
  it('rejects a lost item, an item taken twice, a duplicate, a phantom', () => {
    expect(checks(checkQueue(ops, new Map([[1, []]])))).toEqual(['lost']);
    expect(checks(checkQueue([...ops, { op: 7, process: 'k2', f: 'ack', item: 'x1', status: 'ok' }], new Map([[1, ['x4']]])))).toEqual(['taken-twice']);
    expect(checks(checkQueue(ops, new Map([[1, ['x1', 'x4']]])))).toEqual(['taken-twice']);
    expect(checks(checkQueue(ops, new Map([[1, ['x4', 'x4']]])))).toEqual(['duplicate']);
    expect(checks(checkQueue(ops, new Map([[1, ['x4', 'y']]])))).toEqual(['phantom']);
    expect(checks(checkQueue(ops, new Map([[1, ['x4']], [2, ['x4', 'x3']]])))).toEqual(['divergent']);
  });
});

describe('leader latch checker', () => {
  it('accepts increasing tokens, also for terms that overlap in time', () => {
    expect(
      checkLeaderTerms([
        { process: 'a', token: '0x10', start: 0, end: 100 },
        { process: 'b', token: '0x20', start: 120, end: 300 },
        { process: 'a', token: '0x30', start: 290, end: 400 },
      ]),
    ).toEqual([]);
  });
  it('rejects a token held twice and a later term with a lower token', () => {
    expect(checks(checkLeaderTerms([{ process: 'a', token: '0x10', start: 0, end: 100 }, { process: 'b', token: '0x10', start: 50, end: 200 }]))).toEqual(['token-shared', 'token-order']);
    expect(checks(checkLeaderTerms([{ process: 'a', token: '0x20', start: 0, end: 100 }, { process: 'b', token: '0x10', start: 150, end: 200 }]))).toEqual(['token-order']);
  });
});

describe('Proxy.delay', () => {
  it('holds traffic per direction and keeps order', async () => {
    const net = await import('node:net');
    const { Proxy } = await import('../support/proxy.js');
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const proxy = await Proxy.start((echo.address() as import('node:net').AddressInfo).port);
    const sock = net.connect(proxy.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const roundTrip = async (msg: string): Promise<{ ms: number; got: string }> => {
      const t = Date.now();
      let got = '';
      await new Promise<void>((r) => {
        const on = (d: Buffer) => {
          got += d.toString();
          if (got.length >= msg.length) {
            sock.off('data', on);
            r();
          }
        };
        sock.on('data', on);
        sock.write(msg);
      });
      return { ms: Date.now() - t, got };
    };
    try {
      expect((await roundTrip('a')).ms).toBeLessThan(100);
      proxy.delay(150, 'up');
      const up = await roundTrip('bc');
      expect(up.got).toBe('bc');
      expect(up.ms).toBeGreaterThanOrEqual(140);
      proxy.delay(150, 'both');
      expect((await roundTrip('d')).ms).toBeGreaterThanOrEqual(290);
      proxy.delay(0);
      expect((await roundTrip('e')).ms).toBeLessThan(100);
    } finally {
      sock.destroy();
      await proxy.close();
      await new Promise((r) => echo.close(r));
    }
  });
});
