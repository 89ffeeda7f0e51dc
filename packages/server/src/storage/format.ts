/**
 * On-disk formats of the transaction log and snapshots (all integers big-endian).
 *
 * Log segment `log.<16 hex digits of its first zxid>`:
 *   header  "ZKLG" | u32 version 2 | u64 first zxid | u64 prev zxid    (24 bytes)
 *           prev zxid: the zxid logged just before this segment's first record (0 for the first
 *           segment of a history; after a SNAP install, the snapshot's zxid). Zxids are not dense
 *           across epochs, so only this link proves that no segment is missing (history-check.ts).
 *   (version 1, written before prevZxid existed: "ZKLG" | u32 1 | u64 first zxid, 16 bytes)
 *   record  u32 payload length | u32 crc32c(zxid bytes + payload) | u64 zxid | payload
 *   fill    zero bytes up to the end of the file (space preallocated for later records)
 * A record's zxid is never 0, so zero fill never holds a record: an all-zero rest of the file after
 * the last record is the segment's clean end, not damage.
 *
 * Snapshot `snapshot.<16 hex digits of its zxid>`:
 *   header  "ZKSN" | u32 version | u64 zxid                            (16 bytes)
 *   chunk   u32 length | u32 crc32c(chunk) | chunk                     (length < 0xffffffff)
 *   trailer u32 0xffffffff | u32 chunk count | "ZKSE"                  (12 bytes)
 */
import { crc32c, type Zxid } from '@zabkit/protocol';

export const LOG_MAGIC = Buffer.from('ZKLG', 'latin1');
export const SNAP_MAGIC = Buffer.from('ZKSN', 'latin1');
export const SNAP_END_MAGIC = Buffer.from('ZKSE', 'latin1');
/** Snapshot format version (and the log's before prevZxid). */
export const FORMAT_VERSION = 1;
/** Log segment format version written now: the header carries prevZxid. */
export const LOG_FORMAT_VERSION = 2;

export const FILE_HEADER_BYTES = 16;
/** Header size of a version 2 log segment (FILE_HEADER_BYTES for version 1). */
export const LOG_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 16;
export const SNAP_TRAILER_BYTES = 12;
export const SNAP_TRAILER_MARK = 0xffff_ffff;
/** Largest payload a log record may carry. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

const LOG_NAME = /^log\.([0-9a-f]{16})$/;
const SNAP_NAME = /^snapshot\.([0-9a-f]{16})$/;

export function zxidHex(zxid: Zxid): string {
  return zxid.toString(16).padStart(16, '0');
}

/** `0x…` for a bigint; anything else (a caller's bug) as given. */
export function showZxid(zxid: unknown): string {
  return typeof zxid === 'bigint' ? `0x${zxid.toString(16)}` : `${String(zxid)} (${typeof zxid}, not a bigint zxid)`;
}

export function segmentName(firstZxid: Zxid): string {
  return `log.${zxidHex(firstZxid)}`;
}

export function snapshotName(zxid: Zxid): string {
  return `snapshot.${zxidHex(zxid)}`;
}

/** First zxid encoded in a segment file name, or null when it is not a segment. */
export function parseSegmentName(name: string): Zxid | null {
  const m = LOG_NAME.exec(name);
  return m ? BigInt(`0x${m[1]!}`) : null;
}

export function parseSnapshotName(name: string): Zxid | null {
  const m = SNAP_NAME.exec(name);
  return m ? BigInt(`0x${m[1]!}`) : null;
}

export function fileHeader(magic: Buffer, zxid: Zxid): Buffer {
  const b = Buffer.alloc(FILE_HEADER_BYTES);
  magic.copy(b, 0);
  b.writeUInt32BE(FORMAT_VERSION, 4);
  b.writeBigUInt64BE(zxid, 8);
  return b;
}

/** Why a file header is unusable, or null when it is the expected one. */
export function checkFileHeader(buf: Uint8Array, magic: Buffer, zxid: Zxid): string | null {
  if (buf.length < FILE_HEADER_BYTES) return `header is ${buf.length} bytes, expected ${FILE_HEADER_BYTES}`;
  const b = Buffer.from(buf.buffer, buf.byteOffset, FILE_HEADER_BYTES);
  if (!b.subarray(0, 4).equals(magic)) return `bad magic (expected ${magic.toString('latin1')})`;
  const version = b.readUInt32BE(4);
  if (version !== FORMAT_VERSION) return `unsupported format version ${version}`;
  const hz = b.readBigUInt64BE(8);
  if (hz !== zxid) return `header zxid 0x${hz.toString(16)} does not match file name`;
  return null;
}

export function logHeader(firstZxid: Zxid, prevZxid: Zxid): Buffer {
  const b = Buffer.alloc(LOG_HEADER_BYTES);
  LOG_MAGIC.copy(b, 0);
  b.writeUInt32BE(LOG_FORMAT_VERSION, 4);
  b.writeBigUInt64BE(firstZxid, 8);
  b.writeBigUInt64BE(prevZxid, 16);
  return b;
}

/** A log segment header: its size, and its prevZxid (null in a version 1 segment, which has none). */
export interface LogHeader {
  headerBytes: number;
  prevZxid: Zxid | null;
}

/** Parses a log segment header of either version, or returns why it is unusable. */
export function parseLogHeader(buf: Uint8Array, firstZxid: Zxid): LogHeader | string {
  if (buf.length < FILE_HEADER_BYTES) return `header is ${buf.length} bytes, expected ${LOG_HEADER_BYTES}`;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (!b.subarray(0, 4).equals(LOG_MAGIC)) return `bad magic (expected ${LOG_MAGIC.toString('latin1')})`;
  const version = b.readUInt32BE(4);
  if (version !== 1 && version !== LOG_FORMAT_VERSION) return `unsupported format version ${version}`;
  const hz = b.readBigUInt64BE(8);
  if (hz !== firstZxid) return `header zxid 0x${hz.toString(16)} does not match file name`;
  if (version === 1) return { headerBytes: FILE_HEADER_BYTES, prevZxid: null };
  if (buf.length < LOG_HEADER_BYTES) return `header is ${buf.length} bytes, expected ${LOG_HEADER_BYTES}`;
  const prev = b.readBigUInt64BE(16);
  if (prev >= firstZxid) return `header prev zxid 0x${prev.toString(16)} is not below the first zxid 0x${firstZxid.toString(16)}`;
  return { headerBytes: LOG_HEADER_BYTES, prevZxid: prev };
}

function recordCrc(zxidBytes: Uint8Array, payload: Uint8Array): number {
  return crc32c(payload, crc32c(zxidBytes));
}

export function encodeRecord(zxid: Zxid, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.writeBigUInt64BE(zxid, 8);
  b.writeUInt32BE(recordCrc(b.subarray(8, 16), payload), 4);
  b.set(payload, RECORD_HEADER_BYTES);
  return b;
}

export type DecodedRecord = { zxid: Zxid; bytes: Uint8Array; next: number };

/** Decodes the record at `off`, or returns why it is not a complete, valid record. */
export function decodeRecord(buf: Buffer, off: number): DecodedRecord | string {
  const left = buf.length - off;
  if (left < RECORD_HEADER_BYTES) return `partial record header (${left} bytes)`;
  const len = buf.readUInt32BE(off);
  if (len > MAX_RECORD_BYTES) return `implausible record length ${len}`;
  if (len > left - RECORD_HEADER_BYTES) return `record length ${len} runs past end of file`;
  const end = off + RECORD_HEADER_BYTES + len;
  // the zxid bytes and the payload are adjacent: one pass over [off + 8, end) is recordCrc's value
  if (crc32c(buf, 0, off + 8, end) !== buf.readUInt32BE(off + 4)) return 'crc32c mismatch';
  return { zxid: buf.readBigUInt64BE(off + 8), bytes: buf.subarray(off + RECORD_HEADER_BYTES, end), next: end };
}

/**
 * A record found past a bad one must belong to an epoch at most this far above the last
 * good record's epoch to count as real data (cheap filter that keeps garbage scans linear).
 */
export const MAX_EPOCH_GAP = 0x1_0000;

/**
 * Offset of the first checksum-valid record with zxid > `after` (and an epoch within
 * MAX_EPOCH_GAP of it) starting anywhere at or beyond `from`, or -1. Tells a torn tail
 * (nothing valid follows) from mid-log corruption.
 */
export function findValidRecord(buf: Buffer, from: number, after: Zxid): number {
  const afterEpoch = Number(after >> 32n);
  const afterCounter = Number(after & 0xffff_ffffn);
  // A record's zxid bytes [p + 8, p + 16) are not all zero: no record starts in the zero fill.
  const nonZeroEnd = zeroFillStart(buf, from);
  for (let p = from; p + RECORD_HEADER_BYTES <= buf.length && p + 8 < nonZeroEnd; p++) {
    const epoch = buf.readUInt32BE(p + 8);
    if (epoch < afterEpoch || epoch - afterEpoch > MAX_EPOCH_GAP) continue;
    if (epoch === afterEpoch && buf.readUInt32BE(p + 12) <= afterCounter) continue; // zero fill never passes
    if (buf.readUInt32BE(p) > buf.length - p - RECORD_HEADER_BYTES) continue;
    if (typeof decodeRecord(buf, p) !== 'string') return p;
  }
  return -1;
}

const ZERO_CHUNK = Buffer.alloc(64 * 1024);

/**
 * Where the run of zero bytes that ends `buf` begins, at or after `from` (buf.length when its last
 * byte is not zero). Compares 64 KiB chunks against zeros (memcmp), so megabytes of fill cost well
 * under a millisecond.
 */
export function zeroFillStart(buf: Buffer, from = 0): number {
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, end - ZERO_CHUNK.length);
    if (!buf.subarray(start, end).equals(ZERO_CHUNK.subarray(0, end - start))) break;
    end = start;
  }
  while (end > from && buf[end - 1] === 0) end--;
  return end;
}

export function encodeChunkHeader(chunk: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(chunk.length, 0);
  b.writeUInt32BE(crc32c(chunk), 4);
  return b;
}

export function snapshotTrailer(chunkCount: number): Buffer {
  const b = Buffer.allocUnsafe(SNAP_TRAILER_BYTES);
  b.writeUInt32BE(SNAP_TRAILER_MARK, 0);
  b.writeUInt32BE(chunkCount, 4);
  SNAP_END_MAGIC.copy(b, 8);
  return b;
}

/** Parses a whole snapshot file; returns its chunks or why it is invalid. */
export function decodeSnapshot(buf: Buffer, zxid: Zxid, keepChunks: boolean): Uint8Array[] | string {
  const bad = checkFileHeader(buf, SNAP_MAGIC, zxid);
  if (bad) return bad;
  const chunks: Uint8Array[] = [];
  let count = 0;
  let off = FILE_HEADER_BYTES;
  for (;;) {
    if (buf.length - off < 8) return `truncated at offset ${off} (no trailer)`;
    const len = buf.readUInt32BE(off);
    if (len === SNAP_TRAILER_MARK) {
      if (buf.length - off !== SNAP_TRAILER_BYTES) return `bad trailer at offset ${off}`;
      if (!buf.subarray(off + 8).equals(SNAP_END_MAGIC)) return `bad trailer magic at offset ${off}`;
      const n = buf.readUInt32BE(off + 4);
      if (n !== count) return `trailer says ${n} chunks, found ${count}`;
      return chunks;
    }
    if (len > buf.length - off - 8) return `chunk at offset ${off} runs past end of file`;
    const chunk = buf.subarray(off + 8, off + 8 + len);
    if (crc32c(chunk) !== buf.readUInt32BE(off + 4)) return `crc32c mismatch in chunk at offset ${off}`;
    if (keepChunks) chunks.push(chunk);
    count++;
    off += 8 + len;
  }
}

/** TxnLog.restartAfter's precondition: the log may jump forward past its end, never back into it. */
export function checkRestartAfter(zxid: unknown, last: Zxid): void {
  if (typeof zxid !== 'bigint' || zxid < last) {
    throw new RangeError(`txn log restartAfter: zxid ${showZxid(zxid)} is below the last logged ${showZxid(last)}`);
  }
}
