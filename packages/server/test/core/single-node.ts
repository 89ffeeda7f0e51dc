import { PeerKind, counterOf, type ConnectFrame, type PeerMessage, type RequestFrame, type Zxid } from '@zabkit/protocol';
import {
  ZabNode,
  resolveCoreOptions,
  resolveZabOptions,
  type CoreOptions,
  type NodeReady,
  type OutboxEntry,
  type Txn,
} from '../../src/core/index.js';

/** What one input produced, as the old standalone core handed it out: txns to log, frames to send. */
export interface SingleReady {
  /** Txns to append to the log and fsync, in zxid order; call persisted() once they are durable. */
  persist: Txn[];
  /** Client frames / closes, in order. */
  outbox: OutboxEntry[];
}

/** Durable state a restored node starts from (what the runtime loads from disk). */
export interface SingleNodeEpochs {
  acceptedEpoch: number;
  currentEpoch: number;
}

/**
 * A single-voter ZabNode driven like the runtime drives it, behind the small
 * input / takeReady() surface the core unit tests use:
 * - storage 'append' ops become `persist`; 'acceptedEpoch' / 'currentEpoch' are durable at once;
 * - the leader's own ACKs (sendAfterStorage to itself) are held until persisted(zxid)
 *   covers their zxid, then stepped back into the node; the NEWLEADER ACK (counter 0)
 *   only waits for the epoch ops, so it goes back at once;
 * - the node is elected leader in the constructor (start, then tick until it leads).
 */
export class SingleNode {
  readonly node: ZabNode;
  readonly id: number;
  readonly coreOptions: CoreOptions;
  /** Durable epochs, as written by the node's storage ops. */
  readonly epochs: SingleNodeEpochs = { acceptedEpoch: 0, currentEpoch: 0 };
  /** The node's log lines (role changes and the like), for debugging. */
  readonly logs: string[] = [];
  /** Last `now` given to any input. */
  now: number;
  private persistQ: Txn[] = [];
  private outbox: OutboxEntry[] = [];
  /** Self-ACKs waiting for their txn to be persisted, in zxid order. */
  private heldAcks: Zxid[] = [];
  /** Self-addressed messages to step in (never nested inside another step). */
  private selfQ: PeerMessage[] = [];
  private pumping = false;

  constructor(opts: Partial<CoreOptions> = {}, now = 0, restored?: { chunks: readonly Uint8Array[] | null; txns: readonly Txn[]; epochs: SingleNodeEpochs }) {
    this.coreOptions = resolveCoreOptions(opts);
    this.id = this.coreOptions.serverId;
    this.now = now;
    this.node = new ZabNode(resolveZabOptions(this.coreOptions, { peers: [{ id: this.id, role: 'participant' }] }));
    if (restored) {
      this.node.restore(restored.chunks, restored.txns, restored.epochs);
      Object.assign(this.epochs, restored.epochs);
    }
    this.node.start(now);
    this.pump();
    for (let i = 0; i < 100 && this.node.role() !== 'leader'; i++) {
      this.node.tick(now);
      this.pump();
    }
    if (this.node.role() !== 'leader') throw new Error(`single node did not become leader: ${this.logs.join(' | ')}`);
  }

  /**
   * A fresh node of the same configuration restarted from `chunks` + `txns`
   * (as if loaded from disk), with this node's durable epochs unless given.
   */
  restore(chunks: readonly Uint8Array[] | null, txns: readonly Txn[], opts: { now?: number; epochs?: SingleNodeEpochs } = {}): SingleNode {
    return new SingleNode(this.coreOptions, opts.now ?? this.now, { chunks, txns, epochs: opts.epochs ?? { ...this.epochs } });
  }

  // ---- inputs ---------------------------------------------------------------------------------

  connect(connId: number, frame: ConnectFrame, now: number, newPasswd: Uint8Array): void {
    this.now = now;
    this.node.connect(connId, frame, now, newPasswd);
    this.pump();
  }

  request(connId: number, frame: RequestFrame, now: number): void {
    this.now = now;
    this.node.request(connId, frame, now);
    this.pump();
  }

  disconnect(connId: number, now: number): void {
    this.now = now;
    this.node.disconnect(connId, now);
    this.pump();
  }

  tick(now: number): void {
    this.now = now;
    this.node.tick(now);
    this.pump();
  }

  /** Every txn with zxid <= zxid is durable: the self-ACKs they held go back into the node. */
  persisted(zxid: Zxid, now: number): void {
    this.now = now;
    while (this.heldAcks.length > 0 && (this.heldAcks[0] as Zxid) <= zxid) {
      this.selfQ.push({ k: PeerKind.ack, zxid: this.heldAcks.shift() as Zxid });
    }
    this.pump();
  }

  takeReady(): SingleReady {
    const ready: SingleReady = { persist: this.persistQ, outbox: this.outbox };
    this.persistQ = [];
    this.outbox = [];
    return ready;
  }

  // ---- queries ----------------------------------------------------------------------------------

  /** Last zxid proposed (logged or waiting to be). */
  lastProposedZxid(): Zxid {
    return this.node.lastLoggedZxid();
  }

  lastAppliedZxid(): Zxid {
    return this.node.lastAppliedZxid();
  }

  status(): ReturnType<ZabNode['status']> {
    return this.node.status();
  }

  snapshotChunks(): Iterable<Uint8Array> {
    return this.node.snapshotChunks();
  }

  treeDigest(): string {
    return this.node.treeDigest();
  }

  // ---- executing the node's Ready -----------------------------------------------------------------

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        this.execute(this.node.takeReady());
        const msg = this.selfQ.shift();
        if (!msg) break;
        this.node.step(this.id, msg, this.now);
      }
    } finally {
      this.pumping = false;
    }
  }

  private execute(r: NodeReady): void {
    this.logs.push(...r.logs);
    for (const op of r.storage) {
      switch (op.kind) {
        case 'append':
          this.persistQ.push(...op.txns);
          break;
        case 'acceptedEpoch':
          this.epochs.acceptedEpoch = op.epoch;
          break;
        case 'currentEpoch':
          this.epochs.currentEpoch = op.epoch;
          break;
        default:
          throw new Error(`a single-voter leader issued storage op ${op.kind}`);
      }
    }
    for (const m of r.send) {
      if (m.to !== this.id) throw new Error(`a single-voter node sent ${m.msg.k} to ${m.to}`);
      this.selfQ.push(m.msg);
    }
    for (const m of r.sendAfterStorage) {
      if (m.to !== this.id) throw new Error(`a single-voter node sent ${m.msg.k} to ${m.to} after storage`);
      if (m.msg.k === PeerKind.ack && counterOf(m.msg.zxid) !== 0) {
        // Waits for the txns appended before it (the test calls persisted()).
        this.heldAcks.push(m.msg.zxid);
      } else {
        // The NEWLEADER ack (and anything else) only waits for the epoch ops: durable at once.
        this.selfQ.push(m.msg);
      }
    }
    this.outbox.push(...r.outbox);
  }
}
