// zoo.cfg preAllocSize reaches the txn log: what a server started from a config file leaves on disk.
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '@zabkit/client';
import { loadConfig } from '../../src/runtime/config.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { runServer } from '../../src/runtime/start-server.js';
import { recoverLog } from '../../src/storage/segment-recovery.js';
import { tempDir } from './helpers.js';

/**
 * Starts a server from a zoo.cfg with `extra` lines, writes 20 znodes, stops it, and returns each log
 * segment's file size next to the end of its last record.
 */
async function segmentsAfterWrites(extra: string): Promise<{ fileBytes: number; recordBytes: number }[]> {
  const dir = await tempDir();
  const cfg = join(dir, 'zoo.cfg');
  await writeFile(cfg, `dataDir=${dir}\nclientPort=0\n${extra}\n`);
  const { config, warnings } = await loadConfig(cfg);
  expect(warnings).toEqual([]);
  const server = await runServer(config, silentLogger);
  try {
    const c = await connect(server.connectString);
    for (let i = 0; i < 20; i++) await c.create(`/n${i}`, `data-${i}`);
    await c.close();
  } finally {
    await server.close();
  }
  // (read with the server's preallocation: a longer zero fill would be reported and cut as a zeroed tail)
  const { segments } = await recoverLog(dir, 0n, { fill: { preallocateBytes: config.preAllocSize * 1024 } });
  expect(segments.length).toBeGreaterThan(0);
  return Promise.all(segments.map(async (s) => ({ fileBytes: (await stat(s.path)).size, recordBytes: s.size })));
}

describe('zoo.cfg preAllocSize', () => {
  it('0: every segment file ends at its last record', async () => {
    for (const s of await segmentsAfterWrites('preAllocSize=0')) expect(s.fileBytes).toBe(s.recordBytes);
  });

  it('unset: the segment is grown 4 MiB ahead of its records', async () => {
    const tail = (await segmentsAfterWrites('')).at(-1)!;
    expect(tail.fileBytes).toBeGreaterThan(4 * 1024 * 1024);
    expect(tail.fileBytes).toBeLessThanOrEqual(tail.recordBytes + 4 * 1024 * 1024);
  });

  it('counts kilobytes: preAllocSize=8 keeps at most 8192 bytes of zero fill', async () => {
    const tail = (await segmentsAfterWrites('preAllocSize=8')).at(-1)!;
    expect(tail.fileBytes).toBeGreaterThan(tail.recordBytes);
    expect(tail.fileBytes).toBeLessThanOrEqual(tail.recordBytes + 8192);
  });
});
