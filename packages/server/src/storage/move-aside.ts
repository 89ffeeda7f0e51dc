import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, fsyncDir, isNotFound } from './fs-util.js';

/** Files of ours in the snapshot dir and in the log dir (nothing else there is touched). */
const SNAP_FILES = /^(snapshot\.|acceptedEpoch|currentEpoch)/;
const LOG_FILES = /^log\./;

export interface MovedAside {
  /** Where each directory's files went. */
  snapDir: string;
  logDir: string;
  /** How many files were moved. */
  files: number;
}

/**
 * Moves the snapshots, epoch files and log segments out of the way (`zabkit server --rejoin-empty`):
 * into `<dataDir>/damaged-<stamp>/snap` and `.../log`, by rename, so nothing is copied or deleted and
 * an operator can still inspect or restore them. A log dir on another filesystem than the data dir
 * (dataLogDir) keeps its files in `<logDir>/damaged-<stamp>/` instead (rename cannot cross devices).
 * Durable when it resolves. `stamp` is the UTC time, e.g. 20261208T004512Z.
 */
export async function moveDamagedAside(dataDir: string, snapDir: string, logDir: string, stamp: string): Promise<MovedAside> {
  const root = join(dataDir, `damaged-${stamp}`);
  const snapTarget = join(root, 'snap');
  const files = await moveFiles(snapDir, SNAP_FILES, snapTarget, null);
  const log = await moveFiles(logDir, LOG_FILES, join(root, 'log'), join(logDir, `damaged-${stamp}`));
  await fsyncDir(dataDir);
  return { snapDir: snapTarget, logDir: log.target, files: files.count + log.count };
}

async function moveFiles(dir: string, pattern: RegExp, target: string, sameDeviceTarget: string | null): Promise<{ target: string; count: number }> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => pattern.test(n)).sort();
  } catch (err) {
    if (isNotFound(err)) return { target, count: 0 };
    throw err;
  }
  let to = target;
  await ensureDir(to);
  for (const name of names) {
    try {
      await rename(join(dir, name), join(to, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV' || sameDeviceTarget === null || to === sameDeviceTarget) throw err;
      to = sameDeviceTarget;
      await ensureDir(to);
      await rename(join(dir, name), join(to, name));
    }
  }
  await fsyncDir(to);
  await fsyncDir(dir);
  return { target: to, count: names.length };
}
