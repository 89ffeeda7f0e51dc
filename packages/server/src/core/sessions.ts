/** One client session. */
export interface Session {
  id: bigint;
  timeoutMs: number;
  passwd: Uint8Array;
  /** `now` of the last request / ping / connect; null until the first tick after a restore. */
  lastTouch: number | null;
  /** The connection currently bound to the session, or null while disconnected. */
  connId: number | null;
  /** A closeSession txn has been proposed; no more requests are accepted. */
  closing: boolean;
}

export function clampTimeout(requested: number, min: number, max: number): number {
  if (!Number.isFinite(requested)) return max;
  return Math.min(max, Math.max(min, Math.trunc(requested)));
}

export function samePasswd(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/**
 * The session table. Sessions enter and leave only by applied txns
 * (createSession / closeSession); expiry is decided here from `now`.
 */
export class SessionTable {
  private readonly sessions = new Map<bigint, Session>();

  get size(): number {
    return this.sessions.size;
  }

  get(id: bigint): Session | undefined {
    return this.sessions.get(id);
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /** Applies a createSession txn (ignored when the session already exists: replay). */
  add(id: bigint, timeoutMs: number, passwd: Uint8Array, now: number | null): Session {
    const existing = this.sessions.get(id);
    if (existing) return existing;
    const s: Session = { id, timeoutMs, passwd, lastTouch: now, connId: null, closing: false };
    this.sessions.set(id, s);
    return s;
  }

  remove(id: bigint): Session | undefined {
    const s = this.sessions.get(id);
    this.sessions.delete(id);
    return s;
  }

  clear(): void {
    this.sessions.clear();
  }

  touch(id: bigint, now: number): void {
    const s = this.sessions.get(id);
    if (s && !s.closing) s.lastTouch = now;
  }

  /**
   * Sessions whose timeout passed without a touch, not yet closing. Sessions
   * restored from disk (lastTouch null) start their full timeout now.
   */
  expired(now: number): Session[] {
    const out: Session[] = [];
    for (const s of this.sessions.values()) {
      if (s.closing) continue;
      if (s.lastTouch === null) {
        s.lastTouch = now;
        continue;
      }
      if (now - s.lastTouch > s.timeoutMs) out.push(s);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
