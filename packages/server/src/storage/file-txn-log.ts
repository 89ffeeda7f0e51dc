import { ftruncateSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zxid } from '@zabkit/protocol';
import { LOG_HEADER_BYTES, checkRestartAfter, MAX_RECORD_BYTES, decodeRecord, encodeRecord, logHeader, segmentName, showZxid } from './format.js';
import { fsyncDir, readPrefix, writeAllSync } from './fs-util.js';
import { GroupCommit } from './group-commit.js';
import type { SegmentSpan } from './history-check.js';
import { withContinuation } from './history-check.js';
import { readContinuation, removeContinuation, writeContinuation, CONTINUATION_FILE } from './log-continuation.js';
import { recoverLog, scanSegment, segmentSpans, type OnRecord, type SegmentInfo } from './segment-recovery.js';
import { CorruptLogError, type LogRecord, type LogRecovery, type TxnLog } from './types.js';

export interface FileTxnLogOptions {
  /** Directory holding the `log.<zxid>` segment files (created if missing). */
  dir: string;
  /**
   * A segment is rolled automatically once appending would grow it past this many
   * bytes (it always takes at least one record). Default 64 MiB.
   */
  maxSegmentBytes?: number;
  /**
   * The segment being appended to is kept at least this many bytes longer than its records (zero
   * fill, extended with ftruncate), so that most fdatasyncs need not commit a size change. Default
   * PREALLOCATE_BYTES; 0 disables it (the file then ends at its last record).
   */
  preallocateBytes?: number;
}

/**
 * Default preallocation step: one extension per ~25k small records, while recovery reads at most
 * this much zero fill per segment (the fill is a hole: it takes no disk space).
 */
export const PREALLOCATE_BYTES = 4 * 1024 * 1024;

/** Counters for operators and tests (group commit shows as fsyncs < flush calls). */
export interface TxnLogStats {
  /** `flush()` calls. */
  flushCalls: number;
  /** Write syscalls issued for records. */
  writes: number;
  /** fdatasync calls on segment files. */
  fsyncs: number;
  /** fsync calls on the log directory. */
  dirSyncs: number;
  /** ftruncate calls that extended the segment being appended to (preallocation). */
  preallocations: number;
}

/** Records appended but not yet written, all bound for one segment. */
interface PendingGroup {
  /** True when these records start a new segment file. */
  newSegment: boolean;
  firstZxid: Zxid;
  /** The zxid logged before the first record (the new segment's prevZxid). */
  prevZxid: Zxid;
  lastZxid: Zxid;
  bufs: Buffer[];
}

/** The durable transaction log: segment files, CRC32C records, group commit. See TxnLog. */
export class FileTxnLog implements TxnLog {
  private readonly dir: string;
  private readonly maxSegmentBytes: number;
  private readonly preallocateBytes: number;
  private readonly counters: TxnLogStats = { flushCalls: 0, writes: 0, fsyncs: 0, dirSyncs: 0, preallocations: 0 };
  private readonly committer = new GroupCommit(() => this.exclusive(() => this.writePending()));

  private segments: SegmentInfo[] = [];
  /** Handle of the last segment (the one appends go to), if any. */
  private fh: FileHandle | null = null;
  /** Length of `fh`'s file: its records, then zero fill up to here. */
  private allocated = 0;
  private pending: PendingGroup[] = [];
  /** Projected size of the segment the next record goes to (-1: none exists yet). */
  private tailBytes = -1;
  /** Header size of that segment (a version 1 segment reopened has a shorter one). */
  private tailHeaderBytes = LOG_HEADER_BYTES;
  private rollRequested = false;
  private last: Zxid = 0n;
  /** The durable `log.continues` marker (see log-continuation.ts), or null. */
  private continuesAfter: Zxid | null = null;
  private state: 'new' | 'open' | 'closed' = 'new';
  private failure: unknown = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(options: FileTxnLogOptions | string) {
    const o = typeof options === 'string' ? { dir: options } : options;
    this.dir = o.dir;
    this.maxSegmentBytes = o.maxSegmentBytes ?? 64 * 1024 * 1024;
    this.preallocateBytes = o.preallocateBytes ?? PREALLOCATE_BYTES;
    if (!Number.isSafeInteger(this.preallocateBytes) || this.preallocateBytes < 0) {
      throw new RangeError(`FileTxnLog: preallocateBytes must be a non-negative integer, got ${this.preallocateBytes}`);
    }
  }

  stats(): TxnLogStats {
    return { ...this.counters };
  }

  /**
   * TxnLog.open; with `onRecord` the records are not collected but streamed to it as they are read
   * (see recoverLog for what that means when open throws), and the result's `records` is empty.
   */
  async open(after: Zxid, onRecord?: OnRecord): Promise<LogRecovery> {
    if (this.state !== 'new') throw new Error('FileTxnLog.open: already opened');
    const rec = await recoverLog(this.dir, after, {
      onRecord,
      fill: { preallocateBytes: this.preallocateBytes },
    });
    this.segments = rec.segments;
    this.last = rec.lastZxid;
    this.continuesAfter = await readContinuation(this.dir);
    if (this.continuesAfter !== null && this.continuesAfter > this.last) {
      // (the next record starts the segment that continues after the jump)
      this.last = this.continuesAfter;
      this.rollRequested = true;
    }
    const tail = this.segments.at(-1);
    if (tail) await this.openTail(tail);
    this.tailBytes = tail ? tail.size : -1;
    this.tailHeaderBytes = tail ? tail.headerBytes : LOG_HEADER_BYTES;
    this.state = 'open';
    return { records: rec.records, warnings: rec.warnings };
  }

  append(records: readonly LogRecord[]): void {
    this.assertUsable();
    let prev = this.last;
    for (const r of records) {
      if (typeof r.zxid !== 'bigint' || r.zxid <= prev) {
        throw new RangeError(`txn log append: zxid ${showZxid(r.zxid)} is not above ${showZxid(prev)}`);
      }
      if (r.bytes.length > MAX_RECORD_BYTES) throw new RangeError(`txn log append: record of ${r.bytes.length} bytes is too large`);
      prev = r.zxid;
    }
    for (const r of records) {
      const buf = encodeRecord(r.zxid, r.bytes);
      const empty = this.tailBytes <= this.tailHeaderBytes;
      const full = !empty && this.tailBytes + buf.length > this.maxSegmentBytes;
      let group = this.pending.at(-1);
      // (an existing segment without records is never appended to: its name must be its first zxid)
      if (this.rollRequested || empty || full) {
        group = { newSegment: true, firstZxid: r.zxid, prevZxid: this.last, lastZxid: r.zxid, bufs: [] };
        this.pending.push(group);
        this.tailBytes = LOG_HEADER_BYTES;
        this.tailHeaderBytes = LOG_HEADER_BYTES;
        this.rollRequested = false;
      } else if (!group) {
        group = { newSegment: false, firstZxid: r.zxid, prevZxid: this.last, lastZxid: r.zxid, bufs: [] };
        this.pending.push(group);
      }
      group.bufs.push(buf);
      group.lastZxid = r.zxid;
      this.tailBytes += buf.length;
      this.last = r.zxid;
    }
  }

  flush(): Promise<void> {
    this.counters.flushCalls++;
    try {
      this.assertUsable();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.committer.flush();
  }

  lastZxid(): Zxid {
    return this.last;
  }

  async roll(): Promise<void> {
    this.assertUsable();
    this.rollRequested = true;
  }

  async restartAfter(zxid: Zxid): Promise<void> {
    this.assertUsable();
    checkRestartAfter(zxid, this.last);
    this.rollRequested = true;
    if (zxid === this.last) return;
    this.last = zxid;
    await this.exclusive(async () => {
      await writeContinuation(this.dir, zxid);
      this.continuesAfter = zxid;
    });
  }

  segmentSpans(): SegmentSpan[] {
    return withContinuation(segmentSpans(this.segments), this.continuesAfter, join(this.dir, CONTINUATION_FILE));
  }

  truncateAfter(zxid: Zxid): Promise<void> {
    return this.exclusive(async () => {
      this.assertUsable();
      await this.writePending();
      if (zxid >= this.last) return;
      try {
        await this.truncateDurable(zxid);
      } catch (err) {
        this.failure = err;
        throw err;
      }
    });
  }

  /** Deletes later segments (newest first), then cuts the one holding `zxid`'s successor. */
  private async truncateDurable(zxid: Zxid): Promise<void> {
    let deleted = false;
    const doomed = (seg: SegmentInfo): boolean => seg.firstZxid > zxid || seg.size <= seg.headerBytes;
    while (this.segments.length > 0 && doomed(this.segments.at(-1)!)) {
      const seg = this.segments.pop()!;
      await this.closeHandle();
      await unlink(seg.path);
      deleted = true;
    }
    if (deleted) await this.syncDir();
    const seg = this.segments.at(-1);
    if (seg && seg.lastZxid > zxid) {
      const buf = await readPrefix(seg.path, seg.size);
      let keep = seg.headerBytes;
      let lastKept = this.prevOf(seg);
      while (keep < buf.length) {
        const r = decodeRecord(buf, keep);
        if (typeof r === 'string') throw this.corrupt(seg.path, keep, r);
        if (r.zxid > zxid) break;
        lastKept = r.zxid;
        keep = r.next;
      }
      if (!this.fh) await this.openTail(seg);
      // (this also drops the zero fill: the next write extends the file again)
      await this.fh!.truncate(keep);
      this.allocated = keep;
      await this.fh!.datasync();
      this.counters.fsyncs++;
      seg.size = keep;
      seg.lastZxid = lastKept;
    }
    if (seg && !this.fh) await this.openTail(seg);
    this.last = seg ? seg.lastZxid : 0n;
    // a jump the TRUNC cut below is no longer part of this history
    if (this.continuesAfter !== null && this.continuesAfter > zxid) {
      await removeContinuation(this.dir);
      this.continuesAfter = null;
    }
    if (this.continuesAfter !== null && this.continuesAfter > this.last) {
      this.last = this.continuesAfter;
      this.rollRequested = true;
    }
    this.tailBytes = seg ? seg.size : -1;
    this.tailHeaderBytes = seg ? seg.headerBytes : LOG_HEADER_BYTES;
  }

  /**
   * TxnLog.readFrom; with `onRecord` the records are not collected but streamed to it a segment at a
   * time (only one segment's buffer is then in memory), and the result is empty. If it throws
   * (corruption), the records before the corrupt one have been handed over already.
   */
  readFrom(after: Zxid, onRecord?: OnRecord): Promise<LogRecord[]> {
    return this.exclusive(async () => {
      this.assertUsable();
      const out: LogRecord[] = [];
      for (const seg of this.segments) {
        if (seg.lastZxid <= after) continue;
        const buf = await readPrefix(seg.path, seg.size);
        const scan = scanSegment(buf, seg.path, seg, this.prevOf(seg), after, onRecord);
        if (scan.stop) throw this.corrupt(seg.path, scan.stop.offset, scan.stop.reason);
        for (const r of scan.records) out.push(r); // (a spread push overflows the stack at ~150k records)
      }
      return out;
    });
  }

  purgeThrough(zxid: Zxid): Promise<number> {
    return this.exclusive(async () => {
      this.assertUsable();
      let n = 0;
      // Never the last segment: it is the one being appended to.
      while (this.segments.length > 1 && this.segments[0]!.lastZxid <= zxid) {
        await unlink(this.segments[0]!.path);
        this.segments.shift();
        n++;
      }
      if (n > 0) await this.syncDir();
      return n;
    });
  }

  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    return this.exclusive(async () => {
      try {
        if (this.state === 'open' && this.failure === null) await this.writePending();
      } finally {
        this.state = 'closed';
        await this.closeHandle();
      }
    });
  }

  /** Writes and syncs every pending record: one write + one fdatasync per segment touched. */
  private async writePending(): Promise<void> {
    if (this.failure !== null) throw this.failure;
    const groups = this.pending;
    if (groups.length === 0) return;
    this.pending = [];
    try {
      for (const g of groups) {
        if (g.newSegment) {
          await this.closeHandle();
          const path = join(this.dir, segmentName(g.firstZxid));
          const buf = Buffer.concat([logHeader(g.firstZxid, g.prevZxid), ...g.bufs]);
          this.fh = await open(path, 'wx');
          this.allocated = 0;
          await this.writeAndSync(buf, 0);
          await this.syncDir();
          this.segments.push({
            path,
            firstZxid: g.firstZxid,
            prevZxid: g.prevZxid,
            headerBytes: LOG_HEADER_BYTES,
            lastZxid: g.lastZxid,
            size: buf.length,
          });
        } else {
          const seg = this.segments.at(-1)!;
          const buf = g.bufs.length === 1 ? g.bufs[0]! : Buffer.concat(g.bufs);
          await this.writeAndSync(buf, seg.size);
          seg.size += buf.length;
          seg.lastZxid = g.lastZxid;
        }
      }
    } catch (err) {
      // The file now ends in an unknown state; only a reopen (recovery) can tell.
      this.failure = err;
      throw err;
    }
  }

  private async writeAndSync(buf: Buffer, position: number): Promise<void> {
    this.preallocate(position + buf.length);
    this.counters.writes++;
    writeAllSync(this.fh!, buf, position);
    await this.fh!.datasync();
    this.counters.fsyncs++;
  }

  /**
   * Extends the tail file (sparse, with ftruncate) when a write would end past its length, so that
   * the next ~PREALLOCATE_BYTES of writes land inside it: then fdatasync has data blocks to flush
   * but no size change to commit to the journal. The extension itself becomes durable with the
   * fdatasync that follows (it covers size changes); a crash before that leaves either the old
   * length or zero fill, and recovery reads both as the end of the segment. No margin is needed:
   * the whole write is known here, so extending only when it would not fit costs the same.
   */
  private preallocate(end: number): void {
    if (this.preallocateBytes === 0 || end <= this.allocated) return;
    // Not past maxSegmentBytes: the segment rolls there (unless one record alone is larger).
    const length = Math.min(end + this.preallocateBytes, Math.max(end, this.maxSegmentBytes));
    ftruncateSync(this.fh!.fd, length);
    this.allocated = length;
    this.counters.preallocations++;
  }

  /** Opens an existing segment as the one appended to; its file may be longer than its records. */
  private async openTail(seg: SegmentInfo): Promise<void> {
    this.fh = await open(seg.path, 'r+');
    this.allocated = (await this.fh.stat()).size;
  }

  private async syncDir(): Promise<void> {
    await fsyncDir(this.dir);
    this.counters.dirSyncs++;
  }

  private async closeHandle(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close();
  }

  /** Zxid of the last record before this segment. */
  private prevOf(seg: SegmentInfo): Zxid {
    const i = this.segments.indexOf(seg);
    return i > 0 ? this.segments[i - 1]!.lastZxid : 0n;
  }

  private corrupt(path: string, offset: number, reason: string): CorruptLogError {
    return new CorruptLogError(`corrupt txn log ${path} at offset ${offset}: ${reason}`, path, offset);
  }

  private assertUsable(): void {
    if (this.state === 'new') throw new Error('FileTxnLog: open() first');
    if (this.state === 'closed') throw new Error('FileTxnLog: closed');
    if (this.failure !== null) throw new Error('FileTxnLog: a previous write failed; reopen to recover', { cause: this.failure });
  }

  /** Runs `fn` after every earlier exclusive operation (flush, truncate, read, purge). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
