/** Turns queue items into node data and back. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Receives the node's data (an empty array for a node without data). May throw on malformed data. */
  decode(data: Uint8Array): T;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** JSON text as UTF-8 (the default). `undefined`, functions and symbols cannot be encoded. */
export const jsonCodec: Codec<unknown> = {
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('jsonCodec: value has no JSON representation');
    return encoder.encode(text);
  },
  decode(data) {
    return JSON.parse(decoder.decode(data)) as unknown;
  },
};

/** Raw bytes, stored as they are (decoded as a plain Uint8Array view, not a Node Buffer). */
export const bytesCodec: Codec<Uint8Array> = {
  encode: (value) => value,
  decode: (data) => (data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
};

/** Strings as UTF-8. */
export const stringCodec: Codec<string> = {
  encode: (value) => encoder.encode(value),
  decode: (data) => decoder.decode(data),
};
