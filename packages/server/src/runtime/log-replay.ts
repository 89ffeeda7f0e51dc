import type { Zxid } from '@zabkit/protocol';
import { decodeTxn } from '../core/txn-codec.js';
import type { ZabNode } from '../core/zab/zab-node.js';
import type { FileTxnLog } from '../storage/file-txn-log.js';

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
  let records = 0;
  const { warnings } = await log.open(after, (_zxid, bytes) => {
    signal?.throwIfAborted();
    records++;
    node.replay(decodeTxn(bytes));
  });
  node.replayed();
  return { records, warnings };
}
