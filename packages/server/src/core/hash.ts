/**
 * FNV-1a 64-bit over a sequence of byte chunks, computed with two 32-bit halves
 * (no bigint per byte). Pure and deterministic: equal inputs, equal digest.
 */
export function fnv1a64(chunks: Iterable<Uint8Array>): string {
  // offset basis 0xcbf29ce484222325
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const bytes of chunks) {
    for (let i = 0; i < bytes.length; i++) {
      lo ^= bytes[i] as number;
      // multiply by the prime 0x100000001b3 = 2^40 + 0x1b3
      const a = (lo >>> 0) * 0x1b3;
      const carry = Math.floor(a / 0x1_0000_0000);
      const newLo = a >>> 0;
      hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
      lo = newLo;
    }
  }
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}
