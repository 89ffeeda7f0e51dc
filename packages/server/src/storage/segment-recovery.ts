/**
 * Startup recovery of the log directory: reads every segment in order, validates
 * every record, cuts a torn tail off the last segment and refuses (CorruptLogError)
 * anything else that does not check out. Zero fill after the last record (a segment's
 * preallocated space) is its clean end and stays in place, unless it is not what
 * preallocation leaves (see tail-report.ts): then it is reported and cut like a torn tail.
 * Whether the segments form one history with the snapshot is history-check.ts's question,
 * asked with `segmentSpans`.
 */
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zxid } from '@zabkit/protocol';
import { decodeRecord, findValidRecord, parseLogHeader, parseSegmentName, zeroFillStart } from './format.js';
import { ensureDir, fsyncDir } from './fs-util.js';
import type { SegmentSpan } from './history-check.js';
import { describeDroppedTail, isPreallocatedFill, type FillLayout } from './tail-report.js';
import { CorruptLogError, type LogRecord } from './types.js';

export interface SegmentInfo {
  path: string;
  firstZxid: Zxid;
  /** The zxid logged just before the segment's first record; null in a version 1 segment (not recorded). */
  prevZxid: Zxid | null;
  /** Header size: where the first record starts. */
  headerBytes: number;
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
export function scanSegment(
  buf: Buffer,
  path: string,
  seg: { firstZxid: Zxid; headerBytes: number },
  prev: Zxid,
  keepAfter: Zxid,
  onRecord?: OnRecord,
): ScanResult {
  const { firstZxid, headerBytes } = seg;
  const records: LogRecord[] = [];
  let off = headerBytes;
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
    if (off === headerBytes && r.zxid !== firstZxid) {
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
function stopsAtZeroFill(buf: Buffer, scan: ScanResult): boolean {
  return scan.stop !== null && zeroFillStart(buf, scan.stop.offset) === scan.stop.offset;
}

/**
 * The spans history-check.ts checks. A version 1 segment recorded no prevZxid: it is taken to follow
 * the segment before it (the first one: the beginning), which is accepted but not proven (recoverLog
 * warns about it).
 */
export function segmentSpans(segments: readonly SegmentInfo[]): SegmentSpan[] {
  return segments.map((s, i) => ({
    name: s.path,
    prevZxid: s.prevZxid ?? (i > 0 ? segments[i - 1]!.lastZxid : 0n),
    firstZxid: s.firstZxid,
    lastZxid: s.lastZxid,
  }));
}

export interface RecoverLogOptions {
  /** Streams the records instead of collecting them (see recoverLog). */
  onRecord?: OnRecord;
  /** The writer's preallocation settings: what zero fill a healthy last segment may end in. */
  fill?: FillLayout;
}

/**
 * Validates the log directory and returns its segments. The records after `after` are collected in
 * `records`, or, with `onRecord`, streamed to it as each segment is parsed, so that only one segment
 * is in memory and no record outlives its callback. The records streamed are exactly those that would
 * have been collected, provided recoverLog resolves: when it throws (CorruptLogError), some records may
 * already have been handed over, and whatever was built from them must be discarded.
 */
export async function recoverLog(dir: string, after: Zxid, options: RecoverLogOptions = {}): Promise<RecoveredLog> {
  // (a caller that does not say how the log was written gets no zeroed-tail verdict)
  const { onRecord, fill = { preallocateBytes: Infinity } } = options;
  await ensureDir(dir);
  const files = await listSegments(dir);
  const segments: SegmentInfo[] = [];
  const records: LogRecord[] = [];
  const warnings: string[] = [];
  const v1: string[] = [];
  let prev: Zxid = 0n;
  let dirChanged = false;
  const cutTo = async (path: string, offset: number): Promise<void> => {
    const fh = await open(path, 'r+');
    try {
      await fh.truncate(offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  };

  for (let i = 0; i < files.length; i++) {
    const { path, firstZxid } = files[i]!;
    const isLast = i === files.length - 1;
    const buf = await readFile(path);
    const corrupt = (offset: number, reason: string): CorruptLogError =>
      new CorruptLogError(`corrupt txn log ${path} at offset ${offset}: ${reason}`, path, offset);

    const header = parseLogHeader(buf, firstZxid);
    if (typeof header === 'string') {
      if (!isLast) throw corrupt(0, `${header} (not the last segment)`);
      const valid = findValidRecord(buf, 0, prev);
      if (valid >= 0) throw corrupt(0, `${header}, with valid records after it (at offset ${valid})`);
      await unlink(path);
      dirChanged = true;
      warnings.push(`txn log ${path}: torn segment header (${header}); removed the ${buf.length}-byte file`);
      continue;
    }
    const { headerBytes, prevZxid } = header;

    const scan = scanSegment(buf, path, { firstZxid, headerBytes }, prev, after, onRecord);
    const atFill = stopsAtZeroFill(buf, scan);
    const stop = atFill ? null : scan.stop;
    if (isLast && !stop && scan.end === headerBytes) {
      // Crashed between creating the segment and its first durable record (or its records were zeroed).
      await unlink(path);
      dirChanged = true;
      const fillText = buf.length > headerBytes ? ` (${buf.length - headerBytes} byte(s) of zero fill after its header)` : '';
      warnings.push(`txn log ${path}: segment holds no record${fillText}; removed it`);
      continue;
    }
    if (stop) {
      const { offset, reason } = stop;
      if (!isLast) throw corrupt(offset, `${reason} (not the last segment)`);
      const valid = findValidRecord(buf, offset + 1, scan.lastZxid);
      if (valid >= 0) throw corrupt(offset, `${reason}, with valid records after it (at offset ${valid})`);
      const dropped = describeDroppedTail(buf, offset);
      if (scan.end === headerBytes) {
        await unlink(path);
        dirChanged = true;
        warnings.push(`txn log ${path}: torn tail at offset ${offset} (${reason}); the segment held no complete record (${dropped}): removed it`);
        continue;
      }
      await cutTo(path, offset);
      warnings.push(`txn log ${path}: torn tail at offset ${offset} after zxid 0x${scan.lastZxid.toString(16)} (${reason}); truncated ${dropped}`);
    } else if (isLast && atFill && !isPreallocatedFill(buf, scan.end, fill)) {
      // A zeroed tail: the same bytes as preallocation's fill, but not the layout it leaves.
      const bytes = buf.length - scan.end;
      await cutTo(path, scan.end);
      warnings.push(
        `txn log ${path}: zeroed tail at offset ${scan.end} after zxid 0x${scan.lastZxid.toString(16)}: ${bytes} byte(s) of zero fill ` +
          `(more than the ${fill.preallocateBytes} bytes preallocation leaves): records zeroed there, if any, are lost; truncated it`,
      );
    }
    if (prevZxid === null) v1.push(path);
    for (const r of scan.records) records.push(r); // (a spread push overflows the stack at ~150k records)
    segments.push({ path, firstZxid, prevZxid, headerBytes, lastZxid: scan.lastZxid, size: scan.end });
    prev = scan.lastZxid;
  }
  // A segment without records must not become the one appended to (its name is its first zxid).
  while (segments.length > 0 && segments.at(-1)!.size <= segments.at(-1)!.headerBytes) {
    const empty = segments.pop()!;
    await unlink(empty.path);
    dirChanged = true;
    warnings.push(`txn log ${empty.path}: segment holds no record; removed it`);
  }
  if (v1.length > 0) {
    warnings.push(
      `txn log: ${v1.length} segment(s) in format version 1 (${v1.join(', ')}) record no prevZxid: ` +
        'that no segment is missing before them cannot be proven, they are taken to follow the segment before them',
    );
  }
  if (dirChanged) await fsyncDir(dir);
  return { segments, records, warnings, lastZxid: prev };
}
