/** Data accepted by writes: bytes, a string (sent as UTF-8) or null (no data, distinct from empty). */
export type DataInput = Uint8Array | string | null;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function toBytes(data: DataInput | undefined): Uint8Array | null {
  if (data === undefined || data === null) return null;
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  throw new TypeError('data must be a Uint8Array, a string or null');
}

export function bytesToString(data: Uint8Array | null): string | null {
  return data === null ? null : decoder.decode(data);
}
