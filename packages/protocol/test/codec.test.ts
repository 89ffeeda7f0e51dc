import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_DATA_BYTES,
  FrameError,
  FrameKind,
  OpCode,
  decode,
  decodeFrame,
  decodeFrames,
  encodeBatch,
  packArray,
  PeerKind,
  encode,
  encodeFrame,
  frameLimitFor,
  makeZxid,
  type Frame,
  type Request,
  type Stat,
} from '../src/index.js';

const stat = (over: Partial<Stat> = {}): Stat => ({
  czxid: makeZxid(3, 1),
  mzxid: makeZxid(3, 7),
  pzxid: makeZxid(3, 1),
  ctime: 1_700_000_000_123,
  mtime: 1_700_000_000_456,
  version: 2,
  cversion: 0,
  aversion: 0,
  ephemeralOwner: 0x0123_4567_89ab_cdefn,
  dataLength: 3,
  numChildren: 0,
  ...over,
});

const roundTrip = (frame: Frame): Frame => decodeFrame(encodeFrame(frame));

/** msgpackr hands back Node Buffers (a Uint8Array subclass); compare bytes as plain Uint8Arrays. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Asserts the decoded frame is exactly the original (same bigints, same bytes, same nulls). */
function expectSame(frame: Frame): Frame {
  const back = roundTrip(frame);
  expect(plain(back)).toStrictEqual(plain(frame));
  return back;
}

function frameError(f: () => unknown): FrameError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FrameError);
    return e as FrameError;
  }
  throw new Error('expected a FrameError, nothing was thrown');
}

describe('codec round trips', () => {
  it('connect: sessionId and lastZxidSeen stay bigint, passwd stays bytes', () => {
    const back = expectSame({
      k: FrameKind.connect,
      protocolVersion: 1,
      lastZxidSeen: makeZxid(0xffff_fffe, 0xffff_ffff),
      timeoutMs: 30_000,
      sessionId: 0n,
      passwd: new Uint8Array(0),
    });
    if (back.k !== FrameKind.connect) throw new Error('wrong kind');
    expect(typeof back.sessionId).toBe('bigint');
    expect(back.sessionId).toBe(0n);
    expect(back.lastZxidSeen).toBe(0xffff_fffe_ffff_ffffn);
    expect(back.passwd).toBeInstanceOf(Uint8Array);
    expect(back.passwd.byteLength).toBe(0);
  });

  it('connected: a session id above 2^63 survives', () => {
    const sessionId = 0xfedc_ba98_7654_3210n; // > 2^63: must not go negative or lossy
    const back = expectSame({
      k: FrameKind.connected,
      protocolVersion: 1,
      timeoutMs: 10_000,
      sessionId,
      passwd: new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 255, 128, 1, 2, 3, 4]),
      serverId: 2,
      zxid: makeZxid(5, 42),
      maxDataBytes: DEFAULT_MAX_DATA_BYTES,
    });
    if (back.k !== FrameKind.connected) throw new Error('wrong kind');
    expect(back.sessionId).toBe(sessionId);
    expect(back.zxid).toBe((5n << 32n) | 42n);
    expect(Array.from(back.passwd)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 255, 128, 1, 2, 3, 4]);
  });

  it('connectRefused', () => {
    expectSame({ k: FrameKind.connectRefused, err: 'SessionExpired', message: 'session 0x1 expired' });
  });

  it('request frames for every opcode', () => {
    const reqs: Request[] = [
      { op: OpCode.create, path: '/a', data: new Uint8Array([1, 2, 3]), mode: 'persistent' },
      { op: OpCode.create, path: '/t/', data: null, mode: 'ttl-sequential', ttlMs: 5000 },
      { op: OpCode.delete, path: '/a', version: -1 },
      { op: OpCode.exists, path: '/a', watch: true },
      { op: OpCode.getData, path: '/a', watch: false },
      { op: OpCode.setData, path: '/a', data: new Uint8Array(0), version: 3 },
      { op: OpCode.getChildren, path: '/', watch: true, withStat: true },
      { op: OpCode.sync, path: '/a' },
      { op: OpCode.ping },
      { op: OpCode.check, path: '/a', version: 0 },
      {
        op: OpCode.multi,
        ops: [
          { op: OpCode.create, path: '/m', data: null, mode: 'ephemeral' },
          { op: OpCode.setData, path: '/m', data: new Uint8Array([0]), version: 0 },
          { op: OpCode.check, path: '/m', version: 1 },
          { op: OpCode.delete, path: '/m', version: 1 },
        ],
      },
      { op: OpCode.setWatches, relativeZxid: makeZxid(1, 2), dataWatches: ['/a'], existWatches: [], childWatches: ['/'] },
      { op: OpCode.getEphemerals, prefix: '/' },
      { op: OpCode.getAllChildrenNumber, path: '/a' },
      { op: OpCode.closeSession },
    ];
    let xid = 1;
    for (const req of reqs) {
      expectSame({ k: FrameKind.request, xid: xid++, req });
    }
    const back = roundTrip({ k: FrameKind.request, xid: 99, req: reqs[11]! });
    if (back.k !== FrameKind.request || back.req.op !== OpCode.setWatches) throw new Error('wrong frame');
    expect(typeof back.req.relativeZxid).toBe('bigint');
  });

  it('response: Stat zxids and ephemeralOwner stay bigint, times stay numbers', () => {
    const back = expectSame({
      k: FrameKind.response,
      xid: 7,
      zxid: makeZxid(3, 9),
      op: OpCode.setData,
      body: { stat: stat() },
    });
    if (back.k !== FrameKind.response) throw new Error('wrong kind');
    const s = (back.body as { stat: Stat }).stat;
    expect(typeof s.czxid).toBe('bigint');
    expect(typeof s.mzxid).toBe('bigint');
    expect(typeof s.pzxid).toBe('bigint');
    expect(typeof s.ephemeralOwner).toBe('bigint');
    expect(typeof s.ctime).toBe('number');
    expect(s.ctime).toBe(1_700_000_000_123);
  });

  it('response: null data and empty data are distinct after a round trip', () => {
    const nullBack = roundTrip({
      k: FrameKind.response, xid: 1, zxid: 1n, op: OpCode.getData,
      body: { data: null, stat: stat({ dataLength: 0 }) },
    });
    const emptyBack = roundTrip({
      k: FrameKind.response, xid: 2, zxid: 1n, op: OpCode.getData,
      body: { data: new Uint8Array(0), stat: stat({ dataLength: 0 }) },
    });
    const nullData = (nullBack as { body: { data: unknown } }).body.data;
    const emptyData = (emptyBack as { body: { data: unknown } }).body.data;
    expect(nullData).toBeNull();
    expect(emptyData).toBeInstanceOf(Uint8Array);
    expect((emptyData as Uint8Array).byteLength).toBe(0);
  });

  it('response: error replies and multi results', () => {
    expectSame({ k: FrameKind.response, xid: 3, zxid: 10n, op: OpCode.create, err: 'NodeExists', message: 'exists: /a' });
    expectSame({
      k: FrameKind.response, xid: 4, zxid: 10n, op: OpCode.multi,
      body: {
        results: [
          { op: OpCode.create, path: '/x0000000001', stat: stat() },
          { op: 'error', err: 'BadVersion' },
          { op: 'error', err: 'RuntimeInconsistency' },
        ],
      },
    });
  });

  it('event, status, statusReply', () => {
    const ev = expectSame({ k: FrameKind.event, zxid: makeZxid(2, 5), type: 'NodeDataChanged', path: '/a' });
    expect(typeof (ev as { zxid: unknown }).zxid).toBe('bigint');
    expectSame({ k: FrameKind.status });
    const back = expectSame({
      k: FrameKind.statusReply,
      status: {
        serverId: 1, version: '0.1.0', role: 'leader', epoch: 4, zxid: makeZxid(4, 100),
        sessions: 3, connections: 4, znodes: 10, watches: 2, ephemerals: 1, outstandingRequests: 0,
        latency: { min: 0, avg: 1.5, max: 9, count: 12 },
        packetsReceived: 100, packetsSent: 120, uptimeMs: 123_456, followers: [2, 3], dataBytes: 2048,
      },
    });
    if (back.k !== FrameKind.statusReply) throw new Error('wrong kind');
    expect(back.status.zxid).toBe((4n << 32n) | 100n);
    expect(back.status.latency.avg).toBe(1.5);
  });

  it('data bytes come back byte for byte, including all 256 values', () => {
    const data = new Uint8Array(256).map((_, i) => i);
    const back = roundTrip({ k: FrameKind.request, xid: 1, req: { op: OpCode.setData, path: '/a', data, version: -1 } });
    if (back.k !== FrameKind.request || back.req.op !== OpCode.setData) throw new Error('wrong frame');
    expect(back.req.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(back.req.data!)).toEqual(Array.from(data));
  });

  it('encode/decode handle plain values with bigint', () => {
    expect(decode(encode({ a: 1n << 40n, b: 'x', c: [1, 2] }))).toEqual({ a: 1n << 40n, b: 'x', c: [1, 2] });
  });
});

describe('decodeFrame rejects bad input with a FrameError', () => {
  it('garbage bytes are undecodable', () => {
    const e = frameError(() => decodeFrame(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n')));
    expect(e.reason).toBe('undecodable');
    expect(e.message).toMatch(/not valid msgpack/);
    expect(frameError(() => decodeFrame(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).reason).toBe('undecodable');
  });

  it('an empty buffer is undecodable', () => {
    expect(frameError(() => decodeFrame(new Uint8Array(0))).reason).toBe('undecodable');
  });

  it('every truncation of a valid frame is undecodable, never another error', () => {
    const full = encodeFrame({ k: FrameKind.request, xid: 12, req: { op: OpCode.setData, path: '/abc', data: new Uint8Array([1, 2, 3]), version: -1 } });
    for (let n = 0; n < full.byteLength; n++) {
      const e = frameError(() => decodeFrame(full.subarray(0, n)));
      expect(e.reason, `truncated to ${n} bytes`).toBe('undecodable');
    }
  });

  it('an unknown msgpack extension type is undecodable', () => {
    expect(frameError(() => decodeFrame(new Uint8Array([0xd4, 0x05, 0x01]))).reason).toBe('undecodable');
  });

  it('a value that is not a map is malformed', () => {
    for (const v of [42, 'hello', null, [1, 2, 3], true]) {
      const e = frameError(() => decodeFrame(encode(v)));
      expect(e.reason, JSON.stringify(v)).toBe('malformed');
      expect(e.message).toMatch(/not a map/);
    }
  });

  it('an unknown or missing kind is malformed', () => {
    for (const v of [{ k: 99 }, { k: '4' }, {}, { k: 0 }, { kind: 1 }]) {
      const e = frameError(() => decodeFrame(encode(v)));
      expect(e.reason).toBe('malformed');
      expect(e.message).toMatch(/unknown frame kind/);
    }
  });

  it('a request without an integer xid, or without a request body, is malformed', () => {
    const noXid = frameError(() => decodeFrame(encode({ k: FrameKind.request, req: { op: OpCode.ping } })));
    expect(noXid.reason).toBe('malformed');
    expect(noXid.message).toMatch(/xid/);
    expect(frameError(() => decodeFrame(encode({ k: FrameKind.request, xid: 1.5, req: { op: OpCode.ping } }))).reason).toBe('malformed');
    expect(frameError(() => decodeFrame(encode({ k: FrameKind.request, xid: '1', req: { op: OpCode.ping } }))).reason).toBe('malformed');
    const noReq = frameError(() => decodeFrame(encode({ k: FrameKind.request, xid: 1 })));
    expect(noReq.reason).toBe('malformed');
    expect(noReq.message).toMatch(/without a request/);
    expect(frameError(() => decodeFrame(encode({ k: FrameKind.request, xid: 1, req: null }))).reason).toBe('malformed');
  });

  it('a connect frame whose fields are not what a client sends is malformed (a hostile lastZxidSeen must not reach the server)', () => {
    const good = { k: FrameKind.connect, protocolVersion: 1, lastZxidSeen: 0n, timeoutMs: 30_000, sessionId: 0n, passwd: new Uint8Array(16) };
    expect(decodeFrame(encode(good)).k).toBe(FrameKind.connect);
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      ['lastZxidSeen a map with a toString key', { lastZxidSeen: { toString: 1 } }, /lastZxidSeen/],
      ['lastZxidSeen a number', { lastZxidSeen: 5 }, /lastZxidSeen/],
      ['lastZxidSeen negative', { lastZxidSeen: -1n }, /lastZxidSeen/],
      ['sessionId a string', { sessionId: '1' }, /sessionId/],
      ['protocolVersion missing', { protocolVersion: undefined }, /protocolVersion/],
      ['timeoutMs a string', { timeoutMs: '10' }, /timeoutMs/],
      ['passwd of 1 KiB', { passwd: new Uint8Array(1024) }, /passwd/],
      ['passwd a string', { passwd: 'secret' }, /passwd/],
      ['frameArrays a number', { frameArrays: 1 }, /frameArrays/],
    ];
    for (const [what, change, reason] of bad) {
      const e = frameError(() => decodeFrame(encode({ ...good, ...change })));
      expect(e.reason, what).toBe('malformed');
      expect(e.message, what).toMatch(reason);
    }
  });

  it('a frame over the limit is oversized, checked before decoding', () => {
    const frame = encodeFrame({ k: FrameKind.request, xid: 1, req: { op: OpCode.setData, path: '/a', data: new Uint8Array(2000), version: -1 } });
    expect(decodeFrame(frame, frame.byteLength).k).toBe(FrameKind.request);
    const e = frameError(() => decodeFrame(frame, frame.byteLength - 1));
    expect(e.reason).toBe('oversized');
    expect(e.message).toContain(String(frame.byteLength));
    // Oversized wins even when the bytes are garbage: the size check comes first.
    expect(frameError(() => decodeFrame(new Uint8Array(100).fill(0xc1), 10)).reason).toBe('oversized');
  });

  it('the default limit admits a request carrying maxDataBytes of data and rejects one far beyond', () => {
    const big = encodeFrame({ k: FrameKind.request, xid: 1, req: { op: OpCode.create, path: '/a', data: new Uint8Array(DEFAULT_MAX_DATA_BYTES), mode: 'persistent' } });
    expect(decodeFrame(big).k).toBe(FrameKind.request);
    const huge = new Uint8Array(frameLimitFor(DEFAULT_MAX_DATA_BYTES) + 1);
    expect(frameError(() => decodeFrame(huge)).reason).toBe('oversized');
  });

  it('FrameError keeps the decoder error as its cause', () => {
    const e = frameError(() => decodeFrame(new Uint8Array([0x92, 0x01])));
    expect(e.name).toBe('FrameError');
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('a "__proto__" key does not pollute prototypes', () => {
    const bytes = encode(JSON.parse('{"k":7,"__proto__":{"polluted":true}}'));
    const f = decodeFrame(bytes) as unknown as Record<string, unknown>;
    expect(Object.getPrototypeOf(f)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('frame arrays and peer batches', () => {
  const ev = (n: number) => ({ k: FrameKind.event, zxid: BigInt(n), type: 'NodeDataChanged', path: `/p${n}` }) as const;
  it('decodeFrames accepts one map or a non-empty array of frames, in order; decodeFrame still rejects arrays', () => {
    expect(decodeFrames(encodeFrame(ev(1)))).toEqual([ev(1)]);
    for (const n of [1, 2, 15, 16, 17, 300, 70_000]) {
      const frames = Array.from({ length: n }, (_, i) => ev(i));
      const bytes = packArray(frames.map(encodeFrame));
      expect(decodeFrames(bytes, 64 * 1024 * 1024)).toEqual(frames);
      expect(decode(bytes)).toEqual(frames);
    }
    expect(() => decodeFrame(packArray([encodeFrame(ev(1))]))).toThrow(/not a map/);
  });
  it('decodeFrames applies every malformed-frame rule per element', () => {
    const ok = encodeFrame(ev(1));
    const bad: [string, Uint8Array, RegExp][] = [
      ['empty array', packArray([]), /empty frame array/],
      ['a number', packArray([ok, encode(7)]), /not a map/],
      ['a nested array', packArray([ok, packArray([ok])]), /not a map/],
      ['unknown kind', packArray([ok, encode({ k: 999 })]), /unknown frame kind 999/],
      ['request without xid', packArray([encode({ k: FrameKind.request, req: {} }), ok]), /integer xid/],
    ];
    for (const [what, bytes, re] of bad) {
      let err: unknown;
      try {
        decodeFrames(bytes);
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(FrameError);
      expect((err as FrameError).reason, what).toBe('malformed');
      expect((err as FrameError).message, what).toMatch(re);
    }
    expect(() => decodeFrames(packArray([ok, ok]), 10)).toThrow(/exceeds the limit/);
    expect(() => decodeFrames(Uint8Array.of(0x92, 0xc1))).toThrow(FrameError);
  });
  it('encodeBatch is the msgpack of { k: batch, msgs } without re-encoding', () => {
    const msgs = [
      { k: PeerKind.commit, zxid: 1n << 40n },
      { k: PeerKind.proposal, zxid: 5n, txn: Uint8Array.of(1, 2, 3) },
      { k: PeerKind.ping, touches: [1n, 2n] },
    ];
    const back = decode(encodeBatch(msgs.map((m) => encode(m)))) as { k: number; msgs: { txn?: Uint8Array }[] };
    expect(back.k).toBe(PeerKind.batch);
    expect(back.msgs.map((m) => (m.txn ? { ...m, txn: Uint8Array.from(m.txn) } : m))).toEqual(msgs);
  });
});
