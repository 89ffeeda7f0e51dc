import { FrameKind, OpCode, type Zxid } from '@zabkit/protocol';
import type { AckedWrite } from './checker.js';
import type { Rng } from '../support/rng.js';
import type { SimCluster, SimConn } from './sim-cluster.js';

const enc = (s: string) => new TextEncoder().encode(s);

interface Outstanding {
  type: 'create' | 'setData' | 'ping';
  path: string;
}

/**
 * A simulated client: one session, connected to a random server, issuing
 * creates and setData with unique values. When its connection closes (server
 * crash, server stopped serving, refusal) it reconnects to another server with
 * sessionId + passwd + the last zxid it saw, starting a new session if the old
 * one expired. Every write answered without an error is reported as acked.
 */
export class SimClient {
  sessionId = 0n;
  passwd: Uint8Array = new Uint8Array();
  lastZxidSeen: Zxid = 0n;
  conn: SimConn | null = null;
  private read = 0;
  private xid = 0;
  private connected = false;
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly paths: string[] = [];
  private seq = 0;
  private lastSentAt = 0;
  active = true;
  readonly stats = { writes: 0, acked: 0, reconnects: 0, sessions: 0, expired: 0 };

  constructor(
    private readonly sim: SimCluster,
    readonly id: number,
    private readonly rng: Rng,
    private readonly onAck: (a: AckedWrite) => void,
    /** Mean pause between a client's actions, ms. */
    private readonly pauseMs = 120,
  ) {}

  /** Starts the client's loop at sim time `at`; it stops acting once `active` is false. */
  start(at: number): void {
    this.sim.schedule(at, () => this.step());
  }

  private step(): void {
    if (!this.active) return;
    this.poll();
    if (!this.conn || this.conn.closed) this.reconnect();
    else if (this.connected) this.act();
    this.sim.schedule(this.sim.now + this.rng.int(this.pauseMs / 4, this.pauseMs * 2), () => this.step());
  }

  /** Reads the frames the server sent since the last poll. */
  poll(): void {
    const c = this.conn;
    if (!c) return;
    while (this.read < c.frames.length) {
      const f = c.frames[this.read++]!;
      if (f.k === FrameKind.connected) {
        if (this.sessionId !== f.sessionId) this.stats.sessions++;
        this.sessionId = f.sessionId;
        this.passwd = f.passwd;
        if (f.zxid > this.lastZxidSeen) this.lastZxidSeen = f.zxid;
        this.connected = true;
      } else if (f.k === FrameKind.connectRefused) {
        if (f.err === 'SessionExpired') {
          this.stats.expired++;
          this.sessionId = 0n;
          this.passwd = new Uint8Array();
        }
      } else if (f.k === FrameKind.response) {
        if (f.zxid > this.lastZxidSeen) this.lastZxidSeen = f.zxid;
        const o = this.outstanding.get(f.xid);
        if (!o) continue;
        this.outstanding.delete(f.xid);
        if (o.type === 'ping') continue;
        if (f.err === undefined) {
          this.stats.acked++;
          if (o.type === 'create') this.paths.push(o.path);
          this.onAck({
            zxid: f.zxid,
            key: `${f.zxid.toString(16)}:${this.sessionId.toString(16)}:${f.xid}:${o.type}`,
            server: c.server,
            at: this.sim.now,
          });
        } else if (f.err === 'SessionExpired') {
          this.sessionId = 0n;
        }
      } else if (f.k === FrameKind.event) {
        if (f.zxid > this.lastZxidSeen) this.lastZxidSeen = f.zxid;
      }
    }
    if (c.closed) {
      // Whatever was in flight has an unknown outcome.
      this.outstanding.clear();
      this.connected = false;
    }
  }

  private reconnect(): void {
    const server = this.rng.pick(this.sim.ids);
    this.stats.reconnects++;
    this.connected = false;
    this.read = 0;
    this.outstanding.clear();
    this.conn = this.sim.openConn(server, this.sessionId, this.passwd, this.lastZxidSeen);
    this.poll();
  }

  private act(): void {
    const conn = this.conn!;
    // Now and then a client moves on its own (session moves between servers).
    if (this.rng.chance(0.01)) {
      this.sim.closeConn(conn);
      this.poll();
      return;
    }
    if (this.outstanding.size >= 3) return;
    const unique = `c${this.id}-${this.seq++}`;
    const xid = ++this.xid;
    if (this.paths.length > 0 && this.rng.chance(0.4)) {
      const path = this.rng.pick(this.paths);
      this.outstanding.set(xid, { type: 'setData', path });
      this.sim.send(conn, xid, { op: OpCode.setData, path, data: enc(unique), version: -1 });
    } else if (this.rng.chance(0.1) && this.sim.now - this.lastSentAt < 300) {
      this.outstanding.set(xid, { type: 'ping', path: '' });
      this.sim.send(conn, xid, { op: OpCode.ping });
    } else {
      const path = `/${unique}`;
      const mode = this.rng.chance(0.2) ? 'ephemeral' : 'persistent';
      this.outstanding.set(xid, { type: 'create', path });
      this.sim.send(conn, xid, { op: OpCode.create, path, data: enc(unique), mode });
    }
    this.stats.writes++;
    this.lastSentAt = this.sim.now;
    this.poll();
  }
}
