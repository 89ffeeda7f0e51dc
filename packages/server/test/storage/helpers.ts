import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { FileTxnLog, type FileTxnLogOptions, type LogRecord } from '../../src/storage/index.js';

const dirs: string[] = [];

/** A fresh temp directory, removed after the test. */
export async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'zabkit-storage-'));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

export function rec(zxid: bigint, text = `txn-${zxid}`): LogRecord {
  return { zxid, bytes: new TextEncoder().encode(text) };
}

export function recs(from: number, to: number): LogRecord[] {
  const out: LogRecord[] = [];
  for (let i = from; i <= to; i++) out.push(rec(BigInt(i)));
  return out;
}

export function zxids(records: readonly LogRecord[]): bigint[] {
  return records.map((r) => r.zxid);
}

export function text(r: LogRecord): string {
  return new TextDecoder().decode(r.bytes);
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('log.')).sort();
}

export type LogOptions = Omit<FileTxnLogOptions, 'dir'>;

/** A FileTxnLog in `dir`, opened (recovered) after `after`. */
export async function opened(dir: string, after = 0n, options: LogOptions = {}) {
  const log = new FileTxnLog({ dir, ...options });
  const recovery = await log.open(after);
  return { log, recovery };
}

/** Writes records 1..n into a fresh log, one flush, and closes it. */
export async function seeded(n: number, rollEvery = 0, options: LogOptions = {}): Promise<string> {
  const dir = await tempDir();
  const { log } = await opened(dir, 0n, options);
  for (let i = 1; i <= n; i++) {
    log.append([rec(BigInt(i))]);
    if (rollEvery > 0 && i % rollEvery === 0) await log.roll();
  }
  await log.flush();
  await log.close();
  return dir;
}
