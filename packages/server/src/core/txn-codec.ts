import { decode, encode, isErrorCode } from '@zabkit/protocol';
import { copyBytes } from './bytes.js';
import type { Txn, TxnBody } from './txn.js';
import { readTxn } from './txn-read.js';

/**
 * Each txn's encoding, made once and kept on the txn under a symbol (which msgpack does not see)
 * until the log append, its last use: the leader encodes a txn for the proposal and again for its
 * log; a follower logs the bytes it decoded the proposal from. Txns are not changed once made.
 * (A WeakMap made every txn's bytes wait for a full GC: RSS under load grew by a third.)
 */
const ENCODED = Symbol('encoded');
type EncodedTxn = Txn & { [ENCODED]?: Uint8Array };

/** Encodes a txn for the wire and the log (msgpack via the protocol codec). */
export function encodeTxn(txn: Txn): Uint8Array {
  const kept = (txn as EncodedTxn)[ENCODED];
  if (kept !== undefined) return kept;
  const bytes = encode(txn);
  keep(txn, bytes);
  return bytes;
}

/** Not enumerable, so that no copy, comparison or encoding of a txn sees it. */
function keep(txn: Txn, bytes: Uint8Array | undefined): void {
  Object.defineProperty(txn, ENCODED, { value: bytes, writable: true, configurable: true, enumerable: false });
}

/** encodeTxn for the log append: hands over the bytes kept for it and forgets them. */
export function encodeTxnForLog(txn: Txn): Uint8Array {
  const t = txn as EncodedTxn;
  const bytes = t[ENCODED];
  if (bytes === undefined) return encode(txn);
  t[ENCODED] = undefined;
  return bytes;
}

const asBytes = (v: unknown): Uint8Array | null => {
  if (v === null || v === undefined) return null;
  // a copy: the decoded bytes are a view into the record, itself a view into a whole log segment
  if (v instanceof Uint8Array) return copyBytes(v);
  throw new TypeError('txn: expected bytes');
};

const asBigint = (v: unknown, what: string): bigint => {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new TypeError(`txn: ${what} is not an integer`);
};

const asNumber = (v: unknown, what: string): number => {
  if (typeof v === 'number') return v;
  throw new TypeError(`txn: ${what} is not a number`);
};

function body(raw: unknown): TxnBody {
  if (raw === null || typeof raw !== 'object') throw new TypeError('txn: body is not a map');
  const b = raw as Record<string, unknown>;
  switch (b.type) {
    case 'createSession':
      return { type: 'createSession', timeoutMs: asNumber(b.timeoutMs, 'timeoutMs'), passwd: asBytes(b.passwd) ?? new Uint8Array(0) };
    case 'closeSession': {
      if (!Array.isArray(b.deletes)) return { type: 'closeSession' };
      return {
        type: 'closeSession',
        deletes: (b.deletes as Array<Record<string, unknown>>).map((d) => ({
          path: String(d.path),
          parentCVersion: asNumber(d.parentCVersion, 'parentCVersion'),
        })),
      };
    }
    case 'create': {
      const kind = b.kind === 'container' || b.kind === 'ttl' ? b.kind : 'normal';
      const out: TxnBody = {
        type: 'create',
        path: String(b.path),
        data: asBytes(b.data),
        ephemeralOwner: asBigint(b.ephemeralOwner, 'ephemeralOwner'),
        kind,
        parentCVersion: asNumber(b.parentCVersion, 'parentCVersion'),
        parentSeq: asNumber(b.parentSeq, 'parentSeq'),
      };
      if (typeof b.ttlMs === 'number') out.ttlMs = b.ttlMs;
      return out;
    }
    case 'delete':
      return { type: 'delete', path: String(b.path), parentCVersion: asNumber(b.parentCVersion, 'parentCVersion') };
    case 'setData':
      return { type: 'setData', path: String(b.path), data: asBytes(b.data), version: asNumber(b.version, 'version') };
    case 'check':
      return { type: 'check', path: String(b.path) };
    case 'multi':
      if (!Array.isArray(b.txns)) throw new TypeError('txn: multi without txns');
      return { type: 'multi', txns: b.txns.map(body) };
    case 'error':
      if (!isErrorCode(b.err)) throw new TypeError('txn: bad error code');
      return { type: 'error', err: b.err };
    case 'multiError':
      if (!Array.isArray(b.errs) || !b.errs.every(isErrorCode)) throw new TypeError('txn: bad multiError');
      return { type: 'multiError', errs: b.errs };
    case 'noop':
      return { type: 'noop' };
    default:
      throw new TypeError(`txn: unknown type ${String(b.type)}`);
  }
}

/**
 * decodeTxn for a txn about to be logged: `bytes` (a view into the message it came in) is kept for
 * encodeTxnForLog, which lets go of it at once; no copy, since the log record copies it anyway.
 */
export function decodeTxnForLog(bytes: Uint8Array): Txn {
  const txn = decodeTxn(bytes);
  keep(txn, bytes);
  return txn;
}

/** Decodes a txn written by encodeTxn; throws TypeError on a malformed record. */
export function decodeTxn(bytes: Uint8Array): Txn {
  // the common txn shapes without the generic decoder (the same result, faster: see txn-read.ts)
  const raw = (readTxn(bytes) ?? decode(bytes)) as { hdr?: Record<string, unknown>; body?: unknown } | null;
  if (raw === null || typeof raw !== 'object' || raw.hdr === null || typeof raw.hdr !== 'object') {
    throw new TypeError('txn: not a txn record');
  }
  const h = raw.hdr;
  return {
    hdr: {
      sessionId: asBigint(h.sessionId, 'sessionId'),
      cxid: asNumber(h.cxid, 'cxid'),
      zxid: asBigint(h.zxid, 'zxid'),
      time: asNumber(h.time, 'time'),
    },
    body: body(raw.body),
  };
}
