import type { Zxid } from '@zabkit/protocol';

/**
 * The txns known to be committed cluster-wide (zxid -> key, with the zxids kept sorted for range
 * queries): every txn a serving server applied, and the whole history of a server at the moment it
 * starts serving (a leader that got established, or a learner that synced, serves only committed
 * txns; invariants (b) and (e) guard that side).
 */
export class CommittedHistory {
  private readonly keys = new Map<Zxid, string>();
  private readonly sorted: Zxid[] = [];

  get size(): number {
    return this.keys.size;
  }

  get(zxid: Zxid): string | undefined {
    return this.keys.get(zxid);
  }

  /** Adds a committed txn; returns true when it was not known before. */
  add(zxid: Zxid, key: string): boolean {
    if (this.keys.has(zxid)) return false;
    this.keys.set(zxid, key);
    const n = this.sorted.length;
    if (n === 0 || this.sorted[n - 1]! < zxid) this.sorted.push(zxid);
    else this.sorted.splice(this.firstAbove(zxid), 0, zxid);
    return true;
  }

  /** The smallest committed zxid strictly above `after` and strictly below `before`, if any. */
  firstBetween(after: Zxid, before: Zxid): Zxid | undefined {
    const z = this.sorted[this.firstAbove(after)];
    return z !== undefined && z < before ? z : undefined;
  }

  /** Committed zxids up to and including `through`, oldest first. */
  *through(through: Zxid): Iterable<Zxid> {
    for (const z of this.sorted) {
      if (z > through) return;
      yield z;
    }
  }

  /** Index of the first zxid above `z`. */
  private firstAbove(z: Zxid): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! <= z) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
