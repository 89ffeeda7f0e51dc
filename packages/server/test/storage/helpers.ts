import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { LogRecord } from '../../src/storage/index.js';

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
