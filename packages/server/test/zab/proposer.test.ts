import { OpCode, counterOf, epochOf } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { resolveCoreOptions, type Txn } from '../../src/core/index.js';
import { Proposer } from '../../src/core/zab/proposer.js';
import { Replica } from '../../src/core/zab/replica.js';

describe('Proposer', () => {
  it('stops at the end of the 32-bit zxid counter and asks for a new epoch', () => {
    const replica = new Replica(resolveCoreOptions({ serverId: 1 }));
    const proposed: Txn[] = [];
    let exhausted = 0;
    const p = new Proposer(replica, 7, 60_000, (t) => proposed.push(t), () => exhausted++, 1000, 0xffff_fffe);
    replica.apply({ hdr: { sessionId: 5n, cxid: 0, zxid: 1n, time: 1000 }, body: { type: 'createSession', timeoutMs: 10_000, passwd: new Uint8Array() } });
    p.submit(5n, 1, { op: OpCode.create, path: '/a', data: null, mode: 'persistent' }, 1, 1000);
    expect(proposed.map((t) => [epochOf(t.hdr.zxid), counterOf(t.hdr.zxid)])).toEqual([[7, 0xffff_ffff]]);
    expect(exhausted).toBe(0);
    p.submit(5n, 2, { op: OpCode.create, path: '/b', data: null, mode: 'persistent' }, 1, 1000);
    expect(proposed).toHaveLength(1);
    expect(exhausted).toBe(1);
  });

  it('answers a write from a session that no longer exists with SessionExpired', () => {
    const replica = new Replica(resolveCoreOptions({ serverId: 1 }));
    const proposed: Txn[] = [];
    const p = new Proposer(replica, 1, 60_000, (t) => proposed.push(t), () => {}, 1000);
    p.submit(99n, 1, { op: OpCode.create, path: '/a', data: null, mode: 'persistent' }, 1, 1000);
    expect(proposed[0]!.body).toEqual({ type: 'error', err: 'SessionExpired' });
  });
});
