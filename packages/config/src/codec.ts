import type { DataInput } from '@zabkit/client';

/** Turns a typed value into node data and back. `decode` may throw: the value is then reported as invalid. */
export interface Codec<T> {
  encode(value: T): DataInput;
  decode(data: Uint8Array | null): T;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** JSON as UTF-8 (the default). Null or empty data does not decode (it is reported as invalid). */
export function jsonCodec<T = unknown>(): Codec<T> {
  return {
    encode: (value) => JSON.stringify(value),
    decode: (data) => {
      if (data === null || data.length === 0) throw new SyntaxError('node has no data (expected JSON)');
      return JSON.parse(decoder.decode(data)) as T;
    },
  };
}

/** Plain UTF-8 strings; null data decodes to ''. */
export const stringCodec: Codec<string> = {
  encode: (value) => value,
  decode: (data) => (data === null ? '' : decoder.decode(data)),
};
