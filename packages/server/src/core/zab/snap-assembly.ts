import { PeerKind, type SnapMsg, type Zxid } from '@zabkit/protocol';
import { DataTree } from '../data-tree.js';
import { SessionTable } from '../sessions.js';
import { readSnapshot } from '../snapshot.js';

/** SNAP as one message per snapshot chunk (each bounded in bytes), so no peer frame holds the whole tree. */
export function* snapMessages(zxid: Zxid, chunks: Iterable<Uint8Array>): Generator<SnapMsg> {
  let prev: Uint8Array | null = null;
  let index = 0;
  for (const chunk of chunks) {
    if (prev !== null) yield { k: PeerKind.snap, zxid, index: index++, last: false, chunk: prev };
    prev = chunk;
  }
  if (prev !== null) yield { k: PeerKind.snap, zxid, index, last: true, chunk: prev };
}

/** Chunks one SNAP may have, whatever their size (a leader sending 1-byte chunks is bounded too). */
export const MAX_SNAP_CHUNKS = 1 << 22;

/**
 * A learner's SNAP in the making: the leader sends one message per snapshot chunk, in order; the
 * snapshot is installed only once the last one arrived, was within bounds and reads back whole.
 */
export class SnapAssembly {
  private zxid: Zxid | null = null;
  private chunks: Uint8Array[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get inProgress(): boolean {
    return this.zxid !== null;
  }

  reset(): void {
    this.zxid = null;
    this.chunks = [];
    this.bytes = 0;
  }

  /**
   * Adds one chunk: returns the whole snapshot after the last, 'more' before it, or why the
   * stream is broken (the learner then drops the leader; nothing was installed).
   */
  add(msg: SnapMsg): { zxid: Zxid; chunks: Uint8Array[] } | 'more' | string {
    if (msg.index === 0) this.reset();
    if (this.zxid === null && msg.index !== 0) return `SNAP chunk ${msg.index} without chunk 0`;
    if (this.zxid !== null && (msg.zxid !== this.zxid || msg.index !== this.chunks.length)) {
      return `SNAP chunk ${msg.index} at 0x${msg.zxid.toString(16)} out of order (expected ${this.chunks.length} at 0x${this.zxid.toString(16)})`;
    }
    this.zxid = msg.zxid;
    this.bytes += msg.chunk.byteLength;
    this.chunks.push(msg.chunk);
    if (this.bytes > this.maxBytes) return `SNAP larger than maxSnapshotBytes (${this.maxBytes})`;
    if (this.chunks.length > MAX_SNAP_CHUNKS) return `SNAP of more than ${MAX_SNAP_CHUNKS} chunks`;
    if (!msg.last) return 'more';
    const out = { zxid: msg.zxid, chunks: this.chunks };
    this.reset();
    // Read into a scratch tree first: a snapshot that does not decode must leave the replica alone.
    let at: Zxid;
    try {
      at = readSnapshot(out.chunks, new DataTree(), new SessionTable());
    } catch (err) {
      return `SNAP does not read back: ${(err as Error)?.message ?? String(err)}`;
    }
    return at === out.zxid ? out : `SNAP header zxid 0x${at.toString(16)} differs from its messages' 0x${out.zxid.toString(16)}`;
  }
}
