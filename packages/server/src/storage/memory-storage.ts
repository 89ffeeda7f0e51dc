import type { Zxid } from '@zabkit/protocol';
import { MemoryTxnLog, type CrashOptions, type MemoryTxnLogOptions } from './memory-txn-log.js';
import type { EpochStore, LoadedSnapshot, SnapshotStore, SnapshotWriter } from './types.js';

export { MemoryTxnLog, type CrashOptions, type MemoryTxnLogOptions } from './memory-txn-log.js';

interface StoredSnapshot {
  chunks: Uint8Array[];
  valid: boolean;
}

/** Snapshots in memory; only committed ones survive crash(). */
export class MemorySnapshotStore implements SnapshotStore {
  private readonly snaps = new Map<Zxid, StoredSnapshot>();

  async begin(zxid: Zxid): Promise<SnapshotWriter> {
    const chunks: Uint8Array[] = [];
    let state: 'open' | 'committed' | 'aborted' = 'open';
    const assertOpen = (): void => {
      if (state !== 'open') throw new Error(`snapshot writer already ${state}`);
    };
    return {
      write: async (chunk) => {
        assertOpen();
        chunks.push(chunk.slice());
      },
      commit: async () => {
        assertOpen();
        state = 'committed';
        this.snaps.set(zxid, { chunks, valid: true });
      },
      abort: async () => {
        if (state === 'open') state = 'aborted';
      },
    };
  }

  async loadLatest(): Promise<{ snapshot: LoadedSnapshot | null; warnings: string[] }> {
    const warnings: string[] = [];
    for (const zxid of await this.list()) {
      const s = this.snaps.get(zxid)!;
      if (s.valid) return { snapshot: { zxid, chunks: [...s.chunks] }, warnings };
      warnings.push(`snapshot 0x${zxid.toString(16)} is invalid; skipped`);
    }
    return { snapshot: null, warnings };
  }

  async list(): Promise<Zxid[]> {
    return [...this.snaps.keys()].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  }

  /** Same rule as the file store: keep the newest `retain` valid ones, drop everything older. */
  async purge(retain: number): Promise<Zxid | null> {
    if (!Number.isInteger(retain) || retain < 1) throw new RangeError(`snapshot purge: retain must be >= 1, got ${retain}`);
    const zxids = await this.list();
    let kept = 0;
    let oldest: Zxid | null = null;
    let i = 0;
    for (; i < zxids.length && kept < retain; i++) {
      if (this.snaps.get(zxids[i]!)!.valid) {
        kept++;
        oldest = zxids[i]!;
      }
    }
    if (oldest !== null) for (const z of zxids.slice(i)) this.snaps.delete(z);
    return oldest;
  }

  async removeNewerThan(zxid: Zxid): Promise<number> {
    let removed = 0;
    for (const z of [...this.snaps.keys()]) {
      if (z > zxid) {
        this.snaps.delete(z);
        removed++;
      }
    }
    return removed;
  }

  /** Test / simulator hook: makes a stored snapshot fail validation (like a bad CRC). */
  corrupt(zxid: Zxid): void {
    const s = this.snaps.get(zxid);
    if (!s) throw new Error(`no snapshot 0x${zxid.toString(16)}`);
    s.valid = false;
  }

  /** Committed snapshots survive; writers in progress are lost. */
  crash(): MemorySnapshotStore {
    const copy = new MemorySnapshotStore();
    for (const [z, s] of this.snaps) copy.snaps.set(z, { chunks: [...s.chunks], valid: s.valid });
    return copy;
  }
}

/** Epochs in memory; every completed set survives crash(). */
export class MemoryEpochStore implements EpochStore {
  constructor(
    private acceptedEpoch = 0,
    private currentEpoch = 0,
  ) {}

  async load(): Promise<{ acceptedEpoch: number; currentEpoch: number }> {
    return { acceptedEpoch: this.acceptedEpoch, currentEpoch: this.currentEpoch };
  }

  async setAcceptedEpoch(epoch: number): Promise<void> {
    checkEpoch(epoch);
    this.acceptedEpoch = epoch;
  }

  async setCurrentEpoch(epoch: number): Promise<void> {
    checkEpoch(epoch);
    this.currentEpoch = epoch;
  }

  crash(): MemoryEpochStore {
    return new MemoryEpochStore(this.acceptedEpoch, this.currentEpoch);
  }
}

function checkEpoch(epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`invalid epoch ${epoch}`);
}

/** The three stores of one simulated server, crashed together. */
export class MemoryStorage {
  constructor(
    readonly log: MemoryTxnLog = new MemoryTxnLog(),
    readonly snapshots: MemorySnapshotStore = new MemorySnapshotStore(),
    readonly epochs: MemoryEpochStore = new MemoryEpochStore(),
  ) {}

  static create(logOptions: MemoryTxnLogOptions = {}): MemoryStorage {
    return new MemoryStorage(new MemoryTxnLog(logOptions));
  }

  /** What a restarted process finds: durable state only (this instance's log stops working). */
  crash(options: CrashOptions = {}): MemoryStorage {
    return new MemoryStorage(this.log.crash(options), this.snapshots.crash(), this.epochs.crash());
  }
}
