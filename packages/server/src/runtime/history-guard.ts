/**
 * The startup rule "a server starts only from a history it can prove complete": epochs present, and
 * the newest valid snapshot plus the log forming one gap-free history (findHistoryGap). Anything
 * else is an IncompleteHistoryError naming what is missing and the two ways out.
 */
import { readdir } from 'node:fs/promises';
import type { Zxid } from '@zabkit/protocol';
import { moveDamagedAside } from '../storage/move-aside.js';
import { openFileStorage, type FileStorage } from '../storage/open-storage.js';
import { findHistoryGap, type HistoryGap } from '../storage/history-check.js';
import { parseSegmentName } from '../storage/format.js';
import { isNotFound } from '../storage/fs-util.js';
import { CorruptLogError, type TxnLog } from '../storage/types.js';
import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';

/** The data dir does not hold a whole history (or its epochs): the server refuses to start from it. */
export class IncompleteHistoryError extends Error {
  override readonly name = 'IncompleteHistoryError';
  constructor(
    message: string,
    /** What is missing or damaged, without the advice (e.g. the gap's message). */
    readonly problem: string,
    /** The gap in the txn history, when that is the problem. */
    readonly gap: HistoryGap | null = null,
  ) {
    super(message);
  }
}

/** Errors --rejoin-empty answers by moving the data aside: a gap, missing epochs, a corrupt log. */
export function isDamagedData(err: unknown): err is IncompleteHistoryError | CorruptLogError {
  return err instanceof IncompleteHistoryError || err instanceof CorruptLogError;
}

/** The refusal: what is wrong, and how to get out of it. */
export function refusal(storage: Pick<FileStorage, 'snapDir' | 'logDir'>, dataDir: string, problem: string, gap: HistoryGap | null = null): IncompleteHistoryError {
  return new IncompleteHistoryError(
    `server refuses to start: ${problem}. The data in ${storage.snapDir} and ${storage.logDir} is not a whole history, ` +
      'and serving from it would serve part of the tree. Either restore the missing files, or restart this server with ' +
      `\`zabkit server --rejoin-empty\` (runServer option rejoinEmpty): it moves the damaged files aside into ${dataDir}/damaged-<UTC time>/ ` +
      'and starts empty, so that the leader sends it a full snapshot',
    problem,
    gap,
  );
}

/**
 * The epochs, or a refusal when a file is missing or unreadable. A brand-new data dir (no log
 * segment, no snapshot, and no epoch file other than 0) gets both written as 0 first, durably, so
 * that from then on a missing file always means damage. (The ZAB crash window between logging the
 * synced txns and writing the new currentEpoch leaves the old file in place: that starts.)
 */
export async function loadEpochs(storage: FileStorage, dataDir: string): Promise<{ acceptedEpoch: number; currentEpoch: number }> {
  const paths = storage.epochs.paths();
  let found;
  try {
    found = await storage.epochs.readFiles();
  } catch (err) {
    throw refusal(storage, dataDir, (err as Error).message);
  }
  const { acceptedEpoch, currentEpoch } = found;
  if (acceptedEpoch !== null && currentEpoch !== null) return { acceptedEpoch, currentEpoch };
  const fresh = (acceptedEpoch ?? 0) === 0 && (currentEpoch ?? 0) === 0 && !(await holdsHistory(storage));
  if (!fresh) {
    const missing = [acceptedEpoch === null ? paths.acceptedEpoch : null, currentEpoch === null ? paths.currentEpoch : null].filter((p) => p !== null);
    throw refusal(storage, dataDir, `epoch file${missing.length > 1 ? 's' : ''} ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing`);
  }
  await storage.epochs.initialize();
  return { acceptedEpoch: 0, currentEpoch: 0 };
}

/** Whether any log segment or snapshot file (valid or not) is there. */
async function holdsHistory(storage: FileStorage): Promise<boolean> {
  if ((await storage.snapshots.list()).length > 0) return true;
  try {
    return (await readdir(storage.logDir)).some((n) => parseSegmentName(n) !== null);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * After the log was opened (recovered): refuses (the log closed) unless the snapshot and the log
 * form one history; then, when the snapshot is newer than the log's end, makes the log continue
 * after it in a new segment (TxnLog.restartAfter), so the next txn does not land in a segment whose
 * records stop before the snapshot.
 */
export async function checkHistory(
  storage: FileStorage,
  dataDir: string,
  snapshotZxid: Zxid | null,
  log: TxnLog,
): Promise<void> {
  const gap = findHistoryGap(snapshotZxid, log.segmentSpans());
  if (gap) {
    await log.close().catch(() => {});
    throw refusal(storage, dataDir, gap.message, gap);
  }
  if (snapshotZxid !== null && snapshotZxid > log.lastZxid()) await log.restartAfter(snapshotZxid);
}

/**
 * --rejoin-empty after `err` refused the data dir: moves its files aside (saying where) so that the
 * next start is a brand-new, empty one. Refuses (rethrows) for a standalone server: nothing could
 * send it the data back.
 */
export async function moveAsideToRejoin(config: ServerConfig, logger: Logger, err: IncompleteHistoryError | CorruptLogError): Promise<void> {
  if (config.servers.length <= 1) {
    throw new Error(`${err.message}. --rejoin-empty needs an ensemble to copy the data from: a standalone server would start empty and stay so`, {
      cause: err,
    });
  }
  const storage = await openFileStorage({ dataDir: config.dataDir, dataLogDir: config.dataLogDir });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const moved = await moveDamagedAside(config.dataDir, storage.snapDir, storage.logDir, stamp);
  logger.warn(`--rejoin-empty: the data dir is damaged: ${err instanceof IncompleteHistoryError ? err.problem : err.message}`);
  logger.warn(
    `--rejoin-empty: moved ${moved.files} file(s) aside, the snapshots and epochs to ${moved.snapDir} and the log to ${moved.logDir}; ` +
      'starting empty, to receive a full snapshot from the leader',
  );
}
