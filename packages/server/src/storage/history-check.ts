import type { Zxid } from '@zabkit/protocol';

/**
 * What recovery knows of one log segment: the zxid logged just before it was started (0n for the
 * very first segment of a history), and the zxids of its first and last records. A segment's records
 * are contiguous by construction (appended in order to one file), so only the boundaries between
 * segments, and between the snapshot and the log, can hide a gap.
 */
export interface SegmentSpan {
  /** For messages: the file name, or any label. */
  name: string;
  /** The last zxid logged before this segment's first record (0n: the history starts here). */
  prevZxid: Zxid;
  firstZxid: Zxid;
  lastZxid: Zxid;
}

/** Why the snapshot and the log do not form one history: the txns in (after, before) are missing. */
export interface HistoryGap {
  /** The last zxid recovery can vouch for (the snapshot's, or a segment's last). */
  after: Zxid;
  /** The first zxid that follows the gap. */
  before: Zxid;
  /** Names the gap and where it lies, for the refusal message. */
  message: string;
}

const hex = (z: Zxid): string => `0x${z.toString(16)}`;

/**
 * Checks that the newest valid snapshot (its zxid, or null for none) and the log segments (oldest
 * first) form one contiguous history: the first segment holding txns after the snapshot was started
 * at or before the snapshot's zxid (with no snapshot: at the very beginning, prevZxid 0n), and each
 * later segment continues exactly where the one before it ended. Segments wholly covered by the
 * snapshot do not matter. Returns null when the history is whole, else the first gap.
 *
 * Why the prevZxid and not the zxids themselves: zxids are not dense (a new epoch restarts the
 * counter), so 0x100000005 followed by 0x200000001 may or may not have lost 0x100000006.
 */
export function findHistoryGap(snapshotZxid: Zxid | null, segments: readonly SegmentSpan[]): HistoryGap | null {
  const base = snapshotZxid ?? 0n;
  const what = snapshotZxid === null ? 'no snapshot (the history must start at the first txn ever logged)' : `the snapshot at ${hex(base)}`;
  let prev: SegmentSpan | null = null;
  for (const seg of segments) {
    if (seg.lastZxid <= base) continue;
    if (prev === null) {
      if (seg.prevZxid > base) {
        return {
          after: base,
          before: seg.firstZxid,
          message:
            `the log is missing the txns between ${what} and segment ${seg.name}, ` +
            `which starts after ${hex(seg.prevZxid)} (first txn ${hex(seg.firstZxid)})`,
        };
      }
    } else if (seg.prevZxid !== prev.lastZxid) {
      return {
        after: prev.lastZxid,
        before: seg.firstZxid,
        message:
          `a log segment is missing between ${prev.name} (last txn ${hex(prev.lastZxid)}) and ${seg.name}, ` +
          `which starts after ${hex(seg.prevZxid)} (first txn ${hex(seg.firstZxid)})`,
      };
    }
    prev = seg;
  }
  return null;
}

/**
 * The segments' spans with the jump to `after` as a span of its own, in its place (after every segment
 * that ends at or before it): segments started after the jump continue from it, and a history that
 * reaches the jump only through a lost snapshot shows a gap there.
 */
export function withContinuation(spans: readonly SegmentSpan[], after: Zxid | null, name: string): SegmentSpan[] {
  if (after === null || after === 0n) return [...spans];
  const at = spans.findIndex((s) => s.lastZxid > after);
  const mark: SegmentSpan = { name, prevZxid: after, firstZxid: after, lastZxid: after };
  return at < 0 ? [...spans, mark] : [...spans.slice(0, at), mark, ...spans.slice(at)];
}
