import { join } from 'node:path';
import { FileEpochStore } from './file-epoch-store.js';
import { FileSnapshotStore } from './file-snapshot-store.js';
import { FileTxnLog } from './file-txn-log.js';

export interface FileStorageOptions {
  /** Server data directory; snapshots and epoch files go to `<dataDir>/snap`. */
  dataDir: string;
  /** Transaction log directory (ZooKeeper's dataLogDir). Default `<dataDir>/log`. */
  dataLogDir?: string | undefined;
  /** Passed to FileTxnLog (default 64 MiB). */
  maxSegmentBytes?: number;
  /** Passed to FileTxnLog (default PREALLOCATE_BYTES; 0 disables it). */
  preallocateBytes?: number;
}

export interface FileStorage {
  /** Not yet opened: call `log.open(snapshotZxid)` before use. */
  log: FileTxnLog;
  snapshots: FileSnapshotStore;
  epochs: FileEpochStore;
  /** Resolved directories. */
  snapDir: string;
  logDir: string;
}

/** The file-backed stores of one server. Creates nothing until they are used. */
export async function openFileStorage(options: FileStorageOptions): Promise<FileStorage> {
  const snapDir = join(options.dataDir, 'snap');
  const logDir = options.dataLogDir ?? join(options.dataDir, 'log');
  const log = new FileTxnLog({ dir: logDir, maxSegmentBytes: options.maxSegmentBytes, preallocateBytes: options.preallocateBytes });
  return { log, snapshots: new FileSnapshotStore(snapDir), epochs: new FileEpochStore(snapDir), snapDir, logDir };
}
