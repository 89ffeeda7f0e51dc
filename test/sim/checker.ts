import { DEFAULT_MAX_DATA_BYTES, PeerKind, counterOf, epochOf, validatePeerMessage, type PeerMessage, type PeerValidationContext, type Zxid } from '@zabkit/protocol';
import type { StorageOp } from '@zabkit/server';
import type { SimCluster } from './sim-cluster.js';
import { txnKey } from './sim-cluster.js';
import { CommittedHistory } from './committed-history.js';
import type { SimDisk, SimSnapshot } from './sim-disk.js';

/** A write a client saw succeed: it must never be lost. */
export interface AckedWrite {
  zxid: Zxid;
  key: string;
  /** The server that answered. */
  server: number;
  at: number;
}

export class Violation extends Error {}

const hex = (z: Zxid) => `0x${z.toString(16)}`;

/**
 * Safety checkers that run after every simulator step (and on every apply,
 * storage op and message), throwing a Violation at the first broken invariant:
 * (a) at most one established leader per epoch;
 * (b) one txn per zxid across all servers, applied in increasing zxid order
 *     on each server (a restart / TRUNC reload starts the replay over);
 * (c) every acknowledged write is in the history of every leader established
 *     after it and (checkFinal) of every server at the end;
 * (d) checkFinal: servers at the same last zxid have the same tree digest;
 * (e) a txn TRUNCated away under an epoch that got established never shows up
 *     again on a serving server;
 * (f) no server ever serves a state missing a committed txn: while it is a
 *     leader, follower or observer, every txn committed cluster-wide at or below
 *     its last applied zxid is in its history (applied, or in the snapshot it
 *     loaded);
 * plus the persist-before-ack rules of NEWLEADER: currentEpoch is durable only
 * after the synced txns, and the NEWLEADER ACK leaves only after both; and
 * (g) every message a server sends passes the peer edge's validatePeerMessage.
 */
export class Checker {
  /** epoch -> the server that led it. */
  readonly epochLeader = new Map<number, number>();
  /** zxid -> the first txn key seen applied at it (any server). */
  private readonly keyAt = new Map<Zxid, { key: string; server: number }>();
  /** Per server: the history its current state was built from (zxid -> key). */
  readonly history = new Map<number, Map<Zxid, string>>();
  private readonly lastApplied = new Map<number, Zxid | undefined>();
  /** Snapshot (its chunks) -> the history it contains (captured when a leader sends SNAP or a server writes one). */
  private readonly snapHistory = new WeakMap<readonly Uint8Array[], Map<Zxid, string>>();
  /** What a SNAP sent at a zxid holds (the first sender's history through it). */
  private readonly sentSnapHistory = new Map<Zxid, Map<Zxid, string>>();
  /** Txns committed cluster-wide, for (f). */
  readonly committed = new CommittedHistory();
  readonly acked: AckedWrite[] = [];
  /** Txn key -> epoch of the leader whose TRUNC dropped it. */
  readonly truncated = new Map<string, number>();
  /** Per learner: the sync it was given before NEWLEADER (epoch, last zxid it had logged). */
  private readonly synced = new Map<number, { epoch: number; zxid: Zxid; seqBefore: number }>();
  private readonly wasServing = new Map<number, string>();
  readonly stats = { leaders: 0, applies: 0, truncatedTxns: 0, newLeaderAcks: 0, snapsSent: 0, servingChecks: 0 };

  private readonly edge: Omit<PeerValidationContext, 'from'>;

  constructor(private readonly sim: SimCluster) {
    for (const id of sim.ids) this.history.set(id, new Map());
    this.edge = {
      serverIds: new Set(sim.ids),
      voterIds: new Set(sim.peers.filter((p) => p.role === 'participant').map((p) => p.id)),
      maxDataBytes: DEFAULT_MAX_DATA_BYTES,
    };
    sim.hooks.push({
      onLoad: (id, _reason, snap) => this.onLoad(id, snap),
      onSnapshot: (id, snap) => this.snapHistory.set(snap.chunks, this.historyThrough(id, snap.zxid)),
      onApply: (id, zxid, key) => this.onApply(id, zxid, key),
      onDiskOp: (id, op, disk) => this.onDiskOp(id, op, disk),
      onSend: (from, to, msg, after) => this.onSend(from, to, msg, after),
      onDelivered: (from, to, msg) => this.onDelivered(from, to, msg),
    });
    const prev = sim.onStep;
    sim.onStep = () => {
      prev?.();
      this.afterStep();
    };
  }

  private fail(msg: string): never {
    throw new Violation(msg);
  }

  // ---- hooks ------------------------------------------------------------------------------

  private onLoad(id: number, snap: SimSnapshot | null): void {
    if (snap === null) {
      this.history.set(id, new Map());
      this.lastApplied.set(id, undefined);
      return;
    }
    const h = this.snapHistory.get(snap.chunks);
    if (!h) this.fail(`server ${id} loads a snapshot at ${hex(snap.zxid)} the checker never saw taken or sent`);
    this.history.set(id, new Map(h));
    this.lastApplied.set(id, snap.zxid);
  }

  /** Server `id`'s history up to `zxid` (what a snapshot of it at `zxid` holds). */
  private historyThrough(id: number, zxid: Zxid): Map<Zxid, string> {
    const h = new Map<Zxid, string>();
    for (const [z, k] of this.history.get(id)!) if (z <= zxid) h.set(z, k);
    return h;
  }

  private onApply(id: number, zxid: Zxid, key: string): void {
    this.stats.applies++;
    const last = this.lastApplied.get(id);
    if (last !== undefined && zxid <= last) this.fail(`(b) server ${id} applied ${hex(zxid)} after ${hex(last)}: out of order`);
    this.lastApplied.set(id, zxid);
    const first = this.keyAt.get(zxid);
    if (!first) this.keyAt.set(zxid, { key, server: id });
    else if (first.key !== key) this.fail(`(b) two different txns at ${hex(zxid)}: ${first.key} on server ${first.server}, ${key} on server ${id}`);
    this.history.get(id)!.set(zxid, key);
    if (!this.isServing(id)) return;
    if (this.truncated.size > 0) this.checkNoTruncated(id);
    // (f) a serving server applies in order, so a committed txn between its previous one and this one is one it skipped.
    const skipped = this.committed.firstBetween(last ?? 0n, zxid);
    if (skipped !== undefined) this.failMissing(id, skipped, zxid);
    if (this.committed.add(zxid, key)) this.checkServersHave(zxid, id);
  }

  /** (f) a txn just became known as committed: every other serving server already past it must hold it. */
  private checkServersHave(zxid: Zxid, by: number): void {
    for (const id of this.sim.ids) {
      if (id === by || !this.isServing(id)) continue;
      const last = this.lastApplied.get(id);
      if (last !== undefined && last > zxid && this.history.get(id)!.get(zxid) === undefined) this.failMissing(id, zxid, last);
    }
  }

  /** (f) on a server that starts serving: every committed txn up to its last applied one; then its history is committed. */
  private checkServesWholeHistory(id: number): void {
    this.stats.servingChecks++;
    const last = this.lastApplied.get(id);
    if (last === undefined) return;
    const h = this.history.get(id)!;
    for (const z of this.committed.through(last)) if (h.get(z) === undefined) this.failMissing(id, z, last);
    for (const [z, k] of h) if (this.committed.add(z, k)) this.checkServersHave(z, id);
  }

  private failMissing(id: number, zxid: Zxid, last: Zxid): never {
    this.fail(
      `(f) server ${id} serves as ${this.sim.node(id)?.role()} at ${hex(last)} without the committed txn ${this.committed.get(zxid)} ` +
        `(its history holds ${this.history.get(id)!.size} txn(s), ${this.committed.size} are committed)`,
    );
  }

  private onDiskOp(id: number, op: StorageOp, disk: SimDisk): void {
    if (op.kind === 'truncate') {
      for (const t of disk.log) {
        if (t.hdr.zxid <= op.zxid) continue;
        // A TRUNC may cut the truncating leader's own outstanding proposals (they are sent again
        // after NEWLEADER): only txns of older epochs are gone for good.
        if (epochOf(t.hdr.zxid) >= disk.acceptedEpoch) continue;
        this.truncated.set(txnKey(t), disk.acceptedEpoch);
        this.stats.truncatedTxns++;
      }
    } else if (op.kind === 'installSnapshot') {
      const h = this.sentSnapHistory.get(op.zxid);
      if (!h) this.fail(`server ${id} stores a SNAP at ${hex(op.zxid)} that was never sent`);
      this.snapHistory.set(op.chunks, h);
    } else if (op.kind === 'currentEpoch') {
      const s = this.synced.get(id);
      if (s && s.epoch === op.epoch && disk.lastZxid() < s.zxid) {
        this.fail(`server ${id}: currentEpoch ${op.epoch} became durable before the synced txns (disk at ${hex(disk.lastZxid())}, synced to ${hex(s.zxid)})`);
      }
    }
  }

  private onSend(from: number, to: number, msg: PeerMessage, afterStorage: boolean): void {
    const refused = validatePeerMessage(msg, { ...this.edge, from });
    if (refused !== null) this.fail(`(g) server ${from} sent ${to} a message the peer edge refuses: ${refused}`);
    if (msg.k === PeerKind.snap) {
      // A SNAP travels as chunks; the learner installs the assembled snapshot (a new chunk array), so
      // what was sent is known by its zxid until the install's disk op ties it to the stored chunks.
      if (msg.index === 0) this.stats.snapsSent++;
      if (!this.sentSnapHistory.has(msg.zxid)) this.sentSnapHistory.set(msg.zxid, this.historyThrough(from, msg.zxid));
      return;
    }
    if (msg.k === PeerKind.ack && counterOf(msg.zxid) === 0 && from !== to) {
      this.stats.newLeaderAcks++;
      if (!afterStorage) this.fail(`server ${from} sent the NEWLEADER ACK without waiting for its storage`);
      const disk = this.sim.disk(from);
      const epoch = epochOf(msg.zxid);
      if (disk.currentEpoch < epoch) this.fail(`server ${from} acks NEWLEADER ${epoch} with currentEpoch ${disk.currentEpoch} on disk`);
      const s = this.synced.get(from);
      if (s && s.epoch === epoch) {
        if (disk.lastZxid() < s.zxid) {
          this.fail(`server ${from} acks NEWLEADER ${epoch} before its synced txns are durable (disk at ${hex(disk.lastZxid())}, synced to ${hex(s.zxid)})`);
        }
        const early = this.sim.pendingStorageSeqs(from).filter((q) => q < s.seqBefore);
        if (early.length > 0) this.fail(`server ${from} acks NEWLEADER ${epoch} with ${early.length} storage event(s) from before the NEWLEADER still pending`);
      }
    }
  }

  private onDelivered(from: number, to: number, msg: PeerMessage): void {
    const node = this.sim.node(to);
    if (!node) return;
    if (msg.k === PeerKind.snap && msg.last && node.lastAppliedZxid() === msg.zxid) {
      // The learner replaced its state with the leader's snapshot.
      const h = this.sentSnapHistory.get(msg.zxid);
      if (!h) this.fail(`server ${to} installed a SNAP at ${hex(msg.zxid)} that was never sent`);
      this.history.set(to, new Map(h));
      this.lastApplied.set(to, msg.zxid);
    } else if (msg.k === PeerKind.newLeader) {
      // Every storage event issued up to now (the NEWLEADER's own Ready comes next) must be durable before the ACK.
      this.synced.set(to, { epoch: epochOf(msg.zxid), zxid: node.lastLoggedZxid(), seqBefore: this.sim.nextSeq });
    }
    void from;
  }

  // ---- per step -----------------------------------------------------------------------------

  private isServing(id: number): boolean {
    const r = this.sim.node(id)?.role();
    return r === 'leader' || r === 'follower' || r === 'observer';
  }

  private afterStep(): void {
    for (const id of this.sim.ids) {
      const node = this.sim.node(id);
      const role = node ? node.role() : 'down';
      let tag = role;
      if (role === 'leader') {
        const epoch = node!.status().epoch;
        tag = `leader@${epoch}`;
        const other = this.epochLeader.get(epoch);
        if (other === undefined) this.epochLeader.set(epoch, id);
        else if (other !== id) this.fail(`(a) two leaders established in epoch ${epoch}: ${other} and ${id}`);
      }
      const prev = this.wasServing.get(id);
      if (prev !== tag) {
        this.wasServing.set(id, tag);
        if (role === 'leader') {
          this.stats.leaders++;
          this.checkLeaderHasAcked(id, node!.status().epoch, this.acked);
        }
        if (this.isServing(id)) {
          if (this.truncated.size > 0) this.checkNoTruncated(id);
          this.checkServesWholeHistory(id);
        }
      }
    }
  }

  /**
   * A leader of `epoch` must hold every acknowledged write of its epoch or an earlier one
   * (a deposed leader that has not noticed yet may lack writes of later epochs).
   */
  private checkLeaderHasAcked(id: number, epoch: number, acked: readonly AckedWrite[]): void {
    for (const a of acked) if (epochOf(a.zxid) <= epoch) this.checkHas(id, a, `leader of epoch ${epoch}`);
  }

  private checkHas(id: number, a: AckedWrite, who: string): void {
    const got = this.history.get(id)!.get(a.zxid);
    if (got !== a.key) {
      this.fail(`(c) ${who} ${id} lacks the acknowledged write ${a.key} (acked by server ${a.server} at ${a.at}); it has ${got ?? 'nothing'} at ${hex(a.zxid)}`);
    }
  }

  private checkNoTruncated(id: number): void {
    const h = this.history.get(id)!;
    for (const [key, epoch] of this.truncated) {
      if (!this.epochLeader.has(epoch)) continue;
      const zxid = BigInt(`0x${key.slice(0, key.indexOf(':'))}`);
      if (h.get(zxid) === key) this.fail(`(e) txn ${key}, truncated away by the leader of epoch ${epoch}, is back on serving server ${id}`);
    }
  }

  // ---- inputs from the workload --------------------------------------------------------------

  /** A client got a successful reply for the write with this key from `server`. */
  ack(a: AckedWrite): void {
    const got = this.history.get(a.server)!.get(a.zxid);
    if (got !== a.key) this.fail(`server ${a.server} acknowledged ${a.key} but applied ${got ?? 'nothing'} at ${hex(a.zxid)}`);
    this.acked.push(a);
    for (const id of this.sim.ids) {
      const node = this.sim.node(id);
      if (node?.role() === 'leader') this.checkLeaderHasAcked(id, node.status().epoch, [a]);
    }
  }

  // ---- at quiescence ----------------------------------------------------------------------------

  /** Every server running and caught up: same digests, every ack everywhere, no truncated txn back. */
  checkFinal(): void {
    const byZxid = new Map<Zxid, Array<{ id: number; digest: string }>>();
    for (const id of this.sim.ids) {
      const node = this.sim.node(id);
      if (!node) continue;
      const z = node.lastAppliedZxid();
      let list = byZxid.get(z);
      if (!list) byZxid.set(z, (list = []));
      list.push({ id, digest: node.treeDigest() });
      for (const a of this.acked) this.checkHas(id, a, 'server');
      if (this.truncated.size > 0) this.checkNoTruncated(id);
    }
    for (const [z, list] of byZxid) {
      const digests = new Set(list.map((x) => x.digest));
      if (digests.size > 1) this.fail(`(d) servers at ${hex(z)} have different trees: ${list.map((x) => `${x.id}=${x.digest.slice(0, 12)}`).join(' ')}`);
    }
  }
}
