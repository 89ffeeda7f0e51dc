import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FileTxnLog } from '../../src/storage/index.js';
import { tempDir } from './helpers.js';

// Spawned processes run the built dist (as the cluster tests do): `tsc -b` first.
const built = fileURLToPath(new URL('../../dist/storage/index.js', import.meta.url));

const CHILD = `
import { FileTxnLog } from ${JSON.stringify(pathToFileURL(built).href)};
const log = new FileTxnLog(process.argv[2]);
await log.open(0n);
let z = 0n;
for (;;) {
  const batch = [];
  for (let i = 0; i < 5; i++) { z++; batch.push({ zxid: z, bytes: Buffer.alloc(200, Number(z % 251n)) }); }
  log.append(batch);
  await log.flush();
  process.stdout.write(z + '\\n');
}
`;

describe('FileTxnLog across a kill -9', () => {
  it('every record acknowledged by a resolved flush survives SIGKILL of the writer process', async () => {
    expect(existsSync(built), `${built} missing: run tsc -b first`).toBe(true);
    const dir = await tempDir();
    const script = join(dir, 'writer.mjs');
    await writeFile(script, CHILD);
    const logDir = join(dir, 'log');
    const child = spawn(process.execPath, [script, logDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = 0n;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) acked = BigInt(l);
        if (acked >= 1000n) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
    });
    expect(await exited).toBe('SIGKILL');

    const log = new FileTxnLog(logDir);
    const { records, warnings } = await log.open(0n);
    expect(warnings.every((w) => /torn tail/.test(w))).toBe(true);
    expect(records.length).toBeGreaterThanOrEqual(Number(acked));
    records.forEach((r, i) => {
      expect(r.zxid).toBe(BigInt(i + 1));
      expect(r.bytes.length).toBe(200);
      expect(r.bytes[199]).toBe((i + 1) % 251);
    });
    await log.close();
  });
});
