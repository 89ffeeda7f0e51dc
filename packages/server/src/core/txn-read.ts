/**
 * A msgpack reader for the common shape of what encodeTxn writes, `{ hdr: {...}, body: {...} }` with
 * only scalars inside (every txn type but multi, multiError and closeSession with deletes). It gives
 * the same plain objects the generic decoder (msgpackr) gives, about twice as fast, which matters
 * on a restart: replaying a long log is mostly decoding. For anything else (an array, an extension,
 * a key it does not know, a non-ASCII string, a truncated buffer) it returns null and the caller
 * uses the generic decoder, so the two never disagree.
 */

/** The raw header and body as the generic decoder would return them (a key not present is undefined). */
export interface RawTxn {
  hdr: RawHeader;
  body: RawBody;
}

interface RawHeader {
  sessionId: unknown;
  cxid: unknown;
  zxid: unknown;
  time: unknown;
}

interface RawBody {
  type: unknown;
  path: unknown;
  data: unknown;
  version: unknown;
  timeoutMs: unknown;
  passwd: unknown;
  ephemeralOwner: unknown;
  kind: unknown;
  parentCVersion: unknown;
  parentSeq: unknown;
  ttlMs: unknown;
  err: unknown;
}

const ROOT_KEYS = ['hdr', 'body'] as const;
const HEADER_KEYS = ['sessionId', 'cxid', 'zxid', 'time'] as const;
const BODY_KEYS = ['type', 'path', 'data', 'version', 'timeoutMs', 'passwd', 'ephemeralOwner', 'kind', 'parentCVersion', 'parentSeq', 'ttlMs', 'err'] as const;
/** Strings that are values often enough to be worth returning without building them. */
const VALUE_STRINGS = ['setData', 'create', 'delete', 'check', 'createSession', 'closeSession', 'error', 'noop', 'normal', 'container', 'ttl'];

/** Thrown inside the reader when the input leaves the fast path; never escapes readTxn. */
const NOT_HANDLED = new Error('not on the fast path');

/** Known strings by byte length, each with its bytes, so a match costs no allocation. */
class StringTable<K extends string> {
  /** Index = byte length. */
  private readonly byLength: Array<Array<{ bytes: Uint8Array; value: K }>> = [];
  constructor(values: readonly K[]) {
    const enc = new TextEncoder();
    for (const value of values) {
      const bytes = enc.encode(value);
      (this.byLength[bytes.length] ??= []).push({ bytes, value });
    }
  }
  /** The known string spelled by `src[at, at + length)`, or undefined. */
  find(src: Uint8Array, at: number, length: number): K | undefined {
    const list = length < this.byLength.length ? this.byLength[length] : undefined;
    if (list === undefined) return undefined;
    for (let k = 0; k < list.length; k++) {
      const { bytes, value } = list[k]!;
      let i = 0;
      while (i < length && bytes[i] === src[at + i]) i++;
      if (i === length) return value;
    }
    return undefined;
  }
}

const rootKeys = new StringTable(ROOT_KEYS);
const headerKeys = new StringTable(HEADER_KEYS);
const bodyKeys = new StringTable(BODY_KEYS);
const valueStrings = new StringTable(VALUE_STRINGS);
const utf8 = new TextDecoder();
/** 8 bytes to read 64-bit numbers through (the input may sit at any offset of any buffer). */
const scratch = new DataView(new ArrayBuffer(8));

const EMPTY = new Uint8Array(0);

/** The input and the read position: one txn is read at a time, synchronously. */
let src: Uint8Array = EMPTY;
let pos = 0;

/** Reads a txn in the common shape, or returns null (then use the generic decoder). */
export function readTxn(bytes: Uint8Array): RawTxn | null {
  src = bytes;
  pos = 0;
  try {
    const txn = root();
    return pos === bytes.length ? txn : null;
  } catch (err) {
    if (err === NOT_HANDLED) return null;
    throw err;
  } finally {
    src = EMPTY; // keep no reference to the caller's buffer
  }
}

function root(): RawTxn {
  let hdr: RawHeader | undefined;
  let body: RawBody | undefined;
  for (let n = mapLength(); n > 0; n--) {
    const key = readKey(rootKeys);
    if (key === 'hdr') hdr = header();
    else if (key === 'body') body = txnBody();
    else throw NOT_HANDLED;
  }
  if (!hdr || !body) throw NOT_HANDLED;
  return { hdr, body };
}

function header(): RawHeader {
  const h: RawHeader = { sessionId: undefined, cxid: undefined, zxid: undefined, time: undefined };
  // a switch with a plain property store per key: a store by computed key is several times slower
  for (let n = mapLength(); n > 0; n--) {
    switch (readKey(headerKeys)) {
      case 'sessionId':
        h.sessionId = scalar();
        break;
      case 'cxid':
        h.cxid = scalar();
        break;
      case 'zxid':
        h.zxid = scalar();
        break;
      case 'time':
        h.time = scalar();
        break;
      default:
        throw NOT_HANDLED;
    }
  }
  return h;
}

function txnBody(): RawBody {
  const b: RawBody = {
    type: undefined,
    path: undefined,
    data: undefined,
    version: undefined,
    timeoutMs: undefined,
    passwd: undefined,
    ephemeralOwner: undefined,
    kind: undefined,
    parentCVersion: undefined,
    parentSeq: undefined,
    ttlMs: undefined,
    err: undefined,
  };
  for (let n = mapLength(); n > 0; n--) bodyField(b, readKey(bodyKeys));
  return b;
}

function bodyField(b: RawBody, key: (typeof BODY_KEYS)[number] | undefined): void {
  switch (key) {
    case 'type':
      b.type = scalar();
      return;
    case 'path':
      b.path = scalar();
      return;
    case 'data':
      b.data = scalar();
      return;
    case 'version':
      b.version = scalar();
      return;
    case 'timeoutMs':
      b.timeoutMs = scalar();
      return;
    case 'passwd':
      b.passwd = scalar();
      return;
    case 'ephemeralOwner':
      b.ephemeralOwner = scalar();
      return;
    case 'kind':
      b.kind = scalar();
      return;
    case 'parentCVersion':
      b.parentCVersion = scalar();
      return;
    case 'parentSeq':
      b.parentSeq = scalar();
      return;
    case 'ttlMs':
      b.ttlMs = scalar();
      return;
    case 'err':
      b.err = scalar();
      return;
    default:
      throw NOT_HANDLED;
  }
}

/** Length of the map that starts here (fixmap, map 16, map 32). */
function mapLength(): number {
  const t = byte();
  if (t >= 0x80 && t <= 0x8f) return t - 0x80;
  if (t === 0xde) return uint(2);
  if (t === 0xdf) return uint(4);
  throw NOT_HANDLED;
}

/** The string key that starts here if `table` knows it, else undefined (moves past it). */
function readKey<K extends string>(table: StringTable<K>): K | undefined {
  const length = strLength(byte());
  return table.find(src, take(length), length);
}

/** A nil, boolean, integer, float 64, string or bin value (anything else leaves the fast path). */
function scalar(): unknown {
  const t = byte();
  if (t < 0x80) return t; // positive fixint
  if (t >= 0xe0) return t - 0x100; // negative fixint
  if (t >= 0xa0 && t <= 0xbf) return str(t - 0xa0);
  switch (t) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return bin(uint(1));
    case 0xc5:
      return bin(uint(2));
    case 0xc6:
      return bin(uint(4));
    case 0xcb:
      return load8().getFloat64(0);
    case 0xcc:
      return uint(1);
    case 0xcd:
      return uint(2);
    case 0xce:
      return uint(4);
    case 0xcf:
      return load8().getBigUint64(0); // 64-bit integers are bigints (the codec's int64AsType)
    case 0xd0:
      return (uint(1) << 24) >> 24;
    case 0xd1:
      return (uint(2) << 16) >> 16;
    case 0xd2:
      return uint(4) | 0;
    case 0xd3:
      return load8().getBigInt64(0);
    case 0xd9:
      return str(uint(1));
    case 0xda:
      return str(uint(2));
    case 0xdb:
      return str(uint(4));
    default:
      throw NOT_HANDLED; // maps and arrays inside the body, float 32, extensions
  }
}

/** Length of a string whose type byte is `t`. */
function strLength(t: number): number {
  if (t >= 0xa0 && t <= 0xbf) return t - 0xa0;
  if (t === 0xd9) return uint(1);
  if (t === 0xda) return uint(2);
  if (t === 0xdb) return uint(4);
  throw NOT_HANDLED;
}

/** An ASCII string (a non-ASCII one leaves the fast path: the generic decoder owns UTF-8 edge cases). */
function str(length: number): string {
  const at = take(length);
  const known = valueStrings.find(src, at, length);
  if (known !== undefined) return known;
  for (let i = at; i < at + length; i++) if (src[i]! >= 0x80) throw NOT_HANDLED;
  if (length > 16) return utf8.decode(src.subarray(at, at + length));
  let s = '';
  for (let i = at; i < at + length; i++) s += String.fromCharCode(src[i]!);
  return s;
}

/** A view of the bin value (the txn codec copies it); a plain Uint8Array is quicker to make than a Buffer's subarray. */
function bin(length: number): Uint8Array {
  const at = take(length);
  return new Uint8Array(src.buffer, src.byteOffset + at, length);
}

function byte(): number {
  return src[take(1)]!;
}

/** Big-endian unsigned integer of 1, 2 or 4 bytes. */
function uint(bytes: 1 | 2 | 4): number {
  const at = take(bytes);
  if (bytes === 1) return src[at]!;
  if (bytes === 2) return (src[at]! << 8) | src[at + 1]!;
  return ((src[at]! << 24) | (src[at + 1]! << 16) | (src[at + 2]! << 8) | src[at + 3]!) >>> 0;
}

/** The next 8 bytes, in `scratch`. */
function load8(): DataView {
  const at = take(8);
  for (let i = 0; i < 8; i++) scratch.setUint8(i, src[at + i]!);
  return scratch;
}

/** Moves past `length` bytes and returns where they start; leaves the fast path at the end of the input. */
function take(length: number): number {
  const at = pos;
  if (at + length > src.length) throw NOT_HANDLED;
  pos = at + length;
  return at;
}
