/**
 * What recovery says about the end of the last log segment: how much a torn tail it cuts held, and
 * whether zero bytes after the last record are preallocated space or a zeroed tail.
 *
 * What can and cannot be told apart. Preallocation (FileTxnLog.preallocate) extends the file with
 * ftruncate to `end of a write + preallocateBytes` (capped at maxSegmentBytes) when a write would
 * pass its length, so in a healthy segment the zero fill after the last record is at most
 * preallocateBytes long (none with preallocation off). Zeroed records (a filesystem that kept a size
 * change but not the data under it, a disk that lost them) that start at a record boundary and run
 * to the end of the file are, byte for byte, that fill: when they and the fill after them are
 * within preallocateBytes they cannot be told from it, and only a later segment's prevZxid
 * (history-check.ts) or the leader's history can reveal them. A longer fill cannot be
 * preallocation's: records ending before the last extension point are gone, or the extension was
 * for a write that never reached the disk. That is reported, with its size, and cut like a torn
 * tail. (The finer layout, "file length - preallocateBytes is a record boundary", would need the
 * maxSegmentBytes the file was written with, and tells nothing more about zeroed records.) The
 * check uses this run's preallocation: a smaller preAllocSize than before makes an old fill look
 * foreign once, which costs a warning and the truncation of zeros, nothing else.
 */
import { RECORD_HEADER_BYTES, MAX_RECORD_BYTES, zeroFillStart } from './format.js';

/** How the writer preallocates (FileTxnLogOptions). */
export interface FillLayout {
  preallocateBytes: number;
}

/**
 * True when the zero fill from `recordsEnd` to the end of `buf` (a whole segment file) is no longer
 * than preallocation leaves; false when it is a zeroed tail (see above).
 */
export function isPreallocatedFill(buf: Buffer, recordsEnd: number, fill: FillLayout): boolean {
  return buf.length - recordsEnd <= fill.preallocateBytes;
}

/**
 * Describes the bytes from `offset` to the end of `buf` that recovery cuts off: how many, how many
 * records they held if their length fields can be followed, and how much zero fill ends them.
 */
export function describeDroppedTail(buf: Buffer, offset: number): string {
  const total = buf.length - offset;
  const dataEnd = zeroFillStart(buf, offset);
  const fill = buf.length - dataEnd;
  const fillText = fill > 0 ? `, then ${fill} byte(s) of zero fill` : '';
  const count = countRecordsByLength(buf, offset, dataEnd);
  const what =
    count === null
      ? `${dataEnd - offset} byte(s) of damaged data (how many records they held cannot be told)`
      : `${count} damaged record(s) by their length fields (${dataEnd - offset} byte(s))`;
  return `${total} byte(s): ${what}${fillText}`;
}

/** Records in [from, end) by following length fields, or null when one is implausible. */
function countRecordsByLength(buf: Buffer, from: number, end: number): number | null {
  let n = 0;
  for (let off = from; off < end; n++) {
    if (end - off < RECORD_HEADER_BYTES) return n + 1; // a partial header
    const len = buf.readUInt32BE(off);
    if (len > MAX_RECORD_BYTES) return null;
    off += RECORD_HEADER_BYTES + len;
  }
  return n;
}
