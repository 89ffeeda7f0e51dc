// Log segments record the zxid logged before them (format v2): what lets recovery prove, with
// findHistoryGap, that the snapshot and the log are one history.
import { readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeZxid } from '@zabkit/protocol';
import {
  FileTxnLog,
  MemoryStorage,
  MemoryTxnLog,
  findHistoryGap,
  openFileStorage,
  type SegmentSpan,
} from '../../src/storage/index.js';
import { FILE_HEADER_BYTES, LOG_HEADER_BYTES, LOG_MAGIC, encodeRecord, segmentName } from '../../src/storage/format.js';
import { recoverLog, segmentSpans } from '../../src/storage/segment-recovery.js';
import { StorageExecutor } from '../../src/runtime/storage-executor.js';
import { rec, segmentFiles, tempDir, zxids } from './helpers.js';

const z = (e: number, c: number) => makeZxid(e, c);
const spansOf = async (dir: string) => segmentSpans((await recoverLog(dir, 0n)).segments);
const links = (spans: readonly SegmentSpan[]) => spans.map((s) => [s.prevZxid, s.firstZxid, s.lastZxid]);

/** A log in `dir` with the given runs of zxids, each run in its own segment. */
async function logOfRuns(dir: string, runs: bigint[][]): Promise<void> {
  const log = new FileTxnLog({ dir, preallocateBytes: 0 });
  await log.open(0n);
  for (const run of runs) {
    await log.roll();
    log.append(run.map((x) => rec(x)));
    await log.flush();
  }
  await log.close();
}

describe('log segment header v2 (prevZxid)', () => {
  it('round trips: each segment names the zxid logged before it, across rolls and epochs', async () => {
    const dir = await tempDir();
    await logOfRuns(dir, [[z(1, 1), z(1, 2)], [z(1, 3)], [z(2, 1), z(2, 2)]]);
    const head = await readFile(join(dir, segmentName(z(2, 1))));
    expect(head.subarray(0, 4).equals(LOG_MAGIC)).toBe(true);
    expect(head.readUInt32BE(4)).toBe(2);
    expect(head.readBigUInt64BE(8)).toBe(z(2, 1));
    expect(head.readBigUInt64BE(16)).toBe(z(1, 3));
    const log = new FileTxnLog(dir);
    await log.open(0n);
    expect(links(log.segmentSpans())).toEqual([
      [0n, z(1, 1), z(1, 2)],
      [z(1, 2), z(1, 3), z(1, 3)],
      [z(1, 3), z(2, 1), z(2, 2)],
    ]);
    expect(findHistoryGap(null, log.segmentSpans())).toBeNull();
    await log.close();
  });

  it('restartAfter(z): the next segment carries prevZxid z, and a z below the last logged zxid is refused', async () => {
    const dir = await tempDir();
    const log = new FileTxnLog({ dir, preallocateBytes: 0 });
    await log.open(0n);
    log.append([rec(z(1, 1)), rec(z(1, 5))]);
    await log.flush();
    await expect(log.restartAfter(z(1, 4))).rejects.toThrow(RangeError);
    await log.restartAfter(z(3, 10));
    expect(log.lastZxid()).toBe(z(3, 10));
    expect(() => log.append([rec(z(3, 10))])).toThrow(/not above/);
    log.append([rec(z(3, 11))]);
    await log.flush();
    await log.close();
    expect(links(await spansOf(dir))).toEqual([
      [0n, z(1, 1), z(1, 5)],
      [z(3, 10), z(3, 11), z(3, 11)],
    ]);
  });

  it('a SNAP install (StorageExecutor) makes the log continue in a segment after the snapshot; losing that snapshot is a gap', async () => {
    const dir = await tempDir();
    const storage = await openFileStorage({ dataDir: dir, preallocateBytes: 0 });
    await storage.log.open(0n);
    const executor = new StorageExecutor(storage.log, storage.snapshots, storage.epochs, async () => {});
    storage.log.append([1, 2, 3, 4, 5].map((c) => rec(z(1, c))));
    await storage.log.flush();
    await executor.submit([{ kind: 'installSnapshot', zxid: z(3, 10), chunks: [new Uint8Array([1, 2, 3])] }]);
    storage.log.append([rec(z(3, 11)), rec(z(3, 12))]);
    await storage.log.flush();
    await storage.log.close();

    const segments = await spansOf(storage.logDir);
    expect(links(segments)).toEqual([
      [0n, z(1, 1), z(1, 5)],
      [z(3, 10), z(3, 11), z(3, 12)],
    ]);
    expect(findHistoryGap(z(3, 10), segments)).toBeNull();
    await rm(join(storage.snapDir, `snapshot.${z(3, 10).toString(16).padStart(16, '0')}`));
    const gap = findHistoryGap((await storage.snapshots.loadLatest()).snapshot?.zxid ?? null, segments);
    expect(gap).toMatchObject({ after: z(1, 5), before: z(3, 11) });
  });

  it('all snapshots deleted and the first segment purged: the gap names no snapshot and the first segment left', async () => {
    const dir = await tempDir();
    await logOfRuns(dir, [[1n, 2n, 3n], [4n, 5n], [6n, 7n]]);
    const log = new FileTxnLog(dir);
    await log.open(0n);
    await log.purgeThrough(3n); // what the snapshotter does once a snapshot at 3 is retained
    await log.close();
    const gap = findHistoryGap(null, await spansOf(dir));
    expect(gap).toMatchObject({ after: 0n, before: 4n });
    expect(gap!.message).toContain('no snapshot');
    expect(gap!.message).toContain(join(dir, segmentName(4n)));
  });

  it('a deleted middle segment is a gap, though the zxids left still increase', async () => {
    const dir = await tempDir();
    await logOfRuns(dir, [[z(1, 1), z(1, 2)], [z(1, 3), z(1, 4)], [z(2, 1), z(2, 2)]]);
    await unlink(join(dir, segmentName(z(1, 3))));
    const { segments, records } = await recoverLog(dir, 0n);
    expect(zxids(records)).toEqual([z(1, 1), z(1, 2), z(2, 1), z(2, 2)]); // reads fine on its own
    const gap = findHistoryGap(null, segmentSpans(segments));
    expect(gap).toMatchObject({ after: z(1, 2), before: z(2, 1) });
    expect(gap!.message).toContain('a log segment is missing between');
  });

  it('zeroed records at the end of a middle segment show as a gap at the next segment', async () => {
    const dir = await tempDir();
    await logOfRuns(dir, [[1n, 2n, 3n], [4n, 5n]]);
    const path = join(dir, segmentName(1n));
    const buf = await readFile(path);
    buf.fill(0, LOG_HEADER_BYTES + 2 * (16 + 5)); // record 3 zeroed: looks like preallocated fill
    await writeFile(path, buf);
    expect(findHistoryGap(null, await spansOf(dir))).toMatchObject({ after: 2n, before: 4n });
  });

  it('reads a version 1 segment (no prevZxid) with a warning that its boundary cannot be proven', async () => {
    const dir = await tempDir();
    const v1 = Buffer.alloc(FILE_HEADER_BYTES);
    LOG_MAGIC.copy(v1, 0);
    v1.writeUInt32BE(1, 4);
    v1.writeBigUInt64BE(1n, 8);
    await writeFile(join(dir, segmentName(1n)), Buffer.concat([v1, encodeRecord(1n, Buffer.from('one')), encodeRecord(2n, Buffer.from('two'))]));
    const log = new FileTxnLog({ dir, preallocateBytes: 0 });
    const { records, warnings } = await log.open(0n);
    expect(zxids(records)).toEqual([1n, 2n]);
    expect(warnings.join('\n')).toMatch(/format version 1 .*cannot be proven/);
    log.append([rec(3n)]); // appended into the v1 segment (its records start after its 16-byte header)
    await log.roll();
    log.append([rec(4n)]);
    await log.flush();
    await log.close();
    const back = await recoverLog(dir, 0n);
    expect(zxids(back.records)).toEqual([1n, 2n, 3n, 4n]);
    expect(back.segments.map((s) => [s.prevZxid, s.firstZxid, s.lastZxid])).toEqual([
      [null, 1n, 3n],
      [3n, 4n, 4n],
    ]);
    expect(await segmentFiles(dir)).toHaveLength(2);
  });
});

describe('MemoryTxnLog keeps the same contract', () => {
  it('segment spans carry prevZxid through rolls, restartAfter, crash and truncate', async () => {
    const s = MemoryStorage.create();
    const log = s.log;
    log.append([rec(z(1, 1)), rec(z(1, 2))]);
    await log.flush();
    await log.roll();
    log.append([rec(z(1, 3))]);
    await log.flush();
    await expect(log.restartAfter(z(1, 2))).rejects.toThrow(RangeError);
    await log.restartAfter(z(3, 7));
    log.append([rec(z(3, 8))]);
    await log.flush();
    const expected = [
      [0n, z(1, 1), z(1, 2)],
      [z(1, 2), z(1, 3), z(1, 3)],
      [z(3, 7), z(3, 8), z(3, 8)],
    ];
    expect(links(log.segmentSpans())).toEqual(expected);
    const after = s.crash();
    expect(links(after.log.segmentSpans())).toEqual(expected);
    expect(findHistoryGap(null, after.log.segmentSpans())).toMatchObject({ after: z(1, 3), before: z(3, 8) });
    expect(findHistoryGap(z(3, 7), after.log.segmentSpans())).toBeNull();
    await after.log.truncateAfter(z(1, 3));
    after.log.append([rec(z(1, 4))]);
    await after.log.flush();
    expect(links(after.log.segmentSpans())).toEqual(expected.slice(0, 2).map((l, i) => (i === 1 ? [z(1, 2), z(1, 3), z(1, 4)] : l)));
    const gapped = MemoryTxnLog.fromSegments([[rec(1n)], { prev: 5n, records: [rec(6n)] }]);
    expect(findHistoryGap(null, gapped.segmentSpans())).toMatchObject({ after: 1n, before: 6n });
  });
});
