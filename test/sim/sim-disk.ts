import type { Zxid } from '@zabkit/protocol';
import { findHistoryGap, type SegmentSpan, type StorageOp, type Txn } from '@zabkit/server';

/**
 * One log segment file: the zxid logged just before its first record, then its records. Empty only
 * as the marker a SNAP install or a truncate leaves (see SimDisk).
 */
export interface SimSegment {
  prevZxid: Zxid;
  txns: Txn[];
}

export interface SimSnapshot {
  zxid: Zxid;
  chunks: Uint8Array[];
}

const hex = (z: Zxid) => `0x${z.toString(16)}`;

/**
 * A fake disk: what a node has made durable (only synced state survives a crash). The log is a
 * list of segments as FileTxnLog keeps them: a snapshot rolls it (the next record starts a new
 * segment, whose prevZxid is the record before it), a SNAP install restarts it after the
 * snapshot's zxid, a truncate deletes and cuts segments from the end. Epoch files exist once
 * written; a brand-new disk has none (start writes both as 0).
 *
 * Where the log continues is durable at once: a SNAP install at Z (and a truncate that leaves no
 * record above the snapshot it keeps) writes an empty segment whose prevZxid is Z. Without it, a
 * snapshot lost before the next record is logged leaves an older history that checks out whole
 * (seed 4721: a server SNAPped to epoch 2, its snapshots lost, restarted with its epoch-1 log and
 * currentEpoch 3, won the election and TRUNCated acknowledged epoch-2 writes away).
 */
export class SimDisk {
  segments: SimSegment[] = [];
  /** Oldest first. */
  snapshots: SimSnapshot[] = [];
  acceptedEpoch = 0;
  currentEpoch = 0;
  /** Which epoch files exist (a fault can delete one). */
  readonly epochFiles = { acceptedEpoch: false, currentEpoch: false };
  /** The zxid the next record follows (the log's last, or the SNAP it restarted after). */
  private tip: Zxid = 0n;
  /** The next record opens a new segment. */
  private rollPending = false;

  apply(op: StorageOp): void {
    switch (op.kind) {
      case 'append':
        for (const t of op.txns) this.append(t);
        return;
      case 'truncate':
        this.truncateAfter(op.zxid);
        this.snapshots = this.snapshots.filter((s) => s.zxid <= op.zxid);
        return;
      case 'installSnapshot':
        this.addSnapshot({ zxid: op.zxid, chunks: op.chunks });
        if (this.tip > op.zxid) this.truncateAfter(op.zxid);
        this.snapshots = this.snapshots.filter((s) => s.zxid <= op.zxid);
        // The log goes on in a new segment that starts right after the snapshot: a segment never
        // spans a gap that only the snapshot covers.
        this.tip = op.zxid;
        this.restartMarker();
        return;
      case 'acceptedEpoch':
        this.acceptedEpoch = op.epoch;
        this.epochFiles.acceptedEpoch = true;
        return;
      case 'currentEpoch':
        this.currentEpoch = op.epoch;
        this.epochFiles.currentEpoch = true;
        return;
    }
  }

  private append(t: Txn): void {
    const z = t.hdr.zxid;
    if (z <= this.tip) throw new Error(`non-increasing append ${hex(z)} after ${hex(this.tip)}`);
    const tail = this.segments[this.segments.length - 1];
    if (!tail || this.rollPending) this.segments.push({ prevZxid: this.tip, txns: [t] });
    else tail.txns.push(t);
    this.rollPending = false;
    this.tip = z;
  }

  /** As FileTxnLog.truncateAfter: deletes the segments that start after `zxid`, cuts the one holding it. */
  private truncateAfter(zxid: Zxid): void {
    // (an empty marker goes only when it starts above zxid: one at zxid still says where the log goes on)
    const doomed = (seg: SimSegment) => (seg.txns.length > 0 ? this.firstOf(seg) > zxid : seg.prevZxid > zxid);
    while (this.segments.length > 0 && doomed(this.segments[this.segments.length - 1]!)) this.segments.pop();
    const tail = this.segments[this.segments.length - 1];
    if (tail) tail.txns = tail.txns.filter((t) => t.hdr.zxid <= zxid);
    // With no record left, the next one follows the newest snapshot the truncate keeps (or nothing).
    const snap = this.snapshots.filter((s) => s.zxid <= zxid).pop();
    this.tip = tail ? this.lastOf(tail) : (snap?.zxid ?? 0n);
    if (!tail && snap) this.restartMarker();
  }

  /** Makes "the next record follows `tip`" durable: an empty segment with that prevZxid (unless the tail already ends there). */
  private restartMarker(): void {
    const tail = this.segments[this.segments.length - 1];
    if (tail && tail.txns.length === 0 && tail.prevZxid === this.tip) return;
    this.segments.push({ prevZxid: this.tip, txns: [] });
    this.rollPending = false;
  }

  /** Stores a snapshot (kept sorted by zxid: a SNAP install may be older than a local one). */
  addSnapshot(s: SimSnapshot): void {
    this.snapshots = this.snapshots.filter((x) => x.zxid !== s.zxid);
    this.snapshots.push(s);
    this.snapshots.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
  }

  /** As Snapshotter.take: the snapshot is written after rolling the log. */
  takeSnapshot(s: SimSnapshot): void {
    this.rollPending = true;
    this.addSnapshot(s);
  }

  /**
   * As autopurge: keeps the newest `retain` snapshots and the segments they need (never the last
   * segment, the one being appended to). Returns how many files went.
   */
  purge(retain: number): number {
    const drop = Math.max(0, this.snapshots.length - retain);
    this.snapshots = this.snapshots.slice(drop);
    const oldest = this.snapshots[0]?.zxid;
    if (oldest === undefined) return drop;
    let n = drop;
    while (this.segments.length > 1 && this.lastOf(this.segments[0]!) <= oldest) {
      this.segments.shift();
      n++;
    }
    return n;
  }

  /** Every logged txn, oldest first (a deleted segment's are missing). */
  get log(): Txn[] {
    return this.segments.flatMap((s) => s.txns);
  }

  /** What recovery sees of the log (for findHistoryGap). */
  spans(): SegmentSpan[] {
    return this.segments.map((s) => {
      const name = s.txns.length > 0 ? `log.${this.firstOf(s).toString(16)}` : `the empty segment after 0x${s.prevZxid.toString(16)}`;
      return { name, prevZxid: s.prevZxid, firstZxid: this.firstOf(s), lastZxid: this.lastOf(s) };
    });
  }

  /** No log, no snapshot, no epoch file: a data dir never used. */
  isBrandNew(): boolean {
    return this.segments.length === 0 && this.snapshots.length === 0 && !this.epochFiles.acceptedEpoch && !this.epochFiles.currentEpoch;
  }

  /**
   * The checks a real server makes before it starts: epoch files present, and the newest snapshot
   * and the log form one history (findHistoryGap). Returns why it must refuse, or null.
   */
  startRefusal(): string | null {
    for (const f of ['acceptedEpoch', 'currentEpoch'] as const) if (!this.epochFiles[f]) return `the ${f} file is missing`;
    return this.historyGap();
  }

  /** Null when the newest snapshot and the log form one history, else the gap's message. */
  historyGap(): string | null {
    return findHistoryGap(this.snapshotZxid(), this.spans())?.message ?? null;
  }

  /** What a restart (or a TRUNC reload) reads: newest snapshot, then the log after it. */
  load(): { chunks: Uint8Array[] | null; txns: Txn[] } {
    const snap = this.newestSnapshot();
    const from = snap?.zxid ?? 0n;
    const txns: Txn[] = [];
    for (const s of this.segments) {
      if (this.lastOf(s) <= from) continue;
      for (const t of s.txns) if (t.hdr.zxid > from) txns.push(t);
    }
    return { chunks: snap?.chunks ?? null, txns };
  }

  newestSnapshot(): SimSnapshot | null {
    return this.snapshots[this.snapshots.length - 1] ?? null;
  }

  snapshotZxid(): Zxid | null {
    return this.newestSnapshot()?.zxid ?? null;
  }

  /** The last logged zxid (the log's, or the snapshot's when the log ends below it). */
  lastZxid(): Zxid {
    const tail = this.segments[this.segments.length - 1];
    const log = tail ? this.lastOf(tail) : 0n;
    const snap = this.snapshotZxid() ?? 0n;
    return log > snap ? log : snap;
  }

  /** First record's zxid; an empty segment's "first" is the zxid after its prevZxid. */
  firstOf(s: SimSegment): Zxid {
    return s.txns[0]?.hdr.zxid ?? s.prevZxid + 1n;
  }

  /** Last record's zxid; an empty segment ends where it starts (its prevZxid). */
  lastOf(s: SimSegment): Zxid {
    return s.txns[s.txns.length - 1]?.hdr.zxid ?? s.prevZxid;
  }
}
