import { describe, expect, it } from 'vitest';
import { ZXID_ZERO, counterExhausted, counterOf, epochOf, formatZxid, makeZxid, maxZxid } from '../src/index.js';

describe('zxid helpers', () => {
  it('packs epoch in the high 32 bits and the counter in the low 32 bits', () => {
    const z = makeZxid(5, 7);
    expect(typeof z).toBe('bigint');
    expect(z).toBe((5n << 32n) + 7n);
    expect(epochOf(z)).toBe(5);
    expect(counterOf(z)).toBe(7);
    expect(makeZxid(5n, 7n)).toBe(z);
    expect(ZXID_ZERO).toBe(0n);
    expect(makeZxid(0, 0)).toBe(ZXID_ZERO);
  });

  it('round trips the extremes without losing precision', () => {
    const z = makeZxid(0xffff_ffff, 0xffff_ffff);
    expect(z).toBe(0xffff_ffff_ffff_ffffn);
    expect(z > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(epochOf(z)).toBe(0xffff_ffff);
    expect(counterOf(z)).toBe(0xffff_ffff);
  });

  it('orders by epoch first: a new epoch beats any counter of an older one', () => {
    expect(makeZxid(2, 0) > makeZxid(1, 0xffff_ffff)).toBe(true);
    expect(maxZxid(makeZxid(2, 0), makeZxid(1, 0xffff_ffff))).toBe(makeZxid(2, 0));
    expect(maxZxid(3n, 3n)).toBe(3n);
  });

  it('reports counter exhaustion (rollover needs a new epoch)', () => {
    expect(counterExhausted(makeZxid(1, 0xffff_fffe))).toBe(false);
    expect(counterExhausted(makeZxid(1, 0xffff_ffff))).toBe(true);
    // The next counter would not fit.
    expect(() => makeZxid(1, 0x1_0000_0000)).toThrow(RangeError);
  });

  it('rejects out-of-range epoch and counter, naming which', () => {
    expect(() => makeZxid(-1, 0)).toThrow(/epoch out of range: -1/);
    expect(() => makeZxid(0x1_0000_0000, 0)).toThrow(/epoch out of range/);
    expect(() => makeZxid(0, -1)).toThrow(/counter out of range: -1/);
    expect(() => makeZxid(0, 2n ** 32n)).toThrow(/counter out of range/);
    expect(() => makeZxid(1.5, 0)).toThrow(RangeError);
  });

  it('formats as hex', () => {
    expect(formatZxid(makeZxid(1, 0x2a))).toBe('0x10000002a');
    expect(formatZxid(0n)).toBe('0x0');
  });
});
