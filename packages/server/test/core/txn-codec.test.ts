import { decode } from '@zabkit/protocol';
import { describe, expect, it } from 'vitest';
import { decodeTxn, encodeTxn, type Txn } from '../../src/core/index.js';
import { readTxn } from '../../src/core/txn-read.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const hdr = (over: Partial<Txn['hdr']> = {}): Txn['hdr'] => ({ sessionId: 0x0100_0123_4567_0001n, cxid: 7, zxid: 0x1_0000_0002n, time: 1_764_000_000_123, ...over });

/** One txn of every body type, with the shapes the fast reader handles and the ones it leaves to msgpackr. */
const SAMPLES: Txn[] = [
  { hdr: hdr(), body: { type: 'createSession', timeoutMs: 30_000, passwd: bytes('0123456789abcdef') } },
  { hdr: hdr(), body: { type: 'create', path: '/a/b', data: bytes('x'.repeat(100)), ephemeralOwner: 0n, kind: 'normal', parentCVersion: 3, parentSeq: 3 } },
  { hdr: hdr(), body: { type: 'create', path: '/e', data: null, ephemeralOwner: 0x0100_0123_4567_0001n, kind: 'ttl', ttlMs: 5_000, parentCVersion: 1, parentSeq: 1 } },
  { hdr: hdr(), body: { type: 'create', path: '/c', data: new Uint8Array(0), ephemeralOwner: 0n, kind: 'container', parentCVersion: 70_000, parentSeq: 70_000 } },
  { hdr: hdr(), body: { type: 'setData', path: '/bench/k24', data: bytes('a'.repeat(100)), version: 3 } },
  { hdr: hdr({ sessionId: 0n, cxid: -1 }), body: { type: 'delete', path: '/x/y', parentCVersion: 12 } },
  { hdr: hdr(), body: { type: 'check', path: '/a' } },
  { hdr: hdr(), body: { type: 'error', err: 'NoNode' } },
  { hdr: hdr(), body: { type: 'noop' } },
  { hdr: hdr(), body: { type: 'closeSession' } },
  { hdr: hdr(), body: { type: 'closeSession', deletes: [{ path: '/e', parentCVersion: 2 }] } },
  { hdr: hdr(), body: { type: 'multi', txns: [{ type: 'check', path: '/a' }, { type: 'delete', path: '/a', parentCVersion: 4 }] } },
  { hdr: hdr(), body: { type: 'multiError', errs: ['Ok', 'BadVersion', 'RuntimeInconsistency'] } },
  { hdr: hdr(), body: { type: 'setData', path: '/ünïcødé/☃', data: bytes('v'), version: 1 } },
];

/** A decoded value with keys whose value is undefined dropped (the fast reader fills absent keys with undefined) and bytes as hex. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/** A small seeded generator (tests stay reproducible). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('txn codec', () => {
  it('round-trips every txn type', () => {
    for (const t of SAMPLES) expect(decodeTxn(encodeTxn(t))).toEqual(t);
  });

  it('reads the common shapes without the generic decoder, and leaves arrays and non-ASCII strings to it', () => {
    const fast = SAMPLES.filter((t) => readTxn(encodeTxn(t)) !== null).map((t) => t.body.type);
    expect(fast).toEqual(['createSession', 'create', 'create', 'create', 'setData', 'delete', 'check', 'error', 'noop', 'closeSession']);
  });

  it('the fast reader gives what the generic decoder gives', () => {
    for (const t of SAMPLES) {
      const enc = encodeTxn(t);
      const raw = readTxn(enc);
      if (raw) expect(plain(raw)).toEqual(plain(decode(enc)));
    }
  });

  it('agrees with the generic decoder on random values at every msgpack width', () => {
    const r = rng(42);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const ints = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, -1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31)];
    const numbers = [...ints, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, 1.5, -0.25, 1_764_000_000_123];
    const bigs = [0n, 1n, 2n ** 32n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 0xff00_0000_0000_0001n, -1n, -(2n ** 63n)];
    const ascii = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x20 + Math.floor(r() * 95))).join('');
    for (let i = 0; i < 1_000; i++) {
      const path = `/${ascii(pick([0, 1, 14, 15, 16, 17, 30, 31, 32, 200, 255, 256, 300]))}`;
      const data = pick([null, 0, 1, 100, 255, 256, 65_535, 65_536, 70_000]);
      const txn = {
        hdr: { sessionId: pick(bigs), cxid: pick(ints), zxid: pick(bigs), time: pick(numbers) },
        body: { type: 'setData', path, data: data === null ? null : new Uint8Array(data).map((_, k) => k * 31), version: pick(ints) },
      };
      const enc = encodeTxn(txn as Txn);
      const raw = readTxn(enc);
      expect(raw).not.toBeNull();
      expect(plain(raw)).toEqual(plain(decode(enc)));
    }
  });

  it('leaves anything it does not recognise to the generic decoder, which reports what is wrong', () => {
    const enc = encodeTxn(SAMPLES[4]!);
    expect(readTxn(enc.subarray(0, enc.length - 1))).toBeNull();
    expect(() => decodeTxn(enc.subarray(0, enc.length - 1))).toThrow();
    const trailing = new Uint8Array([...enc, 0xc0]);
    expect(readTxn(trailing)).toBeNull();
    expect(() => decodeTxn(trailing)).toThrow();
    const unknownKey = encodeTxn({ ...SAMPLES[4]!, body: { ...SAMPLES[4]!.body, extra: 1 } } as unknown as Txn);
    expect(readTxn(unknownKey)).toBeNull();
    expect(decodeTxn(unknownKey)).toEqual(SAMPLES[4]);
    expect(readTxn(new Uint8Array(0))).toBeNull();
    expect(() => decodeTxn(bytes('not msgpack'))).toThrow();
  });

  it('decoded data is a copy: it does not change with the buffer it was read from', () => {
    const enc = encodeTxn(SAMPLES[4]!);
    const t = decodeTxn(enc);
    enc.fill(0);
    expect(t).toEqual(SAMPLES[4]);
  });

  it('copies of many small values (packed into shared slabs) keep their own bytes', () => {
    const txns = Array.from({ length: 3_000 }, (_, i) => ({ hdr: hdr(), body: { type: 'setData', path: '/k', data: bytes(`v${i}-`.repeat(i % 50)), version: i } }) as Txn);
    const decoded = txns.map((t) => decodeTxn(encodeTxn(t)));
    expect(decoded).toEqual(txns);
  });
});
