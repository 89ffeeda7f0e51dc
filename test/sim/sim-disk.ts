import type { Zxid } from '@zabkit/protocol';
import type { StorageOp, Txn } from '@zabkit/server';

/** A fake disk: what a node has made durable (only synced state survives a crash). */
export class SimDisk {
  log: Txn[] = [];
  snapshots: Array<{ zxid: Zxid; chunks: Uint8Array[] }> = [];
  acceptedEpoch = 0;
  currentEpoch = 0;

  apply(op: StorageOp): void {
    switch (op.kind) {
      case 'append':
        for (const t of op.txns) {
          const last = this.log[this.log.length - 1];
          if (last && t.hdr.zxid <= last.hdr.zxid) throw new Error(`non-increasing append 0x${t.hdr.zxid.toString(16)} after 0x${last.hdr.zxid.toString(16)}`);
          this.log.push(t);
        }
        return;
      case 'truncate':
        this.log = this.log.filter((t) => t.hdr.zxid <= op.zxid);
        this.snapshots = this.snapshots.filter((s) => s.zxid <= op.zxid);
        return;
      case 'installSnapshot':
        this.snapshots.push({ zxid: op.zxid, chunks: op.chunks });
        this.log = this.log.filter((t) => t.hdr.zxid <= op.zxid);
        return;
      case 'acceptedEpoch':
        this.acceptedEpoch = op.epoch;
        return;
      case 'currentEpoch':
        this.currentEpoch = op.epoch;
        return;
    }
  }

  /** What a restart (or a TRUNC reload) reads: newest snapshot, then the log after it. */
  load(): { chunks: Uint8Array[] | null; txns: Txn[] } {
    const snap = this.snapshots[this.snapshots.length - 1] ?? null;
    const from = snap?.zxid ?? 0n;
    return { chunks: snap?.chunks ?? null, txns: this.log.filter((t) => t.hdr.zxid > from) };
  }

  snapshotZxid(): Zxid | null {
    return this.snapshots[this.snapshots.length - 1]?.zxid ?? null;
  }

  lastZxid(): Zxid {
    const log = this.log[this.log.length - 1]?.hdr.zxid ?? 0n;
    const snap = this.snapshotZxid() ?? 0n;
    return log > snap ? log : snap;
  }
}
