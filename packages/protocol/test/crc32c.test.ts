import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/index.js';

const ascii = (s: string) => new TextEncoder().encode(s);

/** The plain bitwise definition, to check the table-driven one against. */
function reference(bytes: Uint8Array): number {
  let crc = 0xffff_ffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1;
  }
  return ~crc >>> 0;
}

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

  it('agrees with the bitwise definition for every length and alignment (8-byte steps and the tail)', () => {
    const data = new Uint8Array(300).map((_, i) => (i * 151 + 17) & 0xff);
    for (let start = 0; start < 9; start++) {
      for (let len = 0; len <= 40; len++) {
        const part = data.subarray(start, start + len);
        expect(crc32c(part)).toBe(reference(part));
      }
    }
    expect(crc32c(data)).toBe(reference(data));
  });

  it('checksums a range [start, end) of a buffer like the same bytes on their own', () => {
    const data = new Uint8Array(100).map((_, i) => (i * 37) & 0xff);
    expect(crc32c(data, 0, 3, 91)).toBe(crc32c(data.subarray(3, 91)));
    expect(crc32c(data, crc32c(data.subarray(0, 3)), 3, 91)).toBe(crc32c(data.subarray(0, 91)));
    expect(crc32c(data, 0, 50, 50)).toBe(0);
  });
});
