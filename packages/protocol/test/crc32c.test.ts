import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/index.js';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('crc32c', () => {
  it('matches the standard check value', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
  });

  it('matches RFC 3720 (iSCSI) test vectors', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(new Uint8Array(32).map((_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(new Uint8Array(32).map((_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('is 0 for no bytes and always an unsigned 32-bit number', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
    const v = crc32c(ascii('The quick brown fox jumps over the lazy dog'));
    expect(v).toBe(0x22620404);
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThanOrEqual(0xffff_ffff);
  });

  it('can be computed incrementally by passing the previous value as seed', () => {
    const all = ascii('123456789');
    expect(crc32c(all.subarray(4), crc32c(all.subarray(0, 4)))).toBe(0xe3069283);
  });

  it('detects a single flipped bit', () => {
    const a = ascii('zabkit record');
    const b = a.slice();
    b[3]! ^= 0x01;
    expect(crc32c(a)).not.toBe(crc32c(b));
  });
});
