import type { Zxid } from '@zabkit/protocol';
import type { Txn } from '../txn.js';

/**
 * The leader's in-memory window of its newest committed txns (ZooKeeper's
 * committedLog), from which a lagging learner is brought up to date by DIFF.
 * `base` is the zxid just before the window: a learner at `base` can be
 * DIFFed with the whole window; 0n with nothing evicted means complete history.
 */
export class CommittedLog {
  private txns: Txn[] = [];
  private base: Zxid = 0n;

  constructor(private readonly capacity: number) {}

  /** Starts over from a state at `base` (a snapshot's zxid, or 0n). */
  reset(base: Zxid): void {
    this.txns = [];
    this.base = base;
  }

  add(txn: Txn): void {
    this.txns.push(txn);
    // Trim in steps of a quarter window, not one txn per add: shifting the whole array on
    // every commit showed up in the leader's profile. The window holds at least `capacity`.
    if (this.txns.length > this.capacity + Math.max(1, this.capacity >> 2)) {
      const dropped = this.txns.splice(0, this.txns.length - this.capacity);
      this.base = dropped[dropped.length - 1]!.hdr.zxid;
    }
  }

  get last(): Zxid {
    return this.txns.length > 0 ? this.txns[this.txns.length - 1]!.hdr.zxid : this.base;
  }

  /**
   * How to bring a learner whose last logged zxid is `peer` up to date:
   * - diff: its log is a prefix of ours; send `txns`;
   * - trunc: it has txns we never committed; cut it back to `to`, then send `txns`;
   * - snap: it is older than the window.
   */
  planSync(peer: Zxid): { kind: 'diff'; txns: Txn[] } | { kind: 'trunc'; to: Zxid; txns: Txn[] } | { kind: 'snap' } {
    if (peer === this.last) return { kind: 'diff', txns: [] };
    if (peer > this.last) return { kind: 'trunc', to: this.last, txns: [] };
    if (peer < this.base) return { kind: 'snap' };
    if (peer === this.base) return { kind: 'diff', txns: this.txns.slice() };
    // base < peer < last: find peer in the window, or the last txn before it.
    let lo = 0;
    let hi = this.txns.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.txns[mid]!.hdr.zxid <= peer) lo = mid;
      else hi = mid - 1;
    }
    const at = this.txns[lo]!;
    if (at.hdr.zxid > peer) return { kind: 'trunc', to: this.base, txns: this.txns.slice() };
    if (at.hdr.zxid === peer) return { kind: 'diff', txns: this.txns.slice(lo + 1) };
    return { kind: 'trunc', to: at.hdr.zxid, txns: this.txns.slice(lo + 1) };
  }
}
