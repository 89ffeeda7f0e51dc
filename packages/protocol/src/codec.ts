import { Packr } from 'msgpackr';
import { FrameKind, type Frame } from './messages.js';

/** Default limit on znode data and on the data carried by one request. */
export const DEFAULT_MAX_DATA_BYTES = 1024 * 1024;
/** Hard transport limit: a frame above this closes the connection. Room for a multi's framing. */
export const frameLimitFor = (maxDataBytes: number): number => maxDataBytes * 2 + 64 * 1024;

// useRecords:false keeps frames plain msgpack maps (readable by any decoder);
// int64AsType:'bigint' gives zxids and session ids back as bigint.
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

/** Why a frame could not be decoded; the connection that sent it is closed. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly reason: 'oversized' | 'undecodable' | 'malformed',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

export function encodeFrame(frame: Frame): Uint8Array {
  return packr.pack(frame);
}

const KINDS = new Set<number>(Object.values(FrameKind));

/**
 * Decodes one frame, checking its size and outer shape. Throws FrameError, never anything else.
 * The body of a request is validated separately (validateRequest) so that a bad request gets
 * a BadArguments reply rather than a closed connection.
 */
export function decodeFrame(bytes: Uint8Array, maxFrameBytes = frameLimitFor(DEFAULT_MAX_DATA_BYTES)): Frame {
  if (bytes.byteLength > maxFrameBytes) {
    throw new FrameError('oversized', `frame of ${bytes.byteLength} bytes exceeds the limit of ${maxFrameBytes}`);
  }
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    throw new FrameError('undecodable', `frame is not valid msgpack: ${(cause as Error)?.message ?? cause}`, { cause });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FrameError('malformed', 'frame is not a map');
  }
  const k = (value as { k?: unknown }).k;
  if (typeof k !== 'number' || !KINDS.has(k)) {
    throw new FrameError('malformed', `unknown frame kind ${String(k)}`);
  }
  if (k === FrameKind.request) {
    const f = value as { xid?: unknown; req?: unknown };
    if (!Number.isInteger(f.xid)) throw new FrameError('malformed', 'request frame without an integer xid');
    if (f.req === null || typeof f.req !== 'object') throw new FrameError('malformed', 'request frame without a request');
  }
  return value as Frame;
}
