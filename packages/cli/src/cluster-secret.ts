import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

/**
 * Makes sure `path` holds a cluster's shared peer secret (32 random bytes, base64, mode 0600), for
 * `quorum.auth.secretFile=`. An existing file is kept, so a cluster restarted on the same data
 * dir keeps its secret. Returns the path.
 */
export async function ensureClusterSecret(path: string): Promise<string> {
  try {
    await writeFile(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await readFile(path); // exists: it must at least be readable
  }
  return path;
}
