import type { Zxid } from '@zabkit/protocol';
import type { SegmentSpan } from './history-check.js';

/** One record of the transaction log: its zxid and the encoded txn. */
export interface LogRecord {
  zxid: Zxid;
  bytes: Uint8Array;
}

export interface LogRecovery {
  /** Every valid record after the requested zxid, in zxid order. */
  records: LogRecord[];
  /** Things an operator should know (a torn tail that was truncated, ...). */
  warnings: string[];
}

/**
 * Append-only, CRC32C-checked, length-prefixed transaction log split into
 * segment files. `append` buffers; `flush` writes and fsyncs everything
 * appended so far, and concurrent flushes share one fsync (group commit).
 * A record is durable only once a flush that started after its append resolved.
 */
export interface TxnLog {
  /** Opens (creating dirs), validates every segment, truncates a torn tail, and throws
   *  CorruptLogError on corruption that is not at the tail. Returns records with zxid > after. */
  open(after: Zxid): Promise<LogRecovery>;
  append(records: readonly LogRecord[]): void;
  flush(): Promise<void>;
  /** Highest zxid appended (durable or not), or the one restartAfter continued after; 0n when empty. */
  lastZxid(): Zxid;
  /** Starts a new segment file; the next record appended opens it. */
  roll(): Promise<void>;
  /**
   * After a snapshot at `zxid` was installed (SNAP sync) or loaded above the log's end: starts a new
   * segment whose prevZxid is `zxid`, so the history visibly continues from that snapshot and not
   * from the log's last record (which would hide the txns in between). The next record must be
   * above `zxid`. Throws a RangeError when `zxid` is below the last logged zxid (truncate first).
   */
  restartAfter(zxid: Zxid): Promise<void>;
  /** The durable segments, oldest first, as findHistoryGap takes them. */
  segmentSpans(): SegmentSpan[];
  /** Removes every record with zxid > zxid (TRUNC during sync). Durable when it resolves. */
  truncateAfter(zxid: Zxid): Promise<void>;
  /** Reads records with zxid > after that are durable, in order (for DIFF sync). */
  readFrom(after: Zxid): Promise<LogRecord[]>;
  /** Deletes segment files whose every record is <= zxid, keeping the segment that holds zxid's successor. */
  purgeThrough(zxid: Zxid): Promise<number>;
  close(): Promise<void>;
}

export interface SnapshotWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** fsyncs and atomically publishes the snapshot. */
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface LoadedSnapshot {
  zxid: Zxid;
  chunks: Uint8Array[];
}

/** Snapshots as files `snapshot.<zxid hex>`, each a header, CRC-checked chunks and a trailer. */
export interface SnapshotStore {
  /** `zxid` is the last zxid applied when the (fuzzy) snapshot started. */
  begin(zxid: Zxid): Promise<SnapshotWriter>;
  /** Newest snapshot that validates completely; invalid newer ones are skipped with a warning. */
  loadLatest(): Promise<{ snapshot: LoadedSnapshot | null; warnings: string[] }>;
  /** zxids of valid-looking snapshot files, newest first. */
  list(): Promise<Zxid[]>;
  /** Keeps the newest `retain` snapshots, deletes the rest; returns the oldest retained zxid (or null). */
  purge(retain: number): Promise<Zxid | null>;
  /** Deletes every snapshot newer than `zxid` (a TRUNC below them); returns how many. */
  removeNewerThan(zxid: Zxid): Promise<number>;
}

/** Durable acceptedEpoch / currentEpoch (ZAB), each written atomically. */
export interface EpochStore {
  load(): Promise<{ acceptedEpoch: number; currentEpoch: number }>;
  setAcceptedEpoch(epoch: number): Promise<void>;
  setCurrentEpoch(epoch: number): Promise<void>;
}

export class CorruptLogError extends Error {
  override readonly name = 'CorruptLogError';
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super(message);
  }
}
