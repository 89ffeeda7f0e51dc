import type { Zxid } from '@zabkit/protocol';
import { decodeTxn } from '../core/txn-codec.js';
import type { ZabNode } from '../core/zab/zab-node.js';
import type { FileTxnLog } from '../storage/file-txn-log.js';
import type { OnRecord } from '../storage/segment-recovery.js';
import { findHistoryGap } from '../storage/history-check.js';
import type { SnapshotStore } from '../storage/types.js';
import { IncompleteHistoryError } from './history-guard.js';

/**
 * Opens the log and applies its txns after `after` (the snapshot's zxid) to `node` as recovery reads
 * them: only one segment's buffer is in memory, and each record and txn is garbage once applied (not
 * the whole log plus every decoded txn at once, 1.3 GB for 1M txns). Call it after
 * `node.restore(snapshot, [], epochs)`. If it throws (a corrupt log, or `signal` aborted: checked as
 * each record comes, so in effect between segments, the reads being what yields to the event loop),
 * the node holds part of the log and must be dropped; an abort leaves the log unopened and its
 * files untouched. Returns the number of records read and recovery's warnings.
 */
export async function replayLog(
  log: FileTxnLog,
  after: Zxid,
  node: ZabNode,
  signal?: AbortSignal,
): Promise<{ records: number; warnings: string[] }> {
  const { records, result } = await replayEach(node, (onRecord) => log.open(after, onRecord), signal);
  node.replayed();
  return { records, warnings: result.warnings };
}

/**
 * The reload after a TRUNC (the log already cut): replaces the node's state with the newest snapshot
 * and applies the log after it as replayLog does at startup, one segment in memory at a time. The
 * node's state is half built until this resolves, so nothing else may reach it meanwhile. If it
 * throws (a corrupt log), the node holds part of the log and the server must stop.
 */
export async function reloadLog(
  log: FileTxnLog,
  snapshots: SnapshotStore,
  node: ZabNode,
): Promise<{ records: number; snapshotZxid: Zxid | null; warnings: string[] }> {
  const { snapshot, warnings } = await snapshots.loadLatest();
  // The TRUNC cut the log and removed newer snapshots: what is left must still be one history.
  const gap = findHistoryGap(snapshot?.zxid ?? null, log.segmentSpans());
  if (gap) throw new IncompleteHistoryError(`after a TRUNC, the log does not continue the snapshot: ${gap.message}`, gap.message, gap);
  if (snapshot && snapshot.zxid > log.lastZxid()) await log.restartAfter(snapshot.zxid);
  node.reload(snapshot?.chunks ?? null);
  const { records } = await replayEach(node, (onRecord) => log.readFrom(snapshot?.zxid ?? 0n, onRecord));
  node.reloaded();
  return { records, snapshotZxid: snapshot?.zxid ?? null, warnings };
}

/** Runs `read` with a callback that decodes each record it streams and hands it to `node.replay`. */
async function replayEach<T>(
  node: ZabNode,
  read: (onRecord: OnRecord) => Promise<T>,
  signal?: AbortSignal,
): Promise<{ records: number; result: T }> {
  let records = 0;
  const result = await read((_zxid, bytes) => {
    signal?.throwIfAborted();
    records++;
    node.replay(decodeTxn(bytes));
  });
  return { records, result };
}
