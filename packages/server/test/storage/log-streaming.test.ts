import { appendFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTxnLog, type LogRecord } from '../../src/storage/index.js';
import { rec, segmentFiles, tempDir } from './helpers.js';

/**
 * Writes records 1..n (varied payload sizes) with several flushes into segments of at most `maxSegmentBytes`
 * (zero-filled up to that size unless `preallocateBytes` is 0).
 */
async function seeded(n: number, maxSegmentBytes: number, preallocateBytes?: number): Promise<string> {
  const dir = await tempDir();
  const log = new FileTxnLog(preallocateBytes === undefined ? { dir, maxSegmentBytes } : { dir, maxSegmentBytes, preallocateBytes });
  await log.open(0n);
  for (let i = 1; i <= n; i++) {
    log.append([rec(BigInt(i), `txn-${i}-${'x'.repeat(i % 37)}`)]);
    if (i % 50 === 0) await log.flush();
  }
  await log.flush();
  await log.close();
  return dir;
}

/**
 * Opens `dir` twice: records streamed by open(after, onRecord) (first, so that it is the one that
 * repairs a torn tail), then records collected by open(after). The streaming log is left open.
 */
async function bothWays(dir: string, after: bigint) {
  const streamedLog = new FileTxnLog({ dir });
  const streamed: LogRecord[] = [];
  // copies: the bytes are views into the segment's buffer
  const rest = await streamedLog.open(after, (zxid, bytes) => streamed.push({ zxid, bytes: Uint8Array.from(bytes) }));
  const collectedLog = new FileTxnLog({ dir });
  const collected = await collectedLog.open(after);
  await collectedLog.close();
  return { collected, streamed, rest, streamedLog };
}

const plain = (records: readonly LogRecord[]) => records.map((r) => [r.zxid, Buffer.from(r.bytes).toString()]);

describe('FileTxnLog.open and readFrom streaming records (onRecord)', () => {
  it('streams exactly the records open() collects, across segments, in zxid order', async () => {
    const dir = await seeded(600, 4096);
    expect((await segmentFiles(dir)).length).toBeGreaterThan(5);
    for (const after of [0n, 1n, 137n, 599n, 600n]) {
      const { collected, streamed, rest, streamedLog } = await bothWays(dir, after);
      expect(rest.records).toEqual([]);
      expect(plain(streamed)).toEqual(plain(collected.records));
      expect(streamed.map((r) => r.zxid)).toEqual(Array.from({ length: 600 - Number(after) }, (_, i) => after + 1n + BigInt(i)));
      expect(streamedLog.lastZxid()).toBe(600n);
      await streamedLog.close();
    }
  });

  it('with a torn tail streams the records before it, truncates, and appends after them', async () => {
    const dir = await seeded(300, 4096, 0); // no zero fill: the file ends at record 300
    const last = join(dir, (await segmentFiles(dir)).at(-1)!);
    await truncate(last, (await stat(last)).size - 5); // record 300 cut
    await appendFile(last, Buffer.alloc(64, 0xab));
    const { collected, streamed, rest, streamedLog } = await bothWays(dir, 100n);
    expect(plain(streamed)).toEqual(plain(collected.records));
    expect(streamed.at(-1)!.zxid).toBe(299n);
    expect(streamed).toHaveLength(199);
    expect(rest.warnings.join()).toMatch(/torn tail/);
    streamedLog.append([rec(300n, 'again')]);
    await streamedLog.flush();
    await streamedLog.close();
    const again = await bothWays(dir, 298n);
    expect(plain(again.streamed)).toEqual([
      [299n, Buffer.from(rec(299n, `txn-299-${'x'.repeat(299 % 37)}`).bytes).toString()],
      [300n, 'again'],
    ]);
    await again.streamedLog.close();
  });

  it('readFrom(after, onRecord) streams exactly the records readFrom(after) collects, and returns none', async () => {
    const dir = await seeded(600, 4096);
    const log = new FileTxnLog({ dir });
    await log.open(0n, () => {});
    for (const after of [0n, 137n, 599n, 600n]) {
      const streamed: LogRecord[] = [];
      const rest = await log.readFrom(after, (zxid, bytes) => streamed.push({ zxid, bytes: Uint8Array.from(bytes) }));
      expect(rest).toEqual([]);
      expect(plain(streamed)).toEqual(plain(await log.readFrom(after)));
      expect(streamed.length).toBe(600 - Number(after));
    }
    await log.close();
  });

  it('opens and reads a segment of 200k records (a spread push of them overflowed the stack)', async () => {
    const dir = await tempDir();
    const log = new FileTxnLog({ dir });
    await log.open(0n);
    const n = 200_000;
    const batch: LogRecord[] = [];
    for (let i = 1; i <= n; i++) batch.push({ zxid: BigInt(i), bytes: new Uint8Array([i & 0xff]) });
    log.append(batch);
    await log.flush();
    expect((await log.readFrom(0n)).length).toBe(n);
    await log.close();
    const reopened = new FileTxnLog({ dir });
    const { records } = await reopened.open(0n);
    expect(records.length).toBe(n);
    expect(records.every((r, i) => r.zxid === BigInt(i + 1) && r.bytes[0] === ((i + 1) & 0xff))).toBe(true);
    await reopened.close();
  }, 30_000);
});
