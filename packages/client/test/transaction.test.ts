import { describe, expect, it } from 'vitest';
import { OpCode } from '@zabkit/protocol';
import { Transaction, toWireOps, type Op } from '../src/index.js';

describe('transaction builder', () => {
  it('collects ops in order with defaults and commits them once', async () => {
    let committed: readonly Op[] | undefined;
    const tx = new Transaction(async (ops) => {
      committed = ops;
      return [];
    });
    await tx
      .create('/a', 'hello', { mode: 'ephemeral' })
      .setData('/b', new Uint8Array([1, 2]), { version: 3 })
      .delete('/c')
      .check('/d', 7)
      .create('/e')
      .commit();
    expect(committed).toEqual([
      { type: 'create', path: '/a', data: 'hello', mode: 'ephemeral' },
      { type: 'setData', path: '/b', data: new Uint8Array([1, 2]), version: 3 },
      { type: 'delete', path: '/c', version: -1 },
      { type: 'check', path: '/d', version: 7 },
      { type: 'create', path: '/e', data: null },
    ]);
  });

  it('produces the wire request shape, with chroot and UTF-8 data', () => {
    const ops: Op[] = [
      { type: 'create', path: '/a', data: 'hé', mode: 'persistent-sequential' },
      { type: 'create', path: '/t', mode: 'ttl', ttlMs: 5000 },
      { type: 'setData', path: '/', data: null },
      { type: 'delete', path: '/c', version: 2 },
      { type: 'check', path: '/d', version: -1 },
    ];
    expect(toWireOps(ops, '/app')).toEqual([
      { op: OpCode.create, path: '/app/a', data: new Uint8Array([0x68, 0xc3, 0xa9]), mode: 'persistent-sequential' },
      { op: OpCode.create, path: '/app/t', data: null, mode: 'ttl', ttlMs: 5000 },
      { op: OpCode.setData, path: '/app', data: null, version: -1 },
      { op: OpCode.delete, path: '/app/c', version: 2 },
      { op: OpCode.check, path: '/app/d', version: -1 },
    ]);
    expect(toWireOps([{ type: 'delete', path: '/c' }], '')).toEqual([{ op: OpCode.delete, path: '/c', version: -1 }]);
  });
});
