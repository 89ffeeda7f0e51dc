import type { EventType } from '@zabkit/protocol';

/** What a watch callback receives. `path` is relative to the client's chroot. */
export interface WatchEvent {
  type: EventType;
  path: string;
}

export type Watcher = (event: WatchEvent) => void;

export type WatchKind = 'data' | 'exist' | 'child';

/**
 * Client-side registry of one-shot watches, keyed by server path (chroot
 * applied). The server keeps one watch per path and kind; the client fans an
 * event out to every callback registered for it, then forgets them.
 */
export class WatchRegistry {
  private readonly maps: Record<WatchKind, Map<string, Set<Watcher>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };

  add(kind: WatchKind, path: string, watcher: Watcher): void {
    const map = this.maps[kind];
    let set = map.get(path);
    if (!set) map.set(path, (set = new Set()));
    set.add(watcher);
  }

  /** Removes and returns every watcher an event triggers (ZooKeeper's trigger table). */
  take(type: EventType, path: string): Watcher[] {
    const kinds: WatchKind[] =
      type === 'NodeChildrenChanged'
        ? ['child']
        : type === 'NodeDeleted'
          ? ['data', 'exist', 'child']
          : ['data', 'exist'];
    const out = new Set<Watcher>();
    for (const kind of kinds) {
      const set = this.maps[kind].get(path);
      if (!set) continue;
      this.maps[kind].delete(path);
      for (const w of set) out.add(w);
    }
    return [...out];
  }

  /** Paths to re-arm after a reconnect, per kind. */
  paths(): { dataWatches: string[]; existWatches: string[]; childWatches: string[] } {
    return {
      dataWatches: [...this.maps.data.keys()],
      existWatches: [...this.maps.exist.keys()],
      childWatches: [...this.maps.child.keys()],
    };
  }

  get size(): number {
    return this.maps.data.size + this.maps.exist.size + this.maps.child.size;
  }

  clear(): void {
    for (const m of Object.values(this.maps)) m.clear();
  }
}
