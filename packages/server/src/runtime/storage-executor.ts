import { encodeTxnForLog } from '../core/txn-codec.js';
import type { Txn } from '../core/txn.js';
import type { StorageOp } from '../core/zab/api.js';
import type { EpochStore, SnapshotStore, TxnLog } from '../storage/types.js';

/**
 * Runs the core's storage ops strictly in order, each durable before the
 * next is considered done. Runs of appends are handed to the log at once and
 * share fsyncs (group commit); any other op waits for everything before it.
 */
export class StorageExecutor {
  private tail: Promise<void> = Promise.resolve();
  /** Non-append ops queued and not yet done: appends must then queue behind them. */
  private barriers = 0;
  private appended = 0;

  constructor(
    private readonly log: TxnLog,
    private readonly snapshots: SnapshotStore,
    private readonly epochs: EpochStore,
    /** Called after a truncate op cut the log and snapshots: reloads the state from disk (see reloadLog). */
    private readonly reload: () => Promise<void>,
  ) {}

  /** Txns appended so far (drives the snapshot cadence). */
  get appendedCount(): number {
    return this.appended;
  }

  /** Resolves when `ops` (and every op submitted before them) are durable. */
  submit(ops: readonly StorageOp[]): Promise<void> {
    if (ops.length === 0) {
      this.tail = this.tail.then(noop);
      return this.tail;
    }
    if (this.barriers === 0 && ops.every((o) => o.kind === 'append')) {
      for (const op of ops) if (op.kind === 'append') this.append(op.txns);
      const done = Promise.all([this.tail, this.log.flush()]).then(noop);
      this.tail = done;
      return done;
    }
    this.barriers++;
    const done = this.tail.then(async () => {
      for (const op of ops) await this.exec(op);
    });
    this.tail = done.finally(() => {
      this.barriers--;
    });
    return this.tail;
  }

  /** Waits for everything submitted so far. */
  async idle(): Promise<void> {
    for (;;) {
      const t = this.tail;
      await t.catch(noop);
      if (t === this.tail) return;
    }
  }

  private append(txns: readonly Txn[]): void {
    this.log.append(txns.map((t) => ({ zxid: t.hdr.zxid, bytes: encodeTxnForLog(t) })));
    this.appended += txns.length;
  }

  private async exec(op: StorageOp): Promise<void> {
    switch (op.kind) {
      case 'append':
        this.append(op.txns);
        await this.log.flush();
        return;
      case 'acceptedEpoch':
        await this.epochs.setAcceptedEpoch(op.epoch);
        return;
      case 'currentEpoch':
        await this.epochs.setCurrentEpoch(op.epoch);
        return;
      case 'truncate':
        await this.log.flush();
        await this.log.truncateAfter(op.zxid);
        await this.snapshots.removeNewerThan(op.zxid);
        await this.reload();
        return;
      case 'installSnapshot': {
        await this.log.flush();
        const writer = await this.snapshots.begin(op.zxid);
        try {
          for (const chunk of op.chunks) await writer.write(chunk);
          await writer.commit();
        } catch (err) {
          await writer.abort().catch(noop);
          throw err;
        }
        if (this.log.lastZxid() > op.zxid) await this.log.truncateAfter(op.zxid);
        await this.snapshots.removeNewerThan(op.zxid);
        // The txns before op.zxid are in the snapshot only: the log goes on in a segment that says so.
        await this.log.restartAfter(op.zxid);
        return;
      }
    }
  }
}

function noop(): void {}
