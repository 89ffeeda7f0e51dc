// FileTxnLog preallocation: the zero fill after a segment's records, through writes, rolls, truncates and recovery.
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, FileTxnLog } from '../../src/storage/index.js';
import { LOG_HEADER_BYTES as H, encodeRecord } from '../../src/storage/format.js';
import { opened, seeded, rec, recs, segmentFiles, tempDir, text, zxids } from './helpers.js';

/** End of the last record in a segment file: where its zero fill, if any, begins. */
function recordsEnd(buf: Buffer): number {
  let off = H;
  while (off + 16 <= buf.length && buf.readBigUInt64BE(off + 8) !== 0n) off += 16 + buf.readUInt32BE(off);
  return off;
}

const isZero = (buf: Uint8Array) => buf.every((b) => b === 0);

describe('FileTxnLog preallocation (zero fill after the records)', () => {
  const seg1 = 'log.0000000000000001';
  const REC = 16 + 5; // a record of 'txn-N' (N < 10)

  it('keeps the file ahead of its records; a reopen recovers exactly them, silently, and appends over the fill', async () => {
    const dir = await tempDir();
    const path = join(dir, seg1);
    const { log } = await opened(dir);
    log.append(recs(1, 3));
    await log.flush();
    // a new segment is created already extended
    const first = await readFile(path);
    expect(first.length).toBe(H + 3 * REC + 4 * 1024 * 1024);
    log.append(recs(4, 5));
    await log.flush();
    expect(log.stats().preallocations).toBe(1);
    await log.close();
    const buf = await readFile(path);
    expect(buf.length).toBe(first.length);
    expect(recordsEnd(buf)).toBe(H + 5 * REC);
    expect(isZero(buf.subarray(H + 5 * REC))).toBe(true);

    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(zxids(again.recovery.records)).toEqual([1n, 2n, 3n, 4n, 5n]);
    again.log.append([rec(6n, 'six'), rec(7n, 'seven')]);
    await again.log.flush();
    expect(again.log.stats().preallocations).toBe(0); // the reopened file was long enough
    expect(zxids(await again.log.readFrom(4n))).toEqual([5n, 6n, 7n]);
    await again.log.close();
    expect((await stat(path)).size).toBe(first.length);

    const third = await opened(dir);
    expect(third.recovery.warnings).toEqual([]);
    expect(third.recovery.records.map(text)).toEqual(['txn-1', 'txn-2', 'txn-3', 'txn-4', 'txn-5', 'six', 'seven']);
    await third.log.close();
  });

  it('extends the file again once a write would pass its length', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir, 0n, { preallocateBytes: 100 });
    for (let i = 1; i <= 9; i++) {
      log.append([rec(BigInt(i))]);
      await log.flush();
    }
    // 24 + 21 + 100 = 145 covers records 1..5 (129 bytes); record 6 ends at 150 -> 250; ... record 9 ends at 213
    expect(log.stats().preallocations).toBe(2);
    await log.close();
    const buf = await readFile(join(dir, seg1));
    expect(buf.length).toBe(250);
    expect(recordsEnd(buf)).toBe(H + 9 * REC);
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(zxids(again.recovery.records)).toEqual(zxids(recs(1, 9)));
    await again.log.close();
  });

  it('a torn record followed by zero fill is a torn tail: cut with a warning, appends continue', async () => {
    const dir = await seeded(5);
    const path = join(dir, seg1);
    const buf = await readFile(path);
    const end = recordsEnd(buf);
    buf.fill(0, end - 7, end); // record 5 lost its last 7 bytes: its header is there, zeros follow
    await writeFile(path, buf);
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n, 3n, 4n]);
    expect(recovery.warnings).toHaveLength(1);
    expect(recovery.warnings[0]).toContain(`torn tail at offset ${H + 4 * REC} after zxid 0x4`);
    expect(recovery.warnings[0]).toMatch(/1 damaged record\(s\) by their length fields .* byte\(s\) of zero fill/);
    expect((await stat(path)).size).toBe(end - REC);
    log.append([rec(5n, 'new five')]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(again.recovery.records.map(text)).toEqual(['txn-1', 'txn-2', 'txn-3', 'txn-4', 'new five']);
    await again.log.close();
  });

  it('junk, a zero gap or an out-of-order record in the fill followed by a valid record is still corruption', async () => {
    const r4 = encodeRecord(4n, new TextEncoder().encode('four'));
    const damage: ((buf: Buffer, end: number) => void)[] = [
      (buf, end) => {
        buf.fill(0xab, end, end + 10); // junk, then a valid record 4
        r4.copy(buf, end + 100);
      },
      (buf, end) => void r4.copy(buf, end + 4096), // zeros where record 4 should start, record 4 later
      (buf, end) => void buf.copy(buf, end, H, H + REC), // a valid copy of record 1 right after record 3
    ];
    for (const damageIt of damage) {
      const dir = await seeded(3);
      const path = join(dir, seg1);
      const buf = await readFile(path);
      const end = recordsEnd(buf);
      damageIt(buf, end);
      await writeFile(path, buf);
      const err = await new FileTxnLog(dir).open(0n).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptLogError);
      expect((err as CorruptLogError).offset).toBe(end);
      expect(Buffer.compare(await readFile(path), buf)).toBe(0); // refused, not repaired
    }
  });

  it('segments rolled while preallocated keep their fill and reopen cleanly; damage in them is corruption', async () => {
    const dir = await tempDir();
    // 8 records fit in 200 bytes (24 + 8 * 21 = 192): the fill is capped at maxSegmentBytes
    const { log } = await opened(dir, 0n, { maxSegmentBytes: 200 });
    for (let i = 1; i <= 20; i++) {
      log.append([rec(BigInt(i))]);
      if (i % 3 === 0) await log.flush();
      if (i === 12) await log.roll(); // rolled with 4 records: more fill (still capped at 200 bytes)
    }
    await log.flush();
    await log.close();
    const files = await segmentFiles(dir);
    expect(files).toEqual(['log.0000000000000001', 'log.0000000000000009', 'log.000000000000000d']);
    for (const f of files.slice(0, -1)) {
      const buf = await readFile(join(dir, f));
      expect(buf.length).toBe(200);
      expect(recordsEnd(buf)).toBeLessThan(200);
      expect(isZero(buf.subarray(recordsEnd(buf)))).toBe(true);
    }
    const again = await opened(dir, 0n, { maxSegmentBytes: 200 });
    expect(again.recovery.warnings).toEqual([]);
    expect(zxids(again.recovery.records)).toEqual(zxids(recs(1, 20)));
    expect(zxids(await again.log.readFrom(7n))).toEqual(zxids(recs(8, 20)));
    await again.log.close();

    // a torn record followed by fill in a segment that is not the last one
    const path = join(dir, files[0]!);
    const buf = await readFile(path);
    const end = recordsEnd(buf);
    buf.fill(0, end - 3, end);
    await writeFile(path, buf);
    await expect(new FileTxnLog(dir).open(0n)).rejects.toMatchObject({ name: 'CorruptLogError', file: path, offset: end - REC });
  });

  it('a new segment that crashed after its extension but before its first write is removed as a torn header', async () => {
    const dir = await seeded(4, 2); // log.1 (1,2), log.3 (3,4)
    const fresh = join(dir, 'log.0000000000000005');
    await writeFile(fresh, '');
    await truncate(fresh, 4 * 1024 * 1024);
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n, 3n, 4n]);
    expect(recovery.warnings.join()).toMatch(/torn segment header.*removed/);
    expect(await segmentFiles(dir)).toEqual(['log.0000000000000001', 'log.0000000000000003']);
    log.append([rec(5n, 'five')]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(zxids(again.recovery.records)).toEqual([1n, 2n, 3n, 4n, 5n]);
    await again.log.close();
  });

  it('truncateAfter on preallocated segments, then appends, then a reopen agree', async () => {
    const dir = await seeded(9, 3); // log.1 (1-3), log.4 (4-6), log.7 (7-9), each with fill
    const { log } = await opened(dir);
    await log.truncateAfter(5n);
    const seg4 = join(dir, 'log.0000000000000004');
    expect((await stat(seg4)).size).toBe(H + 2 * REC); // cut at record 5's end, fill dropped
    log.append([rec(6n, 'six b'), rec(7n, 'seven b')]);
    await log.flush();
    expect((await stat(seg4)).size).toBeGreaterThan(H + 4 * 1024 * 1024); // extended again
    expect((await log.readFrom(0n)).map(text)).toEqual(['txn-1', 'txn-2', 'txn-3', 'txn-4', 'txn-5', 'six b', 'seven b']);
    // back into log.1, whose fill (left from before its roll) the next append writes over
    await log.truncateAfter(3n);
    expect(await segmentFiles(dir)).toEqual([seg1]);
    log.append([rec(4n, 'four c')]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(again.recovery.records.map(text)).toEqual(['txn-1', 'txn-2', 'txn-3', 'four c']);
    expect(await again.log.readFrom(2n).then(zxids)).toEqual([3n, 4n]);
    await again.log.close();
  });

  it('preallocateBytes: 0 leaves the file ending at its last record', async () => {
    const dir = await seeded(5, 0, { preallocateBytes: 0 });
    expect((await stat(join(dir, seg1))).size).toBe(H + 5 * REC);
    expect(() => new FileTxnLog({ dir, preallocateBytes: -1 })).toThrow(RangeError);
  });
});
