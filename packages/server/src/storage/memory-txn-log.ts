import type { Zxid } from '@zabkit/protocol';
import { withContinuation } from './history-check.js';
import { GroupCommit } from './group-commit.js';
import { checkRestartAfter, showZxid } from './format.js';
import type { SegmentSpan } from './history-check.js';
import type { LogRecord, LogRecovery, TxnLog } from './types.js';

export interface MemoryTxnLogOptions {
  /** Roll automatically once a segment holds this many records. Default: never. */
  maxSegmentRecords?: number;
  /**
   * Awaited inside every sync, after the batch was taken and before it becomes durable:
   * a simulator holds it to model disk latency, or crashes the node while it waits.
   */
  beforeSync?: () => Promise<void>;
}

export interface CrashOptions {
  /**
   * How many of the oldest not-yet-durable records survive anyway (a real disk may
   * have written part of an unsynced batch). Default 0: every unflushed append is lost.
   */
  keepUnflushed?: number;
}

interface Entry {
  record: LogRecord;
  /** This record starts a new segment. */
  roll: boolean;
  /** The zxid logged before it (the new segment's prevZxid when it starts one). */
  prev: Zxid;
}

/** A durable segment: its prevZxid, as in the file log's header, and its records. */
interface Segment {
  prev: Zxid;
  records: LogRecord[];
}

/** A TxnLog in memory with the file log's semantics, plus crash simulation. */
export class MemoryTxnLog implements TxnLog {
  private readonly committer = new GroupCommit(() => this.exclusive(() => this.sync()));
  /** Durable records, segment by segment. */
  private segments: Segment[] = [];
  /** Taken by the sync in progress, not yet durable. */
  private inFlight: Entry[] = [];
  private pending: Entry[] = [];
  private rollRequested = false;
  private tailCount = -1;
  private last: Zxid = 0n;
  /** The durable continuation marker, as FileTxnLog's `log.continues` (see log-continuation.ts). */
  private continuesAfter: Zxid | null = null;
  private crashed = false;
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly counters = { flushCalls: 0, syncs: 0 };

  constructor(private readonly options: MemoryTxnLogOptions = {}) {}

  /**
   * A log holding these durable segments, each continuing where the one before it ended (pass
   * `{ prev, records }` for a segment that follows another zxid, e.g. a missing segment or a SNAP).
   */
  static fromSegments(segments: (LogRecord[] | Segment)[], options: MemoryTxnLogOptions = {}): MemoryTxnLog {
    const log = new MemoryTxnLog(options);
    let last: Zxid = 0n;
    for (const s of segments) {
      const seg = Array.isArray(s) ? { prev: last, records: [...s] } : { prev: s.prev, records: [...s.records] };
      if (seg.records.length === 0) continue;
      log.segments.push(seg);
      last = seg.records.at(-1)!.zxid;
    }
    const tail = log.segments.at(-1);
    log.last = last;
    log.tailCount = tail ? tail.records.length : -1;
    return log;
  }

  stats(): { flushCalls: number; syncs: number; segments: number } {
    return { ...this.counters, segments: this.segments.length };
  }

  /** Highest durable zxid. */
  durableZxid(): Zxid {
    return this.segments.at(-1)?.records.at(-1)?.zxid ?? 0n;
  }

  /**
   * The process died: returns a fresh log holding only what was durable (plus, with
   * `keepUnflushed`, a prefix of the unsynced records). This instance stops working and
   * its in-progress flushes reject.
   */
  crash(options: CrashOptions = {}): MemoryTxnLog {
    this.crashed = true;
    const segments = this.segments.map((s) => ({ prev: s.prev, records: [...s.records] }));
    const survivors = [...this.inFlight, ...this.pending].slice(0, Math.max(0, options.keepUnflushed ?? 0));
    for (const e of survivors) addEntry(segments, e);
    const after = MemoryTxnLog.fromSegments(segments, this.options);
    after.continuesAfter = this.continuesAfter;
    if (this.continuesAfter !== null && this.continuesAfter > after.last) {
      after.last = this.continuesAfter;
      after.rollRequested = true;
    }
    return after;
  }

  async open(after: Zxid): Promise<LogRecovery> {
    this.assertUsable();
    return { records: this.durableAfter(after), warnings: [] };
  }

  append(records: readonly LogRecord[]): void {
    this.assertUsable();
    let prev = this.last;
    for (const r of records) {
      if (typeof r.zxid !== 'bigint' || r.zxid <= prev) {
        throw new RangeError(`txn log append: zxid ${showZxid(r.zxid)} is not above ${showZxid(prev)}`);
      }
      prev = r.zxid;
    }
    const max = this.options.maxSegmentRecords ?? Infinity;
    for (const r of records) {
      const roll = this.rollRequested || this.tailCount < 0 || this.tailCount >= max;
      if (roll) this.tailCount = 0;
      this.rollRequested = false;
      this.tailCount++;
      this.pending.push({ record: { zxid: r.zxid, bytes: r.bytes.slice() }, roll, prev: this.last });
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
    this.continuesAfter = zxid;
  }

  segmentSpans(): SegmentSpan[] {
    const spans = this.segments.map((s, i) => ({
      name: `segment ${i} (0x${s.records[0]!.zxid.toString(16)})`,
      prevZxid: s.prev,
      firstZxid: s.records[0]!.zxid,
      lastZxid: s.records.at(-1)!.zxid,
    }));
    return withContinuation(spans, this.continuesAfter, 'log.continues');
  }

  truncateAfter(zxid: Zxid): Promise<void> {
    return this.exclusive(async () => {
      await this.sync();
      if (zxid >= this.last) return;
      while (this.segments.length > 0 && this.segments.at(-1)!.records[0]!.zxid > zxid) this.segments.pop();
      const tail = this.segments.at(-1);
      if (tail) {
        while (tail.records.at(-1)!.zxid > zxid) tail.records.pop();
      }
      this.last = tail?.records.at(-1)?.zxid ?? 0n;
      if (this.continuesAfter !== null && this.continuesAfter > zxid) this.continuesAfter = null;
      if (this.continuesAfter !== null && this.continuesAfter > this.last) {
        this.last = this.continuesAfter;
        this.rollRequested = true;
      }
      this.tailCount = tail ? tail.records.length : -1;
    });
  }

  readFrom(after: Zxid): Promise<LogRecord[]> {
    return this.exclusive(async () => {
      this.assertUsable();
      return this.durableAfter(after);
    });
  }

  purgeThrough(zxid: Zxid): Promise<number> {
    return this.exclusive(async () => {
      this.assertUsable();
      let n = 0;
      while (this.segments.length > 1 && this.segments[0]!.records.at(-1)!.zxid <= zxid) {
        this.segments.shift();
        n++;
      }
      return n;
    });
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.closed && !this.crashed) await this.sync();
      this.closed = true;
    });
  }

  private durableAfter(after: Zxid): LogRecord[] {
    return this.segments.flatMap((s) => s.records).filter((r) => r.zxid > after);
  }

  private async sync(): Promise<void> {
    this.assertUsable();
    if (this.pending.length === 0) return;
    this.inFlight = this.pending;
    this.pending = [];
    this.counters.syncs++;
    if (this.options.beforeSync) await this.options.beforeSync();
    if (this.crashed) throw new Error('MemoryTxnLog: crashed during sync');
    for (const e of this.inFlight) addEntry(this.segments, e);
    this.inFlight = [];
  }

  private assertUsable(): void {
    if (this.crashed) throw new Error('MemoryTxnLog: crashed');
    if (this.closed) throw new Error('MemoryTxnLog: closed');
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function addEntry(segments: Segment[], e: Entry): void {
  if (e.roll || segments.length === 0) segments.push({ prev: e.prev, records: [] });
  segments.at(-1)!.records.push(e.record);
}
