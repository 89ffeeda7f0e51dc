import type { DataTree } from './data-tree.js';

/**
 * Finds containers and TTL nodes to remove without scanning the tree: the tree
 * reports candidates (a container that lost its last child, a TTL node
 * created or emptied) and `sweep` looks only at those, at most once per interval.
 * A container goes once it has had a child and has none now; a TTL node once
 * it has no children and was not modified for ttlMs.
 */
export class Reaper {
  private readonly candidates = new Set<string>();
  private lastSweep: number | null = null;

  constructor(private readonly intervalMs: number) {}

  note(path: string): void {
    this.candidates.add(path);
  }

  /** After a restore: every empty used container and every TTL node is a candidate. */
  rebuild(tree: DataTree): void {
    this.candidates.clear();
    for (const n of tree.nodes.values()) {
      if (n.kind === 'ttl' || (n.kind === 'container' && n.children.size === 0 && n.cversion > 0)) this.candidates.add(n.path);
    }
  }

  get size(): number {
    return this.candidates.size;
  }

  /** Paths to delete now (empty when the interval has not passed). `busy` = a write to it is in flight. */
  sweep(tree: DataTree, now: number, busy: (path: string) => boolean): string[] {
    if (this.lastSweep !== null && now - this.lastSweep < this.intervalMs) return [];
    this.lastSweep = now;
    const out: string[] = [];
    for (const path of this.candidates) {
      const n = tree.get(path);
      if (!n || n.kind === 'normal') {
        this.candidates.delete(path);
        continue;
      }
      if (n.children.size > 0 || busy(path)) continue;
      if (n.kind === 'container') {
        if (n.cversion > 0) out.push(path);
        this.candidates.delete(path);
      } else if (n.ttlMs !== undefined && now - n.mtime > n.ttlMs) {
        out.push(path);
      }
    }
    return out.sort();
  }
}
