import { describe, expect, it } from 'vitest';
import { copyBytes, copyString } from '../../src/core/bytes.js';

describe('copies that share no memory with what they were made from', () => {
  it('copyBytes: same bytes, another buffer region', () => {
    const src = new Uint8Array(64).map((_, i) => i);
    const copy = copyBytes(src.subarray(8, 40));
    expect([...copy]).toEqual([...src.subarray(8, 40)]);
    src.fill(0);
    expect(copy[0]).toBe(8);
    expect(copyBytes(new Uint8Array(5000)).byteLength).toBe(5000);
  });

  it('copyString: the same string for short, long, multi-byte and maximum-length paths', () => {
    const big = 'x'.repeat(100) + '/bench/b-12-34567|/app/ключ/日本語/ü-0000000001|';
    const cases = [
      '/a',
      big.slice(100, big.indexOf('|')),
      big.slice(big.indexOf('|') + 1, -1),
      '/' + 'é'.repeat(4095),
      '/😀/emoji-node-name',
    ];
    for (const s of cases) expect(copyString(s)).toBe(s);
  });
});
