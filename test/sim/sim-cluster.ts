import { FrameKind, PROTOCOL_VERSION, SESSION_PASSWD_BYTES, type PeerMessage, type Request, type ServerFrame, type Zxid } from '@zabkit/protocol';
import { ZabNode, resolveCoreOptions, resolveZabOptions, type NodeReady, type PeerConfig, type StorageOp, type ZabOptions } from '@zabkit/server';
import { Rng } from '../support/rng.js';
import { SimDisk, type SimSnapshot } from './sim-disk.js';

export interface SimOptions {
  voters: number;
  observers?: number;
  seed: number;
  tickMs?: number;
  /** Network delay range in ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** fsync delay range in ms. */
  minFsyncMs?: number;
  maxFsyncMs?: number;
  committedLogSize?: number;
  /** On a crash, keep a random prefix of the storage ops still in flight (a disk that wrote part of a batch). */
  tornDisk?: boolean;
  initLimit?: number;
  syncLimit?: number;
  /** A server snapshots after this many applied txns (at lastApplied, once its storage is idle, as Snapshotter does); 0: never. */
  snapEvery?: number;
  /** Autopurge after each snapshot: keep this many snapshots and the log segments they need. */
  snapRetain?: number;
  /**
   * Start as a real server does: refuse a disk whose history has a gap or that lacks an epoch file
   * (and stop a server whose TRUNC reload finds a gap). Default true; false only to show what the
   * checkers see without it.
   */
  checkStart?: boolean;
  /** Other replication settings for every server. */
  zab?: Partial<ZabOptions>;
}

/** Hooks for checkers; every one is optional. */
export interface SimHooks {
  /** A server is about to (re)load its state from disk: restart, or TRUNC reload. */
  onLoad?(id: number, reason: 'restart' | 'reload', snapshot: SimSnapshot | null): void;
  /** A server wrote a snapshot of its state at `snap.zxid` (its own, not a SNAP from the leader). */
  onSnapshot?(id: number, snap: SimSnapshot): void;
  /** A server refused to start (or stopped at a TRUNC reload) because its disk fails the start checks. */
  onRefusal?(id: number, reason: string): void;
  /** A committed txn was applied on a server (also during a load's replay). */
  onApply?(id: number, zxid: Zxid, key: string): void;
  /** A storage op is about to become durable on a server's disk. */
  onDiskOp?(id: number, op: StorageOp, disk: SimDisk): void;
  /** A peer message was handed to the network (`afterStorage`: it waited for this Ready's storage). */
  onSend?(from: number, to: number, msg: PeerMessage, afterStorage: boolean): void;
  /** A peer message is about to be stepped into its receiver. */
  onDeliver?(from: number, to: number, msg: PeerMessage): void;
  /** A peer message was stepped into its receiver. */
  onDelivered?(from: number, to: number, msg: PeerMessage): void;
  /** A server crashed; `kept` storage ops of the in-flight ones reached the disk (torn disk). */
  onCrash?(id: number, kept: number, lost: number): void;
}

type Event =
  | { at: number; seq: number; kind: 'msg'; from: number; to: number; msg: PeerMessage; link: number }
  | { at: number; seq: number; kind: 'tick'; id: number; gen: number }
  | { at: number; seq: number; kind: 'storage'; id: number; gen: number; ops: StorageOp[]; after: NodeReady['sendAfterStorage'] }
  | { at: number; seq: number; kind: 'call'; fn: () => void };

/** An event before it gets its sequence number (Omit distributed over the union). */
type NewEvent = Event extends infer E ? (E extends Event ? Omit<E, 'seq'> : never) : never;

interface Link {
  gen: number;
  /** Arrival time of the newest message on the link (FIFO: none may arrive before it). */
  lastAt: number;
  /** When the newest message was sent; messages sent at one instant share one arrival. */
  lastSentAt: number;
}

interface SimServer {
  id: number;
  node: ZabNode | null;
  disk: SimDisk;
  /** Bumped on every crash: events of an older incarnation are dropped. */
  gen: number;
  /** When this node's storage queue is free again (ops run strictly in order). */
  storageFreeAt: number;
  /** When the last scheduled fsync batch starts writing (group commit: Readies issued before that join it). */
  batchStartAt: number;
  /** Storage events of this incarnation not yet durable. */
  inflight: number;
  /** Txns applied since the last snapshot. */
  appliedSince: number;
}

/** A client connection as the simulator sees it: frames arrive in order. */
export interface SimConn {
  connId: number;
  server: number;
  frames: ServerFrame[];
  closed: boolean;
}

/**
 * N ZabNodes in one process with a fake network (FIFO links with random
 * delay, partitions that break links), fake disks (fsync takes time; a crash
 * loses what was not synced) and a fake clock. Deterministic for a seed.
 */
export class SimCluster {
  readonly rng: Rng;
  now = 1_000_000;
  private seq = 0;
  private queue: Event[] = [];
  readonly servers = new Map<number, SimServer>();
  readonly peers: PeerConfig[];
  readonly logs: string[] = [];
  private readonly opts: Required<SimOptions>;
  /** Per ordered pair: link generation (a break bumps it and drops in-flight messages) and last delivery time (FIFO). */
  private readonly links = new Map<string, Link>();
  private partition: number[][] | null = null;
  private readonly conns = new Map<number, SimConn>();
  private nextConnId = 1;
  /** Observers of applied txns, for checkers: (server, txn zxid, digest-ish key). */
  onApply: ((id: number, zxid: Zxid, key: string) => void) | null = null;
  onStep: (() => void) | null = null;
  readonly hooks: SimHooks[] = [];
  /** Extra one-way delay per link `a>b` (a slow link: messages on it arrive late, others overtake them). */
  readonly slowLinks = new Map<string, number>();
  /** Extra fsync time per server (a slow disk: its acks come late). */
  readonly slowDisks = new Map<number, number>();
  /** Events handled so far. */
  steps = 0;
  /** Every refused start (or reload), in order. */
  readonly refusals: Array<{ id: number; at: number; reason: string }> = [];
  readonly stats = { snapshots: 0, purgedFiles: 0, rejoins: 0 };

  constructor(opts: SimOptions) {
    this.opts = {
      observers: 0,
      tickMs: 100,
      minDelayMs: 1,
      maxDelayMs: 15,
      minFsyncMs: 1,
      maxFsyncMs: 8,
      committedLogSize: 50,
      tornDisk: false,
      initLimit: 10,
      syncLimit: 5,
      snapEvery: 0,
      snapRetain: 3,
      checkStart: true,
      zab: {},
      ...opts,
    };
    this.rng = new Rng(opts.seed);
    this.peers = [];
    for (let i = 1; i <= this.opts.voters; i++) this.peers.push({ id: i, role: 'participant' });
    for (let i = 1; i <= this.opts.observers; i++) this.peers.push({ id: this.opts.voters + i, role: 'observer' });
    for (const p of this.peers) this.servers.set(p.id, { id: p.id, node: null, disk: new SimDisk(), gen: 0, storageFreeAt: 0, batchStartAt: 0, inflight: 0, appliedSince: 0 });
  }

  get ids(): number[] {
    return this.peers.map((p) => p.id);
  }

  node(id: number): ZabNode | null {
    return this.servers.get(id)!.node;
  }

  // ---- lifecycle -------------------------------------------------------------------

  /**
   * Starts a server from its disk, after the checks a real start makes; returns why it refused
   * (the server stays down, see rejoinEmpty), or null.
   */
  start(id: number): string | null {
    const s = this.servers.get(id)!;
    if (s.node) throw new Error(`server ${id} is running`);
    if (s.disk.isBrandNew()) {
      // A brand-new data dir: both epoch files are written as 0 first, so a missing one later means damage.
      s.disk.apply({ kind: 'acceptedEpoch', epoch: 0 });
      s.disk.apply({ kind: 'currentEpoch', epoch: 0 });
    } else if (this.opts.checkStart) {
      const why = s.disk.startRefusal();
      if (why !== null) {
        this.refuse(id, `refuses to start: ${why}`);
        return why;
      }
    }
    s.gen++;
    const core = resolveCoreOptions({ serverId: id, tickTimeMs: this.opts.tickMs, sessionIdBase: (BigInt(id) << 56n) | (BigInt(s.gen) << 40n) });
    const node = new ZabNode(
      resolveZabOptions(core, {
        ...this.opts.zab,
        peers: this.peers,
        committedLogSize: this.opts.committedLogSize,
        initLimit: this.opts.initLimit,
        syncLimit: this.opts.syncLimit,
      }),
    );
    const apply = node.applyCommitted.bind(node);
    node.applyCommitted = (txn) => {
      apply(txn);
      s.appliedSince++;
      this.onApply?.(id, txn.hdr.zxid, txnKey(txn));
      for (const h of this.hooks) h.onApply?.(id, txn.hdr.zxid, txnKey(txn));
    };
    const reload = node.reload.bind(node);
    node.reload = (chunks) => {
      for (const h of this.hooks) h.onLoad?.(id, 'reload', s.disk.newestSnapshot());
      reload(chunks);
    };
    const { chunks, txns } = s.disk.load();
    for (const h of this.hooks) h.onLoad?.(id, 'restart', s.disk.newestSnapshot());
    node.restore(chunks, txns, { acceptedEpoch: s.disk.acceptedEpoch, currentEpoch: s.disk.currentEpoch });
    s.node = node;
    s.storageFreeAt = this.now;
    s.batchStartAt = this.now;
    s.inflight = 0;
    s.appliedSince = 0;
    node.start(this.now);
    this.drain(s);
    this.push({ at: this.now + this.opts.tickMs, kind: 'tick', id, gen: s.gen });
    return null;
  }

  /** The operator's way out of a refusal (`--rejoin-empty`): the damaged data goes aside, the server starts empty. */
  rejoinEmpty(id: number): void {
    const s = this.servers.get(id)!;
    if (s.node) throw new Error(`server ${id} is running`);
    this.logs.push(`${this.now} [sim] server ${id} rejoins empty (damaged data moved aside)`);
    this.stats.rejoins++;
    s.disk = new SimDisk();
    this.start(id);
  }

  private refuse(id: number, reason: string): void {
    this.refusals.push({ id, at: this.now, reason });
    this.logs.push(`${this.now} [sim] server ${id} ${reason}`);
    for (const h of this.hooks) h.onRefusal?.(id, reason);
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** Takes a snapshot and autopurges, as Snapshotter does, once enough txns were applied and the storage is idle. */
  private maybeSnapshot(s: SimServer): void {
    const node = s.node;
    if (!node || this.opts.snapEvery <= 0 || s.appliedSince < this.opts.snapEvery || s.inflight > 0) return;
    const zxid = node.lastAppliedZxid();
    if (zxid <= (s.disk.snapshotZxid() ?? 0n)) return;
    s.appliedSince = 0;
    const snap: SimSnapshot = { zxid, chunks: [...node.snapshotChunks()] };
    s.disk.takeSnapshot(snap);
    for (const h of this.hooks) h.onSnapshot?.(s.id, snap);
    this.stats.snapshots++;
    this.stats.purgedFiles += s.disk.purge(this.opts.snapRetain);
  }

  /** kill -9: unsynced storage is lost, links break, clients are cut off. */
  crash(id: number): void {
    const s = this.servers.get(id)!;
    if (!s.node) return;
    // Storage still in flight is lost, unless the disk is "torn": then a random prefix of it
    // (down to single txns of an append) made it to the platter. Either way no ack went out.
    const inflight = this.queue.filter((e): e is Extract<Event, { kind: 'storage' }> => e.kind === 'storage' && e.id === id && e.gen === s.gen);
    inflight.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const units: StorageOp[] = [];
    for (const e of inflight) {
      for (const op of e.ops) {
        if (op.kind === 'append') for (const t of op.txns) units.push({ kind: 'append', txns: [t] });
        else units.push(op);
      }
    }
    const kept = this.opts.tornDisk && units.length > 0 ? this.rng.int(0, units.length) : 0;
    for (const op of units.slice(0, kept)) this.applyDisk(s, op);
    if (units.length > 0) this.logs.push(`${this.now} [sim] crash ${id}: ${kept} of ${units.length} in-flight storage op(s) reached the disk`);
    else this.logs.push(`${this.now} [sim] crash ${id}`);
    for (const h of this.hooks) h.onCrash?.(id, kept, units.length - kept);
    s.node = null;
    s.gen++;
    s.inflight = 0;
    for (const c of this.conns.values()) if (c.server === id) c.closed = true;
    for (const other of this.ids) if (other !== id) this.breakLink(id, other);
  }

  restart(id: number): void {
    this.crash(id);
    this.start(id);
  }

  running(id: number): boolean {
    return this.servers.get(id)!.node !== null;
  }

  /** Storage events of this server not yet durable. */
  pendingStorage(id: number): number {
    const s = this.servers.get(id)!;
    return this.queue.filter((e) => e.kind === 'storage' && e.id === id && e.gen === s.gen).length;
  }

  /** Sequence numbers of this server's storage events not yet durable (in issue order). */
  pendingStorageSeqs(id: number): number[] {
    const s = this.servers.get(id)!;
    return this.queue.filter((e) => e.kind === 'storage' && e.id === id && e.gen === s.gen).map((e) => e.seq).sort((a, b) => a - b);
  }

  /** The sequence number the next event will get. */
  get nextSeq(): number {
    return this.seq;
  }

  disk(id: number): SimDisk {
    return this.servers.get(id)!.disk;
  }

  /** Runs `fn` at sim time `at` (workloads and fault schedules). */
  schedule(at: number, fn: () => void): void {
    this.push({ at: Math.max(at, this.now), kind: 'call', fn });
  }

  /** Breaks the link between two servers: in-flight messages both ways are lost, both ends are told. */
  cutLink(a: number, b: number): void {
    this.logs.push(`${this.now} [sim] link ${a}<->${b} broken`);
    this.breakLink(a, b);
  }

  /** Splits the servers into groups that cannot talk to each other; links across break. */
  setPartition(groups: number[][] | null): void {
    this.logs.push(`${this.now} [sim] partition ${groups ? groups.map((g) => `[${g.join(',')}]`).join(' ') : 'healed'}`);
    this.partition = groups;
    if (!groups) return;
    for (const a of this.ids) for (const b of this.ids) if (a < b && !this.canTalk(a, b)) this.breakLink(a, b);
  }

  private canTalk(a: number, b: number): boolean {
    if (!this.partition) return true;
    return this.partition.some((g) => g.includes(a) && g.includes(b));
  }

  private breakLink(a: number, b: number): void {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const l = this.link(x, y);
      l.gen++;
      // A new connection: nothing queued on the dead one holds its messages back.
      l.lastAt = 0;
      l.lastSentAt = -1;
      const n = this.servers.get(x)!.node;
      if (n) {
        n.peerDisconnected(y, this.now);
        this.drain(this.servers.get(x)!);
      }
    }
  }

  private link(a: number, b: number): Link {
    const key = `${a}>${b}`;
    let l = this.links.get(key);
    if (!l) this.links.set(key, (l = { gen: 0, lastAt: 0, lastSentAt: -1 }));
    return l;
  }

  // ---- clients ---------------------------------------------------------------------

  openConn(server: number, sessionId = 0n, passwd: Uint8Array = new Uint8Array(), lastZxidSeen = 0n, timeoutMs = 4000): SimConn {
    const conn: SimConn = { connId: this.nextConnId++, server, frames: [], closed: false };
    this.conns.set(conn.connId, conn);
    const s = this.servers.get(server)!;
    if (!s.node) {
      conn.closed = true;
      return conn;
    }
    s.node.connect(conn.connId, { k: FrameKind.connect, protocolVersion: PROTOCOL_VERSION, lastZxidSeen, timeoutMs, sessionId, passwd }, this.now, passwdFor(server, conn.connId));
    this.drain(s);
    return conn;
  }

  send(conn: SimConn, xid: number, req: Request): void {
    const s = this.servers.get(conn.server)!;
    if (conn.closed || !s.node) return;
    s.node.request(conn.connId, { k: FrameKind.request, xid, req }, this.now);
    this.drain(s);
  }

  /** Steps `msg` into server `to` as if `from` had sent it on their link (a faulty or hostile peer). */
  inject(from: number, to: number, msg: PeerMessage): void {
    const s = this.servers.get(to)!;
    if (!s.node) return;
    s.node.step(from, msg, this.now);
    this.drain(s);
  }

  closeConn(conn: SimConn): void {
    const s = this.servers.get(conn.server)!;
    conn.closed = true;
    if (s.node) {
      s.node.disconnect(conn.connId, this.now);
      this.drain(s);
    }
  }

  // ---- the event loop ------------------------------------------------------------------

  /** Runs events until `done()` or the clock passes `untilMs` from now. Returns whether done() held. */
  run(untilMs: number, done: () => boolean = () => false): boolean {
    const end = this.now + untilMs;
    while (!done()) {
      const ev = this.popNext(end);
      if (!ev) {
        this.now = end;
        return done();
      }
      this.now = Math.max(this.now, ev.at);
      this.steps++;
      this.handle(ev);
      this.onStep?.();
    }
    return true;
  }

  private popNext(end: number): Event | null {
    if (this.queue.length === 0) return null;
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) {
      const a = this.queue[i]!;
      const b = this.queue[best]!;
      if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) best = i;
    }
    if (this.queue[best]!.at > end) return null;
    return this.queue.splice(best, 1)[0]!;
  }

  /** Removes and returns, in order, the queued messages that arrive on `ev`'s link at the same instant. */
  private takeBatchMates(ev: Event & { kind: 'msg' }): Array<Event & { kind: 'msg' }> {
    const mates: Array<Event & { kind: 'msg' }> = [];
    const rest: Event[] = [];
    for (const e of this.queue) {
      if (e.kind === 'msg' && e.from === ev.from && e.to === ev.to && e.link === ev.link && e.at === ev.at) mates.push(e);
      else rest.push(e);
    }
    if (mates.length === 0) return mates;
    this.queue = rest;
    return mates.sort((a, b) => a.seq - b.seq);
  }

  private push(e: NewEvent): void {
    this.queue.push({ ...e, seq: this.seq++ } as Event);
  }

  private handle(ev: Event): void {
    if (ev.kind === 'call') {
      ev.fn();
      return;
    }
    if (ev.kind === 'msg') {
      const s = this.servers.get(ev.to)!;
      if (!s.node || this.link(ev.from, ev.to).gen !== ev.link) return;
      // The rest of its batch is stepped before the node's Ready is executed, as the runtime does.
      for (const m of [ev, ...this.takeBatchMates(ev)]) {
        // A hook may crash a server or break the link mid-batch: the rest of the batch is then lost.
        if (!s.node || this.link(m.from, m.to).gen !== m.link) break;
        for (const h of this.hooks) h.onDeliver?.(m.from, m.to, m.msg);
        s.node.step(m.from, m.msg, this.now);
        for (const h of this.hooks) h.onDelivered?.(m.from, m.to, m.msg);
      }
      this.drain(s);
      this.maybeSnapshot(s);
      return;
    }
    const s = this.servers.get(ev.id)!;
    if (!s.node || s.gen !== ev.gen) return;
    if (ev.kind === 'tick') {
      s.node.tick(this.now);
      this.drain(s);
      this.push({ at: this.now + this.opts.tickMs, kind: 'tick', id: ev.id, gen: ev.gen });
      this.maybeSnapshot(s);
      return;
    }
    // Storage finished: durable now, then the messages that had to wait for it.
    s.inflight--;
    let reload = false;
    for (const op of ev.ops) {
      this.applyDisk(s, op);
      if (op.kind === 'truncate') reload = true;
    }
    if (reload) {
      // The real server re-checks the history it re-reads; with a gap it stops (the operator takes over).
      const gap = this.opts.checkStart ? s.disk.historyGap() : null;
      if (gap !== null) {
        this.crash(s.id);
        this.refuse(s.id, `stops at the TRUNC reload: ${gap}`);
        return;
      }
      const { chunks, txns } = s.disk.load();
      s.node.reload(chunks);
      for (const txn of txns) s.node.replay(txn);
      s.node.reloaded();
    }
    for (const m of ev.after) {
      for (const h of this.hooks) h.onSend?.(s.id, m.to, m.msg, true);
      this.deliver(s.id, m.to, m.msg);
    }
    this.drain(s);
    this.maybeSnapshot(s);
  }

  private applyDisk(s: SimServer, op: StorageOp): void {
    for (const h of this.hooks) h.onDiskOp?.(s.id, op, s.disk);
    s.disk.apply(op);
  }

  private deliver(from: number, to: number, msg: PeerMessage): void {
    if (to === from) {
      const s = this.servers.get(from)!;
      this.push({ at: this.now, kind: 'msg', from, to, msg, link: this.link(from, to).gen });
      void s;
      return;
    }
    if (!this.servers.has(to) || !this.canTalk(from, to)) return;
    const l = this.link(from, to);
    // FIFO per link: never deliver before the previous message on it.
    const slow = this.slowLinks.get(`${from}>${to}`) ?? 0;
    // Messages sent at one instant travel as one peer batch (as the runtime's per-turn batches do):
    // they arrive together and are stepped together, so their ACKs can coalesce.
    const at =
      l.lastSentAt === this.now && l.lastAt >= this.now ? l.lastAt : Math.max(l.lastAt, this.now + slow + this.rng.int(this.opts.minDelayMs, this.opts.maxDelayMs));
    l.lastAt = at;
    l.lastSentAt = this.now;
    this.push({ at, kind: 'msg', from, to, msg, link: l.gen });
  }

  /** Executes a node's Ready, the way the real runtime does. */
  private drain(s: SimServer): void {
    const node = s.node;
    if (!node) return;
    for (;;) {
      const r = node.takeReady();
      for (const line of r.logs) this.logs.push(`${this.now} ${line}`);
      for (const m of r.send) {
        for (const h of this.hooks) h.onSend?.(s.id, m.to, m.msg, false);
        this.deliver(s.id, m.to, m.msg);
      }
      if (r.storage.length > 0 || r.sendAfterStorage.length > 0) {
        // Group commit, as the real runtime does: while one fsync is in progress, every Ready issued
        // meanwhile joins the next batch, which starts when the current one ends (one fsync for all).
        let at: number;
        if (r.storage.length === 0) at = Math.max(this.now, s.storageFreeAt);
        else if (this.now < s.batchStartAt) at = s.storageFreeAt;
        else {
          const start = Math.max(this.now, s.storageFreeAt);
          at = start + this.rng.int(this.opts.minFsyncMs, this.opts.maxFsyncMs) + (this.slowDisks.get(s.id) ?? 0);
          s.batchStartAt = start;
        }
        s.storageFreeAt = at;
        s.inflight++;
        this.push({ at, kind: 'storage', id: s.id, gen: s.gen, ops: r.storage, after: r.sendAfterStorage });
      }
      for (const o of r.outbox) {
        const c = this.conns.get(o.connId);
        if (!c || c.closed) continue;
        if (o.kind === 'send') c.frames.push(o.frame);
        else c.closed = true;
      }
      if (r.send.length === 0 && r.storage.length === 0 && r.sendAfterStorage.length === 0 && r.outbox.length === 0 && r.logs.length === 0) return;
    }
  }

  // ---- queries -------------------------------------------------------------------------

  leaders(): number[] {
    return this.ids.filter((id) => this.node(id)?.role() === 'leader');
  }

  /** True when one leader serves and every running server follows or observes it. */
  stable(): boolean {
    const running = this.ids.filter((id) => this.node(id));
    const leaders = this.leaders();
    if (leaders.length !== 1) return false;
    return running.every((id) => {
      const n = this.node(id)!;
      return n.leaderId() === leaders[0];
    });
  }
}

/** A short identity of a txn for comparing histories across servers. */
export function txnKey(txn: { hdr: { sessionId: bigint; cxid: number; zxid: Zxid }; body: { type: string } }): string {
  return `${txn.hdr.zxid.toString(16)}:${txn.hdr.sessionId.toString(16)}:${txn.hdr.cxid}:${txn.body.type}`;
}

/** A session password of the normal length (leaders refuse a forwarded createSession with another). */
function passwdFor(server: number, connId: number): Uint8Array {
  const p = new Uint8Array(SESSION_PASSWD_BYTES);
  p[0] = server;
  p[1] = connId & 0xff;
  return p;
}
