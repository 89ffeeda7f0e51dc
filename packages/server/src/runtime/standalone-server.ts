import { randomBytes } from 'node:crypto';
import {
  FrameKind,
  frameLimitFor,
  OpCode,
  type ClientFrame,
  type ServerStatus,
  type Zxid,
} from '@zabkit/protocol';
import { ServerCore, decodeTxn, encodeTxn } from '../core/index.js';
import type { Ready } from '../core/api.js';
import { ClientListener } from '../net/client-listener.js';
import { openFileStorage } from '../storage/index.js';
import type { EpochStore, SnapshotStore, TxnLog } from '../storage/types.js';
import type { ServerConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { LatencyStats } from './metrics.js';
import { Snapshotter } from './snapshotter.js';
import { VERSION } from './version.js';

export interface StartedServer {
  readonly serverId: number;
  /** The client port actually bound (useful with clientPort 0). */
  readonly port: number;
  readonly host: string;
  /** `host:port`, ready for `connect()`. */
  readonly connectString: string;
  status(): ServerStatus;
  /** Stops accepting, flushes the log, closes every connection. Sessions live on until they expire. */
  close(): Promise<void>;
  /** Resolves when the server stopped, by close() or a fatal storage error (then with the error). */
  readonly stopped: Promise<Error | null>;
}

/**
 * The runtime for a cluster of one: executes the core's Ready batches in the
 * order that keeps data safe — append, fsync, only then tell the core the
 * txns are persisted (which is what lets it reply) — and owns the sockets,
 * the timers and the snapshots.
 */
export class StandaloneServer implements StartedServer {
  readonly serverId: number;
  port = 0;
  readonly host: string;
  private readonly core: ServerCore;
  private readonly listener: ClientListener;
  private readonly latency = new LatencyStats();
  private readonly startedAt = Date.now();
  private ticker: NodeJS.Timeout | null = null;
  private appended: Zxid = 0n;
  private durable: Zxid = 0n;
  private flushRun: Promise<void> | null = null;
  private closing = false;
  private resolveStopped!: (err: Error | null) => void;
  readonly stopped = new Promise<Error | null>((r) => (this.resolveStopped = r));
  private snapshotter!: Snapshotter;

  private constructor(
    private readonly config: ServerConfig,
    private readonly log: TxnLog,
    private readonly snapshots: SnapshotStore,
    private readonly epochs: EpochStore,
    private readonly logger: Logger,
    epoch: number,
  ) {
    this.serverId = config.myid;
    this.host = config.clientPortAddress;
    const now = Date.now();
    this.core = new ServerCore({
      serverId: config.myid,
      tickTimeMs: config.tickTime,
      minSessionTimeoutMs: config.minSessionTimeout,
      maxSessionTimeoutMs: config.maxSessionTimeout,
      maxDataBytes: config.maxDataBytes,
      containerCheckIntervalMs: config.containerCheckIntervalMs,
      // ZooKeeper's session id layout: server id in the top byte, startup time below.
      sessionIdBase: (BigInt(config.myid) << 56n) | ((BigInt(now) << 24n) & 0x00ff_ffff_ff00_0000n),
      epoch,
    });
    this.listener = new ClientListener({
      host: config.clientPortAddress,
      port: config.clientPort,
      maxFrameBytes: frameLimitFor(config.maxDataBytes),
      maxClientCnxns: config.maxClientCnxns,
      logger,
      onOpen: () => {},
      onFrame: (connId, frame) => this.onFrame(connId, frame),
      onClose: (connId) => {
        this.latency.forget(connId);
        this.core.disconnect(connId, Date.now());
        this.pump();
      },
    });
  }

  static async start(config: ServerConfig, logger = createLogger(`server.${config.myid}`)): Promise<StandaloneServer> {
    const { log, snapshots, epochs } = await openFileStorage({ dataDir: config.dataDir, dataLogDir: config.dataLogDir });
    const { snapshot, warnings: snapWarnings } = await snapshots.loadLatest();
    for (const w of snapWarnings) logger.warn(w);
    const recovery = await log.open(snapshot?.zxid ?? 0n);
    for (const w of recovery.warnings) logger.warn(w);
    const txns = recovery.records.map((r) => decodeTxn(r.bytes));
    const lastZxid = recovery.records.at(-1)?.zxid ?? snapshot?.zxid ?? 0n;

    // A cluster of one still runs ZAB's epoch bookkeeping: each start is a new
    // leadership term, recorded durably before any write of the new epoch.
    const stored = await epochs.load();
    const epoch = Math.max(stored.acceptedEpoch, stored.currentEpoch, Number(lastZxid >> 32n)) + 1;
    await epochs.setAcceptedEpoch(epoch);
    await epochs.setCurrentEpoch(epoch);

    const server = new StandaloneServer(config, log, snapshots, epochs, logger, epoch);
    server.core.restore(snapshot?.chunks ?? null, txns);
    server.appended = server.durable = server.core.lastProposedZxid();
    server.snapshotter = new Snapshotter(server.core, snapshots, log, {
      snapCount: config.snapCount,
      retain: config.snapRetainCount,
      logger,
    });
    logger.info(
      `recovered ${txns.length} txn(s) after ${snapshot ? `snapshot 0x${snapshot.zxid.toString(16)}` : 'no snapshot'}; ` +
        `last zxid 0x${lastZxid.toString(16)}, epoch ${epoch}`,
    );
    try {
      server.port = await server.listener.listen();
    } catch (err) {
      // e.g. EADDRINUSE: release the log's open segment instead of leaking it.
      await server.listener.stop().catch(() => {});
      await log.close().catch(() => {});
      throw err;
    }
    server.ticker = setInterval(() => server.onTick(), Math.max(10, Math.floor(config.tickTime / 2)));
    // Sessions restored from disk get a fresh full timeout from now, as ZooKeeper does.
    server.core.tick(Date.now());
    server.pump();
    logger.info(`zabkit ${VERSION} server ${config.myid} ready on ${server.connectString} (standalone)`);
    return server;
  }

  get connectString(): string {
    return `${this.host}:${this.port}`;
  }

  status(): ServerStatus {
    return {
      serverId: this.serverId,
      version: VERSION,
      role: 'standalone',
      ...this.core.status(),
      connections: this.listener.connectionCount,
      latency: this.latency.snapshot(),
      packetsReceived: this.listener.packetsReceived,
      packetsSent: this.listener.packetsSent,
      uptimeMs: Date.now() - this.startedAt,
    };
  }

  async close(): Promise<void> {
    if (this.closing) return void (await this.stopped);
    this.closing = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.listener.stop();
    while (this.flushRun) await this.flushRun;
    await this.snapshotter.idle().catch(() => {});
    await this.log.close();
    this.logger.info('server stopped');
    this.resolveStopped(null);
  }

  private onFrame(connId: number, frame: ClientFrame): void {
    if (this.closing) return;
    const now = Date.now();
    switch (frame.k) {
      case FrameKind.status:
        this.listener.send(connId, { k: FrameKind.statusReply, status: this.status() });
        return;
      case FrameKind.connect:
        this.core.connect(connId, frame, now, randomBytes(16));
        break;
      case FrameKind.request:
        if (frame.req?.op !== OpCode.ping) this.latency.begin(connId, frame.xid, now);
        this.core.request(connId, frame, now);
        break;
      default:
        this.listener.close(connId, `unexpected frame kind ${(frame as { k: number }).k}`, 1002);
        return;
    }
    this.pump();
  }

  private onTick(): void {
    if (this.closing) return;
    this.core.tick(Date.now());
    this.pump();
  }

  /** Executes everything the core has asked for since the last call. */
  private pump(): void {
    const ready: Ready = this.core.takeReady();
    if (ready.persist.length > 0) {
      this.log.append(ready.persist.map((txn) => ({ zxid: txn.hdr.zxid, bytes: encodeTxn(txn) })));
      this.appended = ready.persist[ready.persist.length - 1]!.hdr.zxid;
      this.snapshotter.logged(ready.persist.length);
      void this.flushLoop();
    }
    const now = Date.now();
    for (const entry of ready.outbox) {
      if (entry.kind === 'send') {
        if (entry.frame.k === FrameKind.response) this.latency.end(entry.connId, entry.frame.xid, now);
        this.listener.send(entry.connId, entry.frame);
      } else {
        this.listener.close(entry.connId, entry.reason);
      }
    }
  }

  /**
   * One flush at a time; txns appended while a flush runs ride the next one
   * (group commit). The core hears `persisted` only after fsync returned.
   */
  private flushLoop(): Promise<void> {
    this.flushRun ??= this.runFlushes().finally(() => {
      this.flushRun = null;
    });
    return this.flushRun;
  }

  private async runFlushes(): Promise<void> {
    try {
      while (this.durable < this.appended) {
        const target = this.appended;
        await this.log.flush();
        this.durable = target;
        this.core.persisted(target, Date.now());
        this.pump();
      }
    } catch (err) {
      // A log we cannot fsync is a log we cannot trust: stop serving, as ZooKeeper does.
      this.logger.error(`transaction log flush failed, stopping: ${(err as Error).message}`);
      this.closing = true;
      if (this.ticker) clearInterval(this.ticker);
      await this.listener.stop().catch(() => {});
      this.resolveStopped(err as Error);
    }
  }
}
