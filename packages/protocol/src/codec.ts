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

/**
 * The msgpack array of already-encoded values `parts`, built by concatenation (no re-encoding).
 * Used to send several frames as one WebSocket message (see decodeFrames).
 */
export function packArray(parts: readonly Uint8Array[], prefix?: Uint8Array): Uint8Array {
  const n = parts.length;
  const head = n < 16 ? Buffer.from([0x90 | n]) : n < 0x10000 ? Buffer.from([0xdc, n >> 8, n & 0xff]) : Buffer.from([0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  return Buffer.concat(prefix ? [prefix, head, ...parts] : [head, ...parts]);
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
  return checkFrame(unpackFrame(bytes));
}

/**
 * Decodes one WebSocket message holding either one frame (a map) or several (a non-empty array of
 * maps, in order). Every element must pass decodeFrame's rules, else the whole message is rejected.
 * Throws FrameError, never anything else.
 */
export function decodeFrames(bytes: Uint8Array, maxFrameBytes = frameLimitFor(DEFAULT_MAX_DATA_BYTES)): Frame[] {
  if (bytes.byteLength > maxFrameBytes) {
    throw new FrameError('oversized', `frame of ${bytes.byteLength} bytes exceeds the limit of ${maxFrameBytes}`);
  }
  const value = unpackFrame(bytes);
  if (!Array.isArray(value)) return [checkFrame(value)];
  if (value.length === 0) throw new FrameError('malformed', 'empty frame array');
  return value.map(checkFrame);
}

function unpackFrame(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (cause) {
    throw new FrameError('undecodable', `frame is not valid msgpack: ${(cause as Error)?.message ?? cause}`, { cause });
  }
}

function checkFrame(value: unknown): Frame {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FrameError('malformed', 'frame is not a map');
  }
  const k = (value as { k?: unknown }).k;
  if (typeof k !== 'number' || !KINDS.has(k)) {
    throw new FrameError('malformed', `unknown frame kind ${String(k)}`);
  }
  if (k === FrameKind.connect) {
    const problem = connectProblem(value as Record<string, unknown>);
    if (problem !== null) throw new FrameError('malformed', `connect frame: ${problem}`);
  }
  if (k === FrameKind.request) {
    const f = value as { xid?: unknown; req?: unknown };
    if (!Number.isInteger(f.xid)) throw new FrameError('malformed', 'request frame without an integer xid');
    if (f.req === null || typeof f.req !== 'object') throw new FrameError('malformed', 'request frame without a request');
  }
  return value as Frame;
}

const isU64 = (v: unknown): boolean => typeof v === 'bigint' && v >= 0n && v < 1n << 64n;

/** The connect frame's fields as clients send them (zxid and session id as bigints), or why not. */
function connectProblem(f: Record<string, unknown>): string | null {
  if (!Number.isInteger(f.protocolVersion)) return 'protocolVersion must be an integer';
  if (!isU64(f.lastZxidSeen)) return 'lastZxidSeen must be a bigint in [0, 2^64)';
  if (!isU64(f.sessionId)) return 'sessionId must be a bigint in [0, 2^64)';
  if (typeof f.timeoutMs !== 'number' || Number.isNaN(f.timeoutMs)) return 'timeoutMs must be a number';
  if (!(f.passwd instanceof Uint8Array) || f.passwd.byteLength > 256) return 'passwd must be at most 256 bytes';
  if (f.frameArrays !== undefined && typeof f.frameArrays !== 'boolean') return 'frameArrays must be a boolean';
  return null;
}
