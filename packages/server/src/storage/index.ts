export * from './types.js';
export { FileTxnLog, type FileTxnLogOptions, type TxnLogStats } from './file-txn-log.js';
export { FileSnapshotStore, type FileSnapshotStoreOptions } from './file-snapshot-store.js';
export { FileEpochStore, type EpochFiles } from './file-epoch-store.js';
export { moveDamagedAside, type MovedAside } from './move-aside.js';
export { segmentSpans } from './segment-recovery.js';
export {
  MemoryStorage,
  MemoryTxnLog,
  MemorySnapshotStore,
  MemoryEpochStore,
  type CrashOptions,
  type MemoryTxnLogOptions,
} from './memory-storage.js';
export { openFileStorage, type FileStorage, type FileStorageOptions } from './open-storage.js';
export { GroupCommit } from './group-commit.js';
export { findHistoryGap, type SegmentSpan, type HistoryGap } from './history-check.js';
