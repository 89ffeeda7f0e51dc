import type { Zxid } from '@zabkit/protocol';
import type { SnapshotStore, TxnLog } from '../storage/types.js';
import type { Logger } from './logger.js';

export interface SnapshotSource {
  lastAppliedZxid(): Zxid;
  snapshotChunks(): Iterable<Uint8Array>;
}

/**
 * Takes fuzzy snapshots while writes go on: the chunks are written with an
 * await between each, so the tree may change under the iteration; restart
 * replays the log from the zxid recorded at the start, and txns are
 * idempotent, so the result is exact. Then purges old snapshots and the log
 * segments no retained snapshot needs.
 */
export class Snapshotter {
  private running: Promise<void> | null = null;
  private txnsSince = 0;

  constructor(
    private readonly source: SnapshotSource,
    private readonly snapshots: SnapshotStore,
    private readonly log: TxnLog,
    private readonly opts: { snapCount: number; retain: number; logger: Logger },
  ) {}

  /** Counts logged txns; starts a snapshot once snapCount have been logged since the last. */
  logged(n: number): void {
    this.txnsSince += n;
    if (this.txnsSince >= this.opts.snapCount && !this.running) {
      this.txnsSince = 0;
      this.running = this.take().finally(() => {
        this.running = null;
      });
    }
  }

  /** Waits for a snapshot in progress, if any. */
  async idle(): Promise<void> {
    await this.running;
  }

  async take(): Promise<void> {
    const zxid = this.source.lastAppliedZxid();
    await this.log.roll();
    const writer = await this.snapshots.begin(zxid);
    try {
      for (const chunk of this.source.snapshotChunks()) {
        await writer.write(chunk);
        // One chunk per event-loop turn: requests are served between chunks (no long burst of
        // encoding), and each chunk's garbage dies young instead of piling up into the old space.
        await new Promise<void>((r) => setImmediate(r));
      }
      await writer.commit();
    } catch (err) {
      await writer.abort().catch(() => {});
      this.opts.logger.error(`snapshot at 0x${zxid.toString(16)} failed: ${(err as Error).message}`);
      return;
    }
    this.opts.logger.info(`snapshot written at zxid 0x${zxid.toString(16)}`);
    const oldest = await this.snapshots.purge(this.opts.retain);
    if (oldest !== null) {
      const removed = await this.log.purgeThrough(oldest);
      if (removed > 0) this.opts.logger.info(`purged ${removed} log segment(s) older than 0x${oldest.toString(16)}`);
    }
  }
}
