import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** Runs `cleanup` after the test, the latest registered first; a failure there is ignored. */
export function afterTest(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}

/** A fresh temp directory, removed after the test. */
export async function tempDir(prefix = 'zabkit-runtime-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  afterTest(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
