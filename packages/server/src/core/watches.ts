import type { EventType } from '@zabkit/protocol';
import type { Trigger } from './data-tree.js';

export type WatchKind = 'data' | 'exist' | 'child';

/** A notification for one session. */
export interface WatchEvent {
  sessionId: bigint;
  type: EventType;
  path: string;
}

/**
 * One-shot watches, per session. Data watches come from getData and from
 * exists on an existing node, exist watches from exists on a missing node,
 * child watches from getChildren. A change delivers one event per path per
 * session, however many ways that session watched the path.
 */
export class WatchManager {
  private readonly byKind: Record<WatchKind, Map<string, Set<bigint>>> = {
    data: new Map(),
    exist: new Map(),
    child: new Map(),
  };
  /** The paths each session watches, per kind, for cleanup. */
  private readonly bySession = new Map<bigint, Record<WatchKind, Set<string>>>();

  /** `maxPerSession` bounds what one session can make the server hold (see admits). */
  constructor(readonly maxPerSession = Number.POSITIVE_INFINITY) {}

  /** Watches the session holds (a path watched two ways counts twice). */
  countOf(sessionId: bigint): number {
    const mine = this.bySession.get(sessionId);
    return mine ? mine.data.size + mine.exist.size + mine.child.size : 0;
  }

  /** Whether add() of this watch stays within the session's cap (re-adding one it holds always does). */
  admits(sessionId: bigint, kind: WatchKind, path: string): boolean {
    return this.countOf(sessionId) < this.maxPerSession || this.has(sessionId, kind, path);
  }

  add(sessionId: bigint, kind: WatchKind, path: string): void {
    const m = this.byKind[kind];
    let set = m.get(path);
    if (!set) m.set(path, (set = new Set()));
    set.add(sessionId);
    let mine = this.bySession.get(sessionId);
    if (!mine) this.bySession.set(sessionId, (mine = { data: new Set(), exist: new Set(), child: new Set() }));
    mine[kind].add(path);
  }

  has(sessionId: bigint, kind: WatchKind, path: string): boolean {
    return this.byKind[kind].get(path)?.has(sessionId) ?? false;
  }

  /** Total registrations (a session watching a path two ways counts twice). */
  count(): number {
    let n = 0;
    for (const kind of ['data', 'exist', 'child'] as const) for (const s of this.byKind[kind].values()) n += s.size;
    return n;
  }

  /** Forgets every watch (the server stopped serving; clients re-arm them on reconnect). */
  clear(): void {
    for (const kind of ['data', 'exist', 'child'] as const) this.byKind[kind].clear();
    this.bySession.clear();
  }

  /** Removes every watch of a session (its connection closed, or it ended). */
  removeSession(sessionId: bigint): void {
    const mine = this.bySession.get(sessionId);
    if (!mine) return;
    for (const kind of ['data', 'exist', 'child'] as const) {
      for (const path of mine[kind]) this.take(kind, path, sessionId);
    }
    this.bySession.delete(sessionId);
  }

  private take(kind: WatchKind, path: string, sessionId: bigint): void {
    const m = this.byKind[kind];
    const set = m.get(path);
    if (!set) return;
    set.delete(sessionId);
    if (set.size === 0) m.delete(path);
  }

  /** Fires (and removes) the watches of `kinds` on `path`: one event per session. */
  private fire(path: string, type: EventType, kinds: readonly WatchKind[], out: WatchEvent[]): void {
    const sessions = new Set<bigint>();
    for (const kind of kinds) {
      const set = this.byKind[kind].get(path);
      if (!set) continue;
      for (const s of set) {
        sessions.add(s);
        this.bySession.get(s)?.[kind].delete(path);
      }
      this.byKind[kind].delete(path);
    }
    for (const sessionId of sessions) out.push({ sessionId, type, path });
  }

  /** Maps tree changes to events, removing the watches that fired. */
  trigger(triggers: readonly Trigger[]): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (const t of triggers) {
      switch (t.type) {
        case 'created':
          this.fire(t.path, 'NodeCreated', ['exist', 'data'], out);
          break;
        case 'deleted':
          this.fire(t.path, 'NodeDeleted', ['data', 'exist', 'child'], out);
          break;
        case 'dataChanged':
          this.fire(t.path, 'NodeDataChanged', ['data', 'exist'], out);
          break;
        case 'childrenChanged':
          this.fire(t.path, 'NodeChildrenChanged', ['child'], out);
          break;
      }
    }
    return out;
  }
}
