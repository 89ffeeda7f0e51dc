import { readFile, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptLogError, FileTxnLog } from '../../src/storage/index.js';
import { LOG_HEADER_BYTES as H } from '../../src/storage/format.js';
import { opened, seeded, rec, recs, segmentFiles, tempDir, text, zxids, type LogOptions } from './helpers.js';

describe('FileTxnLog round trip', () => {
  it('reopens with every flushed record across several segments, in order', async () => {
    const dir = await tempDir();
    const { log, recovery } = await opened(dir);
    expect(recovery).toEqual({ records: [], warnings: [] });
    log.append(recs(1, 3));
    await log.flush();
    await log.roll();
    log.append(recs(4, 6));
    await log.roll();
    log.append(recs(7, 7));
    await log.flush();
    expect(log.lastZxid()).toBe(7n);
    await log.close();

    expect(await segmentFiles(dir)).toEqual([
      'log.0000000000000001',
      'log.0000000000000004',
      'log.0000000000000007',
    ]);
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(zxids(again.recovery.records)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    expect(text(again.recovery.records[4]!)).toBe('txn-5');
    expect(again.log.lastZxid()).toBe(7n);
    // open(after) returns only newer records but still knows the last zxid
    const dir2 = await seeded(5, 2);
    const partial = await opened(dir2, 3n);
    expect(zxids(partial.recovery.records)).toEqual([4n, 5n]);
    expect(partial.log.lastZxid()).toBe(5n);
    await again.log.close();
    await partial.log.close();
  });

  it('records are on disk once flush() resolves (a fresh instance reads them while the writer is still open)', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir);
    log.append([rec(10n, 'a'), rec(11n, 'b')]);
    await log.flush();
    const reader = new FileTxnLog(dir);
    const seen = await reader.open(0n);
    expect(zxids(seen.records)).toEqual([10n, 11n]);
    expect(seen.records.map(text)).toEqual(['a', 'b']);
    await reader.close();
    await log.close();
  });

  it('rolls automatically when a segment would exceed maxSegmentBytes', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir, 0n, { maxSegmentBytes: 120 });
    // 46 bytes per record + 24-byte header: two records per segment
    for (let i = 1; i <= 6; i++) log.append([rec(BigInt(i), 'x'.repeat(30))]);
    await log.flush();
    await log.close();
    expect((await segmentFiles(dir)).length).toBe(3);
    const again = await opened(dir);
    expect(zxids(again.recovery.records)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    await again.log.close();
  });

  it('rejects a non-increasing zxid and leaves the log unchanged', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir);
    log.append([rec(5n)]);
    expect(() => log.append([rec(5n)])).toThrow(RangeError);
    expect(() => log.append([rec(6n), rec(4n)])).toThrow(RangeError);
    expect(() => new FileTxnLog(dir).append([rec(1n)])).toThrow(/open/);
    expect(log.lastZxid()).toBe(5n);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(zxids(again.recovery.records)).toEqual([5n]);
    expect(() => again.log.append([rec(3n)])).toThrow(RangeError);
    await again.log.close();
  });
});

describe('FileTxnLog group commit', () => {
  it('many concurrent flushes share fsyncs and all resolve with their records durable', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir);
    const flushes: Promise<void>[] = [];
    const missing: number[] = [];
    const segment = join(dir, 'log.0000000000000001');
    for (let i = 1; i <= 50; i++) {
      const label = `record-${String(i).padStart(3, '0')}`;
      log.append([rec(BigInt(i), label)]);
      // when this flush resolves, its record must already be in the file
      flushes.push(log.flush().then(() => void (readFileSync(segment).includes(label) || missing.push(i))));
    }
    await Promise.all(flushes);
    expect(missing).toEqual([]);
    const s = log.stats();
    expect(s.flushCalls).toBe(50);
    expect(s.fsyncs).toBeLessThanOrEqual(2);
    expect(s.writes).toBe(s.fsyncs);
    const reader = new FileTxnLog(dir);
    expect(zxids((await reader.open(0n)).records)).toHaveLength(50);
    await reader.close();
    await log.close();
  });

  it('a flush called while another is in progress covers records appended after the first started', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir);
    log.append([rec(1n)]);
    const first = log.flush();
    // appended while the first flush runs: must be covered by the second
    let fsyncsAtFirst = -1;
    const firstDone = first.then(() => {
      fsyncsAtFirst = log.stats().fsyncs;
    });
    await Promise.resolve();
    await Promise.resolve();
    log.append([rec(2n)]);
    const second = log.flush();
    const third = log.flush();
    expect(third).toBe(second);
    await Promise.all([firstDone, second, third]);
    const reader = new FileTxnLog(dir);
    expect(zxids((await reader.open(0n)).records)).toEqual([1n, 2n]);
    await reader.close();
    expect(fsyncsAtFirst).toBeGreaterThanOrEqual(1);
    expect(log.stats().fsyncs).toBeLessThanOrEqual(2);
    await log.close();
  });

  it('flushes called while syncs run, across rolls, lose and reorder nothing', async () => {
    for (const preallocateBytes of [0, 1024]) {
      const dir = await tempDir();
      const { log } = await opened(dir, 0n, { maxSegmentBytes: 600, preallocateBytes });
      const flushes: Promise<void>[] = [];
      let durable = 0;
      for (let i = 1; i <= 300; i++) {
        log.append([rec(BigInt(i))]);
        // each flush covers every record appended before it: check that when it resolves
        const upTo = i;
        flushes.push(log.flush().then(() => void (durable = Math.max(durable, upTo))));
        if (i % 7 === 0) await new Promise<void>((r) => setImmediate(r)); // let some syncs start mid-stream
      }
      await Promise.all(flushes);
      expect(durable).toBe(300);
      expect(log.stats().fsyncs).toBeLessThan(300); // still grouped
      await log.close();
      const reader = new FileTxnLog({ dir });
      const back = await reader.open(0n);
      expect(back.warnings).toEqual([]);
      expect(zxids(back.records)).toEqual(Array.from({ length: 300 }, (_, i) => BigInt(i + 1)));
      expect((await segmentFiles(dir)).length).toBeGreaterThan(5);
      await reader.close();
    }
  });

  it('flush with nothing appended does no I/O', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir);
    await log.flush();
    await log.flush();
    expect(log.stats().fsyncs).toBe(0);
    expect(await segmentFiles(dir)).toEqual([]);
    await log.close();
  });
});

/** Options for logs whose files end at their last record, as the damage below assumes. */
const noFill: LogOptions = { preallocateBytes: 0 };

describe('FileTxnLog recovery', () => {
  const seg1 = 'log.0000000000000001';

  it('truncates a record cut in half at the tail, warns, and appends correctly after', async () => {
    const dir = await seeded(5, 0, noFill);
    const path = join(dir, seg1);
    const size = (await stat(path)).size;
    await truncate(path, size - 7);
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n, 3n, 4n]);
    expect(recovery.warnings).toHaveLength(1);
    expect(recovery.warnings[0]).toMatch(/torn tail/);
    expect(recovery.warnings[0]).toContain(seg1);
    expect(log.lastZxid()).toBe(4n);
    log.append([rec(5n, 'new five'), rec(6n)]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(zxids(again.recovery.records)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(text(again.recovery.records[4]!)).toBe('new five');
    await again.log.close();
  });

  it('truncates garbage appended after the last record', async () => {
    const dir = await seeded(3, 0, noFill);
    const path = join(dir, seg1);
    const size = (await stat(path)).size;
    await appendFile(path, Buffer.from('this is not a record, just junk bytes'));
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n, 3n]);
    expect(recovery.warnings.join()).toMatch(/torn tail/);
    expect((await stat(path)).size).toBe(size);
    log.append([rec(4n)]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(zxids(again.recovery.records)).toEqual([1n, 2n, 3n, 4n]);
    await again.log.close();
  });

  it('truncates a large garbage tail (seeded pseudo-random bytes)', async () => {
    const dir = await seeded(3, 0, noFill);
    const path = join(dir, seg1);
    const size = (await stat(path)).size;
    const junk = Buffer.alloc(1 << 20);
    let x = 0x9e3779b9;
    for (let i = 0; i < junk.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      junk[i] = x & 0xff;
    }
    await appendFile(path, junk);
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n, 3n]);
    expect(recovery.warnings[0]).toMatch(/truncated 1048576 byte\(s\)/);
    expect((await stat(path)).size).toBe(size);
    await log.close();
  });

  it('treats zero fill within the preallocation as the clean end of a segment: no warning, kept, appended over', async () => {
    const dir = await seeded(3, 0, noFill);
    const path = join(dir, seg1);
    const size = (await stat(path)).size;
    await appendFile(path, Buffer.alloc(4096));
    const withFill = { preallocateBytes: 4096 };
    const { log, recovery } = await opened(dir, 0n, withFill);
    expect(zxids(recovery.records)).toEqual([1n, 2n, 3n]);
    expect(recovery.warnings).toEqual([]);
    expect((await stat(path)).size).toBe(size + 4096);
    log.append([rec(4n)]);
    await log.flush();
    await log.close();
    expect((await stat(path)).size).toBe(size + 4096); // written into the fill
    const again = await opened(dir, 0n, withFill);
    expect(again.recovery.warnings).toEqual([]);
    expect(zxids(again.recovery.records)).toEqual([1n, 2n, 3n, 4n]);
    await again.log.close();
  });

  it('reports a zeroed tail that preallocation cannot have left, with its size, and cuts it', async () => {
    // preallocation off: any zero fill is foreign
    const dir = await seeded(3, 0, noFill);
    const path = join(dir, seg1);
    const size = (await stat(path)).size;
    await appendFile(path, Buffer.alloc(100));
    const a = await opened(dir, 0n, noFill);
    expect(zxids(a.recovery.records)).toEqual([1n, 2n, 3n]);
    expect(a.recovery.warnings).toHaveLength(1);
    expect(a.recovery.warnings[0]).toContain(`zeroed tail at offset ${size} after zxid 0x3: 100 byte(s) of zero fill`);
    expect((await stat(path)).size).toBe(size);
    await a.log.close();

    // records 4 and 5 zeroed in place (the file keeps its length), longer than the preallocation
    const dir2 = await seeded(5, 0, noFill);
    const path2 = join(dir2, seg1);
    const buf = await readFile(path2);
    const rec4 = H + 3 * (16 + 5);
    buf.fill(0, rec4);
    await writeFile(path2, buf);
    const b = await opened(dir2, 0n, { preallocateBytes: 20 });
    expect(zxids(b.recovery.records)).toEqual([1n, 2n, 3n]);
    expect(b.recovery.warnings.join('\n')).toContain(`zeroed tail at offset ${rec4} after zxid 0x3: ${2 * (16 + 5)} byte(s) of zero fill`);
    await b.log.close();
  });

  it('removes a last segment whose header or only record is torn', async () => {
    const dir = await seeded(4, 2); // log.1 (1,2), log.3 (3,4)
    const last = join(dir, 'log.0000000000000003');
    await truncate(last, 20); // header + 4 bytes of record 3
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n]);
    expect(recovery.warnings.join()).toMatch(/removed/);
    expect(await segmentFiles(dir)).toEqual([seg1]);
    log.append([rec(3n, 'again')]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(again.recovery.records.map(text)).toEqual(['txn-1', 'txn-2', 'again']);
    await again.log.close();

    const dir2 = await seeded(4, 2);
    await writeFile(join(dir2, 'log.0000000000000003'), Buffer.alloc(16)); // zero header
    const z = await opened(dir2);
    expect(zxids(z.recovery.records)).toEqual([1n, 2n]);
    expect(z.recovery.warnings.join()).toMatch(/header/);
    await z.log.close();
  });

  it('treats a checksum-bad final record (nothing valid after it) as a torn tail', async () => {
    const dir = await seeded(3, 0, noFill);
    const path = join(dir, seg1);
    const buf = await readFile(path);
    buf[buf.length - 1]! ^= 0x01;
    await writeFile(path, buf);
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n]);
    expect(recovery.warnings[0]).toMatch(/crc32c mismatch/);
    await log.close();
  });

  it('never appends into a segment that holds no record (its name must be its first zxid)', async () => {
    const dir = await seeded(4, 2); // log.1 (1,2), log.3 (3,4)
    const mid = join(dir, 'log.0000000000000003');
    await writeFile(mid, (await readFile(mid)).subarray(0, H)); // header only: no record
    await writeFile(join(dir, 'log.0000000000000009'), Buffer.alloc(10)); // torn newest segment
    const { log, recovery } = await opened(dir);
    expect(zxids(recovery.records)).toEqual([1n, 2n]);
    expect(await segmentFiles(dir)).toEqual([seg1]);
    log.append([rec(3n, 'three again')]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(again.recovery.records.map(text)).toEqual(['txn-1', 'txn-2', 'three again']);
    await again.log.close();
  });

  it('refuses to open when an early record is corrupt, naming file and offset', async () => {
    const dir = await seeded(5);
    const path = join(dir, seg1);
    const buf = await readFile(path);
    buf[H + 16 + 2]! ^= 0xff; // a payload byte of record 1
    await writeFile(path, buf);
    const err = await new FileTxnLog(dir).open(0n).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptLogError);
    const c = err as CorruptLogError;
    expect(c.file).toBe(path);
    expect(c.offset).toBe(H);
    expect(c.message).toContain(path);
    expect(c.message).toContain(`offset ${H}`);
    // nothing was truncated
    expect((await readFile(path)).length).toBe(buf.length);
  });

  it('refuses corruption in the last record of a non-last segment', async () => {
    const dir = await seeded(4, 2, noFill);
    const path = join(dir, seg1);
    const buf = await readFile(path);
    buf[buf.length - 1]! ^= 0x01;
    await writeFile(path, buf);
    await expect(new FileTxnLog(dir).open(0n)).rejects.toMatchObject({ name: 'CorruptLogError', file: path });
  });

  it('refuses a checksum-valid record that breaks zxid order', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir, 0n, noFill);
    log.append(recs(1, 2));
    await log.flush();
    await log.close();
    // splice a copy of record 1 (valid CRC) onto the end
    const path = join(dir, seg1);
    const buf = await readFile(path);
    const rec1 = buf.subarray(H, H + 16 + 5);
    await appendFile(path, rec1);
    await expect(new FileTxnLog(dir).open(0n)).rejects.toBeInstanceOf(CorruptLogError);
  });
});

describe('FileTxnLog truncate, read, purge', () => {
  it('truncateAfter crosses segment boundaries durably and appends continue', async () => {
    const dir = await seeded(9, 3); // log.1 (1-3), log.4 (4-6), log.7 (7-9)
    const { log } = await opened(dir);
    await log.truncateAfter(5n);
    expect(log.lastZxid()).toBe(5n);
    expect(await segmentFiles(dir)).toEqual(['log.0000000000000001', 'log.0000000000000004']);
    expect(zxids(await log.readFrom(0n))).toEqual([1n, 2n, 3n, 4n, 5n]);
    log.append([rec(6n, 'six b'), rec(7n, 'seven b')]);
    await log.flush();
    await log.close();
    const again = await opened(dir);
    expect(again.recovery.warnings).toEqual([]);
    expect(again.recovery.records.map(text)).toEqual(['txn-1', 'txn-2', 'txn-3', 'txn-4', 'txn-5', 'six b', 'seven b']);
    // truncating to below a segment's first zxid removes that segment entirely
    await again.log.truncateAfter(3n);
    expect(await segmentFiles(dir)).toEqual(['log.0000000000000001']);
    await again.log.truncateAfter(0n);
    expect(again.log.lastZxid()).toBe(0n);
    expect(await segmentFiles(dir)).toEqual([]);
    again.log.append([rec(1n, 'fresh')]);
    await again.log.flush();
    await again.log.close();
    const third = await opened(dir);
    expect(third.recovery.records.map(text)).toEqual(['fresh']);
    await third.log.close();
  });

  it('truncateAfter also drops records appended but not yet flushed', async () => {
    const dir = await seeded(3);
    const { log } = await opened(dir);
    log.append(recs(4, 6));
    await log.truncateAfter(4n);
    expect(log.lastZxid()).toBe(4n);
    expect(zxids(await log.readFrom(2n))).toEqual([3n, 4n]);
    await log.close();
  });

  it('readFrom returns only durable records above the zxid', async () => {
    const dir = await seeded(6, 2);
    const { log } = await opened(dir);
    log.append([rec(7n)]); // not flushed yet
    expect(zxids(await log.readFrom(3n))).toEqual([4n, 5n, 6n]);
    expect(zxids(await log.readFrom(6n))).toEqual([]);
    await log.flush();
    expect(zxids(await log.readFrom(5n))).toEqual([6n, 7n]);
    await log.close();
  });

  it('purgeThrough deletes only segments replay no longer needs, never the active one', async () => {
    const dir = await seeded(9, 3); // log.1 (1-3), log.4 (4-6), log.7 (7-9)
    const { log } = await opened(dir);
    expect(await log.purgeThrough(2n)).toBe(0); // log.1 still holds 3
    expect(await log.purgeThrough(5n)).toBe(1); // log.4 holds 6
    expect(await segmentFiles(dir)).toEqual(['log.0000000000000004', 'log.0000000000000007']);
    expect(await log.purgeThrough(100n)).toBe(1); // never the last segment
    expect(await segmentFiles(dir)).toEqual(['log.0000000000000007']);
    expect(zxids(await log.readFrom(0n))).toEqual([7n, 8n, 9n]);
    log.append([rec(10n)]);
    await log.flush();
    await log.close();
    const again = await opened(dir, 6n);
    expect(zxids(again.recovery.records)).toEqual([7n, 8n, 9n, 10n]);
    await again.log.close();
  });

  it('reports a failed write and refuses further use', async () => {
    const dir = await tempDir();
    const { log } = await opened(dir);
    log.append([rec(1n)]);
    await log.flush();
    // Break the handle underneath the log to simulate an I/O error.
    const fh = (log as unknown as { fh: { close(): Promise<void> } }).fh;
    await fh.close();
    log.append([rec(2n)]);
    await expect(log.flush()).rejects.toThrow();
    await expect(log.flush()).rejects.toThrow(/previous write failed/);
    expect(() => log.append([rec(3n)])).toThrow(/previous write failed/);
  });
});
