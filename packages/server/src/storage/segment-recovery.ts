/**
 * Startup recovery of the log directory: reads every segment in order, validates
 * every record, cuts a torn tail off the last segment and refuses (CorruptLogError)
 * anything else that does not check out. Zero fill after the last record (a segment's
 * preallocated space) is its clean end and stays in place.
 */
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zxid } from '@zabkit/protocol';
import {
  FILE_HEADER_BYTES,
  LOG_MAGIC,
  checkFileHeader,
  decodeRecord,
  findValidRecord,
  parseSegmentName,
  zeroFillStart,
} from './format.js';
import { ensureDir, fsyncDir } from './fs-util.js';
import { CorruptLogError, type LogRecord } from './types.js';

export interface SegmentInfo {
  path: string;
  firstZxid: Zxid;
  /** Last durable zxid in the segment (firstZxid - 1 while it holds none). */
  lastZxid: Zxid;
  /** Durable size in bytes (header included): the end of the last record, not the file's length. */
  size: number;
}

export interface RecoveredLog {
  segments: SegmentInfo[];
  /** Records after `after`, in zxid order; empty when they went to an `onRecord` callback instead. */
  records: LogRecord[];
  warnings: string[];
  lastZxid: Zxid;
}

/** Segment files in the directory, oldest first. */
export async function listSegments(dir: string): Promise<{ path: string; firstZxid: Zxid }[]> {
  const out: { path: string; firstZxid: Zxid }[] = [];
  for (const name of await readdir(dir)) {
    const z = parseSegmentName(name);
    if (z !== null) out.push({ path: join(dir, name), firstZxid: z });
  }
  return out.sort((a, b) => (a.firstZxid < b.firstZxid ? -1 : a.firstZxid > b.firstZxid ? 1 : 0));
}

/**
 * Receives the records recovery reads, one by one in zxid order. `bytes` is a view into the
 * segment's buffer: copy what must outlive the call.
 */
export type OnRecord = (zxid: Zxid, bytes: Uint8Array) => void;

export interface ScanResult {
  /** Records with zxid > `keepAfter` (none when they went to an `onRecord` callback). */
  records: LogRecord[];
  lastZxid: Zxid;
  /** End of the last valid record. */
  end: number;
  /** Where and why parsing stopped early, if it did. */
  stop: { offset: number; reason: string } | null;
}

/**
 * Parses the records of one segment buffer. A checksum-valid record whose zxid is not
 * above `prev` (or does not match the segment's first zxid) is corruption and throws.
 * Records with zxid > `keepAfter` are collected, or passed to `onRecord` as they are parsed.
 */
export function scanSegment(buf: Buffer, path: string, firstZxid: Zxid, prev: Zxid, keepAfter: Zxid, onRecord?: OnRecord): ScanResult {
  const records: LogRecord[] = [];
  let off = FILE_HEADER_BYTES;
  let last = prev;
  while (off < buf.length) {
    const r = decodeRecord(buf, off);
    if (typeof r === 'string') return { records, lastZxid: last, end: off, stop: { offset: off, reason: r } };
    if (r.zxid <= last) {
      throw new CorruptLogError(
        `corrupt txn log ${path} at offset ${off}: zxid 0x${r.zxid.toString(16)} does not follow 0x${last.toString(16)}`,
        path,
        off,
      );
    }
    if (off === FILE_HEADER_BYTES && r.zxid !== firstZxid) {
      throw new CorruptLogError(
        `corrupt txn log ${path} at offset ${off}: first zxid 0x${r.zxid.toString(16)} does not match the file name`,
        path,
        off,
      );
    }
    if (r.zxid > keepAfter) {
      if (onRecord) onRecord(r.zxid, r.bytes);
      else records.push({ zxid: r.zxid, bytes: r.bytes });
    }
    last = r.zxid;
    off = r.next;
  }
  return { records, lastZxid: last, end: off, stop: null };
}

/** True when the scan stopped where zero fill begins: the unused, preallocated rest of the file. */
function isPreallocatedEnd(buf: Buffer, scan: ScanResult): boolean {
  return scan.stop !== null && zeroFillStart(buf, scan.stop.offset) === scan.stop.offset;
}

/**
 * Validates the log directory and returns its segments. The records after `after` are collected in
 * `records`, or, with `onRecord`, streamed to it as each segment is parsed, so that only one segment
 * is in memory and no record outlives its callback. The records streamed are exactly those that would
 * have been collected, provided recoverLog resolves: when it throws (CorruptLogError), some records may
 * already have been handed over, and whatever was built from them must be discarded.
 */
export async function recoverLog(dir: string, after: Zxid, onRecord?: OnRecord): Promise<RecoveredLog> {
  await ensureDir(dir);
  const files = await listSegments(dir);
  const segments: SegmentInfo[] = [];
  const records: LogRecord[] = [];
  const warnings: string[] = [];
  let prev: Zxid = 0n;
  let dirChanged = false;

  for (let i = 0; i < files.length; i++) {
    const { path, firstZxid } = files[i]!;
    const isLast = i === files.length - 1;
    const buf = await readFile(path);
    const corrupt = (offset: number, reason: string): CorruptLogError =>
      new CorruptLogError(`corrupt txn log ${path} at offset ${offset}: ${reason}`, path, offset);

    const badHeader = checkFileHeader(buf, LOG_MAGIC, firstZxid);
    if (badHeader) {
      if (!isLast) throw corrupt(0, `${badHeader} (not the last segment)`);
      const valid = findValidRecord(buf, 0, prev);
      if (valid >= 0) throw corrupt(0, `${badHeader}, with valid records after it (at offset ${valid})`);
      await unlink(path);
      dirChanged = true;
      warnings.push(`txn log ${path}: torn segment header (${badHeader}); removed the ${buf.length}-byte file`);
      continue;
    }

    const scan = scanSegment(buf, path, firstZxid, prev, after, onRecord);
    const stop = isPreallocatedEnd(buf, scan) ? null : scan.stop;
    if (isLast && !stop && scan.end === FILE_HEADER_BYTES) {
      // Crashed between creating the segment and its first durable record.
      await unlink(path);
      dirChanged = true;
      warnings.push(`txn log ${path}: segment holds no record; removed it`);
      continue;
    }
    if (stop) {
      const { offset, reason } = stop;
      if (!isLast) throw corrupt(offset, `${reason} (not the last segment)`);
      const valid = findValidRecord(buf, offset + 1, scan.lastZxid);
      if (valid >= 0) throw corrupt(offset, `${reason}, with valid records after it (at offset ${valid})`);
      const cut = buf.length - offset;
      if (scan.end === FILE_HEADER_BYTES) {
        await unlink(path);
        dirChanged = true;
        warnings.push(`txn log ${path}: torn tail at offset ${offset} (${reason}); segment held no complete record, removed it`);
        continue;
      }
      const fh = await open(path, 'r+');
      try {
        await fh.truncate(offset);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      warnings.push(`txn log ${path}: torn tail at offset ${offset} (${reason}); truncated ${cut} bytes`);
    }
    for (const r of scan.records) records.push(r); // (a spread push overflows the stack at ~150k records)
    segments.push({ path, firstZxid, lastZxid: scan.lastZxid, size: scan.end });
    prev = scan.lastZxid;
  }
  // A segment without records must not become the one appended to (its name is its first zxid).
  while (segments.length > 0 && segments.at(-1)!.size <= FILE_HEADER_BYTES) {
    const empty = segments.pop()!;
    await unlink(empty.path);
    dirChanged = true;
    warnings.push(`txn log ${empty.path}: segment holds no record; removed it`);
  }
  if (dirChanged) await fsyncDir(dir);
  return { segments, records, warnings, lastZxid: prev };
}
