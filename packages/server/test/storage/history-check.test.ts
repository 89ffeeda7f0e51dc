import { describe, expect, it } from 'vitest';
import { makeZxid } from '@zabkit/protocol';
import { findHistoryGap, type SegmentSpan } from '../../src/storage/history-check.js';

const z = (e: number, c: number) => makeZxid(e, c);
const seg = (name: string, prevZxid: bigint, firstZxid: bigint, lastZxid: bigint): SegmentSpan => ({ name, prevZxid, firstZxid, lastZxid });

describe('findHistoryGap', () => {
  it('accepts a log that starts at the beginning, with no snapshot', () => {
    expect(findHistoryGap(null, [seg('a', 0n, z(1, 1), z(1, 9)), seg('b', z(1, 9), z(1, 10), z(2, 3))])).toBeNull();
  });

  it('accepts an empty history and a snapshot with no log after it', () => {
    expect(findHistoryGap(null, [])).toBeNull();
    expect(findHistoryGap(z(3, 7), [])).toBeNull();
    expect(findHistoryGap(z(3, 7), [seg('a', 0n, z(1, 1), z(3, 7))])).toBeNull();
  });

  it('refuses a log whose first segment was purged when no snapshot is left', () => {
    const gap = findHistoryGap(null, [seg('log.2', z(1, 9), z(1, 10), z(1, 20))]);
    expect(gap).toMatchObject({ after: 0n, before: z(1, 10) });
    expect(gap!.message).toContain('no snapshot');
    expect(gap!.message).toContain('log.2');
  });

  it('accepts a segment that started before the snapshot and reaches past it', () => {
    expect(findHistoryGap(z(1, 15), [seg('a', z(1, 9), z(1, 10), z(1, 20)), seg('b', z(1, 20), z(1, 21), z(1, 30))])).toBeNull();
  });

  it('refuses a log that starts after the snapshot', () => {
    const gap = findHistoryGap(z(1, 5), [seg('a', z(1, 9), z(1, 10), z(1, 20))]);
    expect(gap).toMatchObject({ after: z(1, 5), before: z(1, 10) });
    expect(gap!.message).toContain('snapshot at 0x100000005');
  });

  it('finds a missing middle segment across an epoch change, where the zxids alone look fine', () => {
    const segments = [seg('a', 0n, z(1, 1), z(1, 5)), seg('c', z(1, 8), z(2, 1), z(2, 4))];
    const gap = findHistoryGap(null, segments);
    expect(gap).toMatchObject({ after: z(1, 5), before: z(2, 1) });
    expect(gap!.message).toContain('between a');
  });

  it('ignores segments the snapshot covers, gaps among them included', () => {
    const segments = [seg('a', 0n, z(1, 1), z(1, 5)), seg('b', z(1, 8), z(1, 9), z(1, 12)), seg('c', z(1, 12), z(1, 13), z(1, 14))];
    expect(findHistoryGap(z(1, 12), segments)).toBeNull();
    expect(findHistoryGap(z(1, 10), segments)).toBeNull();
    expect(findHistoryGap(z(1, 4), segments)).toMatchObject({ after: z(1, 5), before: z(1, 9) });
  });

  it('accepts a segment started right after a SNAP install (prev = the snapshot zxid)', () => {
    // the log held 0x1..0x105; a SNAP at 0x30000000a then a new segment continuing after it
    const segments = [seg('a', 0n, z(1, 1), z(1, 5)), seg('b', z(3, 10), z(3, 11), z(3, 20))];
    expect(findHistoryGap(z(3, 10), segments)).toBeNull();
    // the same log without that snapshot (lost) cannot be trusted
    expect(findHistoryGap(null, segments)).toMatchObject({ after: z(1, 5), before: z(3, 11) });
  });
});
