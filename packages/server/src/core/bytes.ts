/**
 * Copies of small byte values packed into shared slabs, as Node's Buffer pool does for small buffers.
 * Decoding a txn or a snapshot row must copy its data out of the (large) buffer it was read from, and
 * creating an ArrayBuffer per value costs about half a microsecond, several times the copy itself: a
 * log replay makes one per txn. A live copy keeps its slab alive, so the slabs are small.
 */
const SLAB_BYTES = 8 * 1024;
/** Larger values get an ArrayBuffer of their own. */
const MAX_POOLED_BYTES = SLAB_BYTES / 8;
const EMPTY = new Uint8Array(0);

let slab = new Uint8Array(0);
let used = 0;

/** A copy of `v` that shares no memory with it. */
export function copyBytes(v: Uint8Array): Uint8Array {
  const n = v.byteLength;
  if (n === 0) return EMPTY;
  if (n > MAX_POOLED_BYTES) return new Uint8Array(v);
  if (used + n > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  out.set(v);
  used += (n + 7) & ~7; // keep the next copy 8-byte aligned
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let scratch = new Uint8Array(256);

/**
 * A copy of `s` that shares no memory with it. A string decoded from a client's message may be a
 * slice of one string that holds every string of that message (msgpackr's native extractor does
 * that), so a znode path kept as such a slice keeps all of them alive: ~50 bytes per znode on the
 * leader. V8 already copies slices shorter than 13 characters.
 */
export function copyString(s: string): string {
  if (s.length < 13) return s;
  if (scratch.length < s.length * 3) scratch = new Uint8Array(s.length * 3);
  const { written } = encoder.encodeInto(s, scratch);
  return decoder.decode(scratch.subarray(0, written));
}
