import { describe, expect, it } from 'vitest';
import {
  ERROR_NUMBERS,
  OpCode,
  RETRYABLE_CODES,
  isErrorCode,
  isMultiOp,
  makeZxid,
  requestDataBytes,
  validateRequest,
  type Request,
} from '../src/index.js';

const bytes = (n: number) => new Uint8Array(n);

describe('validateRequest accepts well-formed requests', () => {
  const good: Array<[string, Request]> = [
    ['create persistent', { op: OpCode.create, path: '/a', data: bytes(3), mode: 'persistent' }],
    ['create with null data', { op: OpCode.create, path: '/a', data: null, mode: 'ephemeral' }],
    ['create sequential with trailing slash', { op: OpCode.create, path: '/q/', data: null, mode: 'persistent-sequential' }],
    ['create ephemeral-sequential', { op: OpCode.create, path: '/q/item-', data: null, mode: 'ephemeral-sequential' }],
    ['create container', { op: OpCode.create, path: '/c', data: null, mode: 'container' }],
    ['create ttl', { op: OpCode.create, path: '/t', data: null, mode: 'ttl', ttlMs: 1000 }],
    ['create ttl-sequential', { op: OpCode.create, path: '/t/', data: null, mode: 'ttl-sequential', ttlMs: 1 }],
    ['delete any version', { op: OpCode.delete, path: '/a', version: -1 }],
    ['delete version 0', { op: OpCode.delete, path: '/a', version: 0 }],
    ['exists', { op: OpCode.exists, path: '/', watch: true }],
    ['getData', { op: OpCode.getData, path: '/a', watch: false }],
    ['setData', { op: OpCode.setData, path: '/a', data: bytes(0), version: 2_147_483_647 }],
    ['getChildren', { op: OpCode.getChildren, path: '/', watch: false, withStat: true }],
    ['sync', { op: OpCode.sync, path: '/a' }],
    ['ping', { op: OpCode.ping }],
    ['check', { op: OpCode.check, path: '/a', version: 3 }],
    ['empty multi', { op: OpCode.multi, ops: [] }],
    [
      'multi of every allowed op',
      {
        op: OpCode.multi,
        ops: [
          { op: OpCode.create, path: '/m', data: null, mode: 'persistent' },
          { op: OpCode.setData, path: '/m', data: bytes(1), version: 0 },
          { op: OpCode.check, path: '/m', version: 1 },
          { op: OpCode.delete, path: '/m', version: -1 },
        ],
      },
    ],
    ['setWatches', { op: OpCode.setWatches, relativeZxid: makeZxid(1, 1), dataWatches: ['/a'], existWatches: ['/b'], childWatches: ['/'] }],
    ['getEphemerals', { op: OpCode.getEphemerals, prefix: '/' }],
    ['getAllChildrenNumber', { op: OpCode.getAllChildrenNumber, path: '/a' }],
    ['closeSession', { op: OpCode.closeSession }],
  ];
  it.each(good)('%s', (_name, req) => {
    expect(validateRequest(req)).toBeNull();
  });

  it('a non-ttl create may carry ttlMs: null (what some encoders send for "absent")', () => {
    expect(validateRequest({ op: OpCode.create, path: '/a', data: null, mode: 'persistent', ttlMs: null })).toBeNull();
  });
});

describe('validateRequest rejects malformed requests with a reason', () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 'create /a', /not an object/],
    ['null', null, /not an object/],
    ['unknown op', { op: 999 }, /unknown operation 999/],
    ['missing op', { path: '/a' }, /unknown operation/],
    ['bad create mode', { op: OpCode.create, path: '/a', data: null, mode: 'durable' }, /unknown create mode "durable"/],
    ['a bigint create mode (JSON.stringify would throw)', { op: OpCode.create, path: '/a', data: null, mode: 5n }, /unknown create mode 5/],
    ['a create mode map with a toString key (String() would throw)', { op: OpCode.create, path: '/a', data: null, mode: { toString: 1 } }, /unknown create mode a value of type object/],
    ['an op map with a toString key', { op: { toString: 1 } }, /unknown operation a value of type object/],
    ['missing create mode', { op: OpCode.create, path: '/a', data: null }, /unknown create mode/],
    ['ttl without ttlMs', { op: OpCode.create, path: '/a', data: null, mode: 'ttl' }, /ttl modes need a positive integer ttlMs/],
    ['ttl with ttlMs 0', { op: OpCode.create, path: '/a', data: null, mode: 'ttl', ttlMs: 0 }, /positive integer ttlMs/],
    ['ttl with fractional ttlMs', { op: OpCode.create, path: '/a', data: null, mode: 'ttl-sequential', ttlMs: 1.5 }, /positive integer ttlMs/],
    ['ttlMs on a non-ttl mode', { op: OpCode.create, path: '/a', data: null, mode: 'persistent', ttlMs: 1000 }, /ttlMs is only allowed with ttl modes, not persistent/],
    ['create with string data', { op: OpCode.create, path: '/a', data: 'hello', mode: 'persistent' }, /data must be bytes or null/],
    ['create with array data', { op: OpCode.create, path: '/a', data: [1, 2], mode: 'persistent' }, /data must be bytes or null/],
    ['create with missing data', { op: OpCode.create, path: '/a', mode: 'persistent' }, /data must be bytes or null/],
    ['create with bad path', { op: OpCode.create, path: '/a//b', data: null, mode: 'persistent' }, /empty component/],
    ['non-sequential create with trailing slash', { op: OpCode.create, path: '/q/', data: null, mode: 'persistent' }, /must not end with/],
    ['delete version -2', { op: OpCode.delete, path: '/a', version: -2 }, /version must be an integer >= -1/],
    ['delete version fractional', { op: OpCode.delete, path: '/a', version: 0.5 }, /version must be an integer >= -1/],
    ['delete version missing', { op: OpCode.delete, path: '/a' }, /version must be an integer >= -1/],
    ['delete version beyond int32', { op: OpCode.delete, path: '/a', version: 2 ** 31 }, /version/],
    ['check version -5', { op: OpCode.check, path: '/a', version: -5 }, /version must be an integer >= -1/],
    ['setData version -2', { op: OpCode.setData, path: '/a', data: null, version: -2 }, /version must be an integer >= -1/],
    ['setData non-bytes data', { op: OpCode.setData, path: '/a', data: { 0: 1 }, version: -1 }, /data must be bytes or null/],
    ['setData relative path', { op: OpCode.setData, path: 'a', data: null, version: -1 }, /must start with '\/'/],
    ['getData without watch flag', { op: OpCode.getData, path: '/a' }, /watch must be a boolean/],
    ['exists with non-boolean watch', { op: OpCode.exists, path: '/a', watch: 1 }, /watch must be a boolean/],
    ['getChildren without withStat', { op: OpCode.getChildren, path: '/a', watch: false }, /withStat must be a boolean/],
    ['sync bad path', { op: OpCode.sync, path: '/a/..' }, /relative component/],
    ['getEphemerals relative prefix', { op: OpCode.getEphemerals, prefix: 'a' }, /prefix must be a string starting with '\/'/],
    ['multi without ops', { op: OpCode.multi }, /multi needs an ops array/],
    ['multi containing a getData', { op: OpCode.multi, ops: [{ op: OpCode.getData, path: '/a', watch: false }] }, /multi op 0: operation 4 is not allowed in a multi/],
    ['nested multi', { op: OpCode.multi, ops: [{ op: OpCode.multi, ops: [] }] }, /multi op 0: operation 14 is not allowed/],
    ['multi with a non-object op', { op: OpCode.multi, ops: [{ op: OpCode.check, path: '/a', version: 0 }, 7] }, /multi op 1 is not an object/],
    [
      'multi names the index of the bad op',
      {
        op: OpCode.multi,
        ops: [
          { op: OpCode.create, path: '/ok', data: null, mode: 'persistent' },
          { op: OpCode.check, path: '/ok', version: 0 },
          { op: OpCode.delete, path: '/ok', version: -3 },
        ],
      },
      /^multi op 2: version must be an integer >= -1$/,
    ],
    ['multi with a ttl create lacking ttlMs', { op: OpCode.multi, ops: [{ op: OpCode.create, path: '/t', data: null, mode: 'ttl' }] }, /multi op 0: ttl modes need/],
    ['setWatches with a number zxid', { op: OpCode.setWatches, relativeZxid: 5, dataWatches: [], existWatches: [], childWatches: [] }, /relativeZxid must be a bigint/],
    ['setWatches missing a list', { op: OpCode.setWatches, relativeZxid: 0n, dataWatches: [], existWatches: [] }, /childWatches must be an array/],
    ['setWatches with a bad path', { op: OpCode.setWatches, relativeZxid: 0n, dataWatches: [], existWatches: ['/x/'], childWatches: [] }, /existWatches: path must not end/],
  ];
  it.each(bad)('%s', (_name, req, reason) => {
    const problem = validateRequest(req);
    expect(problem).not.toBeNull();
    expect(problem).toMatch(reason);
  });
});

describe('requestDataBytes', () => {
  it('counts create and setData data; null and empty are 0', () => {
    expect(requestDataBytes({ op: OpCode.create, path: '/a', data: bytes(10), mode: 'persistent' })).toBe(10);
    expect(requestDataBytes({ op: OpCode.create, path: '/a', data: null, mode: 'persistent' })).toBe(0);
    expect(requestDataBytes({ op: OpCode.setData, path: '/a', data: bytes(0), version: -1 })).toBe(0);
    expect(requestDataBytes({ op: OpCode.setData, path: '/a', data: bytes(7), version: -1 })).toBe(7);
  });

  it('sums the data of every op in a multi', () => {
    expect(
      requestDataBytes({
        op: OpCode.multi,
        ops: [
          { op: OpCode.create, path: '/a', data: bytes(100), mode: 'persistent' },
          { op: OpCode.setData, path: '/a', data: bytes(50), version: -1 },
          { op: OpCode.check, path: '/a', version: 1 },
          { op: OpCode.create, path: '/b', data: null, mode: 'persistent' },
        ],
      }),
    ).toBe(150);
    expect(requestDataBytes({ op: OpCode.multi, ops: [] })).toBe(0);
  });

  it('is 0 for requests without data', () => {
    expect(requestDataBytes({ op: OpCode.getData, path: '/a', watch: false })).toBe(0);
    expect(requestDataBytes({ op: OpCode.delete, path: '/a', version: -1 })).toBe(0);
    expect(requestDataBytes({ op: OpCode.ping })).toBe(0);
  });
});

describe('isMultiOp and error codes', () => {
  it('isMultiOp is true exactly for create/delete/setData/check', () => {
    expect(isMultiOp({ op: OpCode.create, path: '/a', data: null, mode: 'persistent' })).toBe(true);
    expect(isMultiOp({ op: OpCode.delete, path: '/a', version: -1 })).toBe(true);
    expect(isMultiOp({ op: OpCode.setData, path: '/a', data: null, version: -1 })).toBe(true);
    expect(isMultiOp({ op: OpCode.check, path: '/a', version: -1 })).toBe(true);
    expect(isMultiOp({ op: OpCode.getData, path: '/a', watch: false })).toBe(false);
    expect(isMultiOp({ op: OpCode.multi, ops: [] })).toBe(false);
  });

  it('error codes keep ZooKeeper numbers and names', () => {
    expect(ERROR_NUMBERS.NoNode).toBe(-101);
    expect(ERROR_NUMBERS.NodeExists).toBe(-110);
    expect(ERROR_NUMBERS.BadVersion).toBe(-103);
    expect(ERROR_NUMBERS.SessionExpired).toBe(-112);
    expect(isErrorCode('NoNode')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(-101)).toBe(false);
    expect(new Set(Object.values(ERROR_NUMBERS)).size).toBe(Object.keys(ERROR_NUMBERS).length);
  });

  it('only transient codes are retryable', () => {
    expect(RETRYABLE_CODES.has('ConnectionLoss')).toBe(true);
    expect(RETRYABLE_CODES.has('NotServing')).toBe(true);
    expect(RETRYABLE_CODES.has('NoNode')).toBe(false);
    expect(RETRYABLE_CODES.has('SessionExpired')).toBe(false);
    expect(RETRYABLE_CODES.has('BadVersion')).toBe(false);
  });
});
