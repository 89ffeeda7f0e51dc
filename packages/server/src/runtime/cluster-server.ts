import { randomBytes } from 'node:crypto';
import { FrameKind, frameLimitFor, OpCode, peerFrameLimitFor, SESSION_PASSWD_BYTES, WRITE_OPS, type ClientFrame, type PeerMessage, type ServerStatus, type Zxid } from '@zabkit/protocol';
import { resolveCoreOptions } from '../core/options.js';
import type { NodeReady } from '../core/zab/api.js';
import { ZabNode, resolveZabOptions } from '../core/zab/zab-node.js';
import { ClientListener } from '../net/client-listener.js';
import { PeerNetwork } from '../net/peer-network.js';
import { openFileStorage, type FileStorage } from '../storage/index.js';
import type { TxnLog } from '../storage/types.js';
import type { ServerConfig } from './config.js';
import { checkHistory, isDamagedData, loadEpochs, moveAsideToRejoin } from './history-guard.js';
import { InputGate } from './input-gate.js';
import { reloadLog, replayLog } from './log-replay.js';
import { createLogger, type Logger } from './logger.js';
import { LatencyStats } from './metrics.js';
import { loadPeerAuth, type LoadedPeerAuth } from './peer-auth-config.js';
import { peerValidator } from './peer-validator.js';
import { Snapshotter } from './snapshotter.js';
import { StorageExecutor } from './storage-executor.js';
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
  /** Resolves the first time the server serves clients (a leader was elected and it is synced). */
  serving(): Promise<void>;
}

/** How log lines name where the log was read from. */
const afterSnapshot = (zxid: Zxid | null): string => (zxid === null ? 'no snapshot' : `snapshot 0x${zxid.toString(16)}`);

/** The node's clock unit: limits in zoo.cfg ticks are scaled to it, so elections are quick even with tickTime=2000. */
const NODE_TICK_MS = 50;

/**
 * The runtime of one ZAB server: turns the pure ZabNode's Ready batches into
 * fsyncs, peer messages, client frames and timers, in the order that keeps
 * data safe — storage ops in order; ACKs (sendAfterStorage) only once durable.
 * A cluster of one runs the same code with itself as the only voter.
 */
export class ClusterServer implements StartedServer {
  readonly serverId: number;
  port = 0;
  readonly host: string;
  private readonly latency = new LatencyStats();
  private readonly startedAt = Date.now();
  private ticker: NodeJS.Timeout | null = null;
  private closing = false;
  private failed = false;
  private pumpQueued = false;
  private resolveStopped!: (err: Error | null) => void;
  readonly stopped = new Promise<Error | null>((r) => (this.resolveStopped = r));
  private readonly listener: ClientListener;
  private readonly network: PeerNetwork | null;
  private readonly executor: StorageExecutor;
  private readonly snapshotter: Snapshotter;
  private loadGeneration = 0;
  /** Closed while a TRUNC reload rebuilds the node's state. */
  private readonly gate = new InputGate((err) =>
    this.logger.error(`handling an input held during a reload failed: ${(err as Error)?.stack ?? String(err)}`),
  );
  private servedOnce = false;
  private resolveServing!: () => void;
  private readonly servingP = new Promise<void>((r) => (this.resolveServing = r));

  private constructor(
    private readonly config: ServerConfig,
    private readonly node: ZabNode,
    private readonly log: TxnLog,
    storage: FileStorage,
    private readonly logger: Logger,
    private readonly peerAuth: LoadedPeerAuth,
  ) {
    this.serverId = config.myid;
    this.host = config.clientPortAddress;
    this.executor = new StorageExecutor(storage.log, storage.snapshots, storage.epochs, () => this.reload(storage));
    this.snapshotter = new Snapshotter(
      {
        lastAppliedZxid: () => node.lastAppliedZxid(),
        snapshotChunks: () => this.guardedChunks(),
      },
      storage.snapshots,
      storage.log,
      { snapCount: config.snapCount, retain: config.snapRetainCount, logger },
    );
    this.listener = new ClientListener({
      host: config.clientPortAddress,
      port: config.clientPort,
      maxFrameBytes: frameLimitFor(config.maxDataBytes),
      maxClientCnxns: config.maxClientCnxns,
      maxHandshakingCnxns: config.maxHandshakingCnxns,
      handshakeTimeoutMs: config.clientHandshakeTimeoutMs,
      globalOutstandingLimit: config.globalOutstandingLimit,
      outstandingLimit: config.clientOutstandingLimit,
      outstandingCloseLimit: config.clientOutstandingCloseLimit,
      unsentBytesLimit: config.clientUnsentBytesLimit,
      unsentBytesCloseLimit: config.clientUnsentBytesCloseLimit,
      logger,
      onOpen: () => {},
      // (no closure per frame unless the gate is holding: this is the hot path)
      onFrame: (connId, frame) => (this.gate.holding ? this.gate.run(() => this.onFrame(connId, frame)) : this.onFrame(connId, frame)),
      onClose: (connId) =>
        this.gate.run(() => {
          this.latency.forget(connId);
          this.guard('a client disconnect', () => {
            this.node.disconnect(connId, Date.now());
            this.pump();
          });
        }),
    });
    this.network =
      config.servers.length > 1
        ? new PeerNetwork({
            myId: config.myid,
            peers: config.servers.map((s) => ({ id: s.id, host: s.host, quorumPort: s.quorumPort, electionPort: s.electionPort })),
            auth: peerAuth.auth,
            logger,
            // SNAP goes in bounded chunks: the largest frame is a proposal of a maximal request.
            maxFrameBytes: peerFrameLimitFor(config.maxDataBytes),
            validate: peerValidator(config),
            onMessage: (from, msg) => (this.gate.holding ? this.gate.run(() => this.onPeerMessage(from, msg)) : this.onPeerMessage(from, msg)),
            onDisconnect: (peer) =>
              this.gate.run(() => {
                if (this.closing) return;
                this.guard(`the loss of the link to ${peer}`, () => {
                  this.node.peerDisconnected(peer, Date.now());
                  this.pump();
                });
              }),
          })
        : null;
  }

  /**
   * Recovers the data directory, then listens and starts electing. Aborting `signal` stops startup
   * at the next step (within log recovery, at the next segment): nothing is left open and start
   * rejects with the signal's reason. A data dir that is not a whole history (or whose log is
   * corrupt) rejects with IncompleteHistoryError (CorruptLogError); with `rejoinEmpty` its files are
   * moved aside instead and the server starts empty, to be sent a full snapshot by the leader.
   */
  static async start(
    config: ServerConfig,
    logger = createLogger(`server.${config.myid}`),
    signal?: AbortSignal,
    options: { rejoinEmpty?: boolean } = {},
  ): Promise<ClusterServer> {
    // (first: a cluster without peer authentication is refused before anything is opened)
    const peerAuth = await loadPeerAuth(config.peerAuth, config.servers.length, logger);
    try {
      return await ClusterServer.startFromDisk(config, logger, peerAuth, signal);
    } catch (err) {
      if (!options.rejoinEmpty || !isDamagedData(err)) throw err;
      await moveAsideToRejoin(config, logger, err);
      return ClusterServer.startFromDisk(config, logger, peerAuth, signal);
    }
  }

  private static async startFromDisk(config: ServerConfig, logger: Logger, peerAuth: LoadedPeerAuth, signal?: AbortSignal): Promise<ClusterServer> {
    const storage = await openFileStorage({
      dataDir: config.dataDir,
      dataLogDir: config.dataLogDir,
      preallocateBytes: config.preAllocSize * 1024,
    });
    // (first: a brand-new data dir gets its epoch files before anything else is written)
    const epochs = await loadEpochs(storage, config.dataDir);
    const { snapshot, warnings: snapWarnings } = await storage.snapshots.loadLatest();
    for (const w of snapWarnings) logger.warn(w);
    const scale = Math.max(1, Math.round(config.tickTime / NODE_TICK_MS));
    const now = Date.now();
    const peers =
      config.servers.length > 0
        ? config.servers.map((s) => ({ id: s.id, role: s.role }))
        : [{ id: config.myid, role: 'participant' as const }];
    const core = resolveCoreOptions({
      serverId: config.myid,
      tickTimeMs: config.tickTime,
      minSessionTimeoutMs: config.minSessionTimeout,
      maxSessionTimeoutMs: config.maxSessionTimeout,
      maxDataBytes: config.maxDataBytes,
      containerCheckIntervalMs: config.containerCheckIntervalMs,
      maxWatchesPerSession: config.maxWatchesPerSession,
      // ZooKeeper's session id layout: server id in the top byte, startup time below.
      sessionIdBase: (BigInt(config.myid) << 56n) | ((BigInt(now) << 24n) & 0x00ff_ffff_ff00_0000n),
    });
    const node = new ZabNode(
      resolveZabOptions(core, {
        peers,
        initLimit: config.initLimit * scale,
        syncLimit: config.syncLimit * scale,
        finalizeWaitTicks: 2,
        maxElectionBackoffTicks: 20,
      }),
    );
    node.restore(snapshot?.chunks ?? null, [], epochs);
    signal?.throwIfAborted();
    const after = afterSnapshot(snapshot?.zxid ?? null);
    logger.info(`recovering the txn log in ${storage.logDir} after ${after}`);
    // the log's txns are applied segment by segment as they are read (1M txns need not fit in memory twice)
    const replay = await replayLog(storage.log, snapshot?.zxid ?? 0n, node, signal);
    for (const w of replay.warnings) logger.warn(w);
    if (signal?.aborted) {
      await storage.log.close();
      signal.throwIfAborted();
    }
    await checkHistory(storage, config.dataDir, snapshot?.zxid ?? null, storage.log);
    const server = new ClusterServer(config, node, storage.log, storage, logger, peerAuth);
    const lastZxid = node.lastLoggedZxid();
    logger.info(
      `recovered ${replay.records} txn(s) after ${after}; ` +
        `last zxid 0x${lastZxid.toString(16)}, acceptedEpoch ${epochs.acceptedEpoch}, currentEpoch ${epochs.currentEpoch}`,
    );
    try {
      server.port = await server.listener.listen();
      await server.network?.start();
    } catch (err) {
      await server.listener.stop().catch(() => {});
      await server.network?.stop().catch(() => {});
      await storage.log.close().catch(() => {});
      throw err;
    }
    node.start(now);
    server.pump();
    server.ticker = setInterval(() => server.onTick(), NODE_TICK_MS);
    const mode = config.servers.length > 1 ? `one of ${config.servers.length} servers, peer authentication: ${peerAuth.mode}` : 'standalone';
    logger.info(`zabkit ${VERSION} server ${config.myid} listening on ${server.connectString} (${mode}); electing a leader`);
    return server;
  }

  serving(): Promise<void> {
    return this.servingP;
  }

  get connectString(): string {
    return `${this.host}:${this.port}`;
  }

  status(): ServerStatus {
    const s = this.node.status();
    const standalone = this.config.servers.length <= 1 && s.role === 'leader';
    return {
      serverId: this.serverId,
      version: VERSION,
      ...s,
      role: standalone ? 'standalone' : s.role,
      peerAuth: this.peerAuth.mode,
      connections: this.listener.connectionCount,
      latency: this.latency.snapshot(),
      packetsReceived: this.listener.packetsReceived,
      packetsSent: this.listener.packetsSent,
      uptimeMs: Date.now() - this.startedAt,
      memory: process.memoryUsage(),
    };
  }

  async close(): Promise<void> {
    if (this.closing) return void (await this.stopped);
    this.closing = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.listener.stop();
    await this.network?.stop();
    await this.executor.idle();
    await this.snapshotter.idle().catch(() => {});
    await this.log.close();
    this.logger.info('server stopped');
    this.resolveStopped(null);
  }

  private onFrame(connId: number, frame: ClientFrame): void {
    if (this.closing) return;
    this.guard('a client frame', () => this.onFrameUnguarded(connId, frame));
  }

  private onFrameUnguarded(connId: number, frame: ClientFrame): void {
    const now = Date.now();
    switch (frame.k) {
      case FrameKind.status:
        this.listener.send(connId, { k: FrameKind.statusReply, status: this.status() });
        return;
      case FrameKind.connect:
        this.node.connect(connId, frame, now, randomBytes(SESSION_PASSWD_BYTES));
        break;
      case FrameKind.request:
        if (frame.req?.op !== OpCode.ping) this.latency.begin(connId, frame.xid, now);
        this.node.request(connId, frame, now);
        // A read is answered now, so the listener sees its reply bytes before handing over the next
        // frame (its backpressure counts them); writes wait for the batch's one pump.
        if (!WRITE_OPS.has(frame.req?.op)) {
          this.pump();
          return;
        }
        break;
      default:
        this.listener.close(connId, `unexpected frame kind ${(frame as { k: number }).k}`, 1002);
        return;
    }
    this.pumpSoon();
  }

  private onPeerMessage(from: number, msg: PeerMessage): void {
    if (this.closing) return;
    this.guard(`a kind ${msg.k} message from ${from}`, () => this.node.step(from, msg, Date.now()));
    this.pumpSoon();
  }

  /**
   * Runs an input of the node. No handler exception may end the process: one is logged and the
   * node leaves its role (goes LOOKING, which drops its clients and rebuilds from the election),
   * as a ZooKeeper server shuts its quorum peer down and restarts it. Only a failing recovery stops the server.
   */
  private guard(what: string, input: () => void): void {
    try {
      input();
    } catch (err) {
      this.recover(what, err);
    }
  }

  private recover(what: string, err: unknown): void {
    if (this.failed) return;
    this.logger.error(`handling ${what} failed: ${(err as Error)?.stack ?? String(err)}; going LOOKING`);
    try {
      this.node.goLooking(`internal error while handling ${what}: ${(err as Error)?.message ?? String(err)}`);
    } catch (again) {
      this.fatal(new Error(`could not recover from a failed ${what}: ${(again as Error)?.message ?? String(again)}`));
      return;
    }
    this.pumpSoon();
  }

  /**
   * One pump per incoming batch: the messages of a peer batch or a client's batched requests are
   * all stepped first (synchronously), so their storage ops share one submit and their ACKs and
   * replies leave together.
   */
  private pumpSoon(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.guard('the node output', () => this.pump());
    });
  }

  private onTick(): void {
    // (skipped, not held, during a reload: a burst of late ticks would only fire timeouts at once)
    if (this.closing || this.gate.holding) return;
    this.guard('a tick', () => {
      this.node.tick(Date.now());
      this.pump();
    });
  }

  /** Executes everything the node asked for since the last call. */
  private pump(): void {
    // (a reload pumps when it is done)
    if (this.failed || this.gate.holding) return;
    const ready: NodeReady = this.node.takeReady();
    for (const line of ready.logs) this.logger.info(line);
    for (const m of ready.send) this.deliver(m.to, m.msg);
    if (ready.storage.length > 0 || ready.sendAfterStorage.length > 0) {
      const after = ready.sendAfterStorage;
      this.executor.submit(ready.storage).then(
        () => {
          if (this.closing || this.failed) return;
          for (const m of after) this.deliver(m.to, m.msg);
          this.guard('the node output after storage', () => this.pump());
        },
        (err: unknown) => this.fatal(err as Error),
      );
      if (ready.storage.some((o) => o.kind === 'append')) this.snapshotter.logged(ready.storage.reduce((n, o) => n + (o.kind === 'append' ? o.txns.length : 0), 0));
      if (ready.storage.some((o) => o.kind === 'installSnapshot')) this.loadGeneration++;
    }
    if (!this.servedOnce && this.node.role() !== 'looking') {
      this.servedOnce = true;
      const role = this.status().role;
      this.logger.info(`zabkit ${VERSION} server ${this.serverId} ready on ${this.connectString} as ${role} (leader ${this.node.leaderId()})`);
      this.resolveServing();
    }
    // After the COMMITs to followers: a client told "done" here is less likely to then read an
    // older state at a follower (reads there are not linearizable without sync, as in ZooKeeper).
    this.sendOutbox(ready.outbox);
  }

  private sendOutbox(outbox: NodeReady['outbox']): void {
    if (outbox.length === 0) return;
    const now = Date.now();
    for (const entry of outbox) {
      if (entry.kind === 'send') {
        if (entry.frame.k === FrameKind.response) this.latency.end(entry.connId, entry.frame.xid, now);
        this.listener.send(entry.connId, entry.frame);
      } else {
        this.listener.close(entry.connId, entry.reason);
      }
    }
  }

  private deliver(to: number, msg: PeerMessage): void {
    if (to === this.serverId) {
      // The leader's own ACKs come back through the node, after the event loop turns.
      queueMicrotask(() =>
        this.gate.run(() => {
          if (this.closing || this.failed) return;
          this.guard(`its own kind ${msg.k} message`, () => {
            this.node.step(to, msg, Date.now());
            this.pump();
          });
        }),
      );
      return;
    }
    this.network?.send(to, msg);
  }

  /**
   * After a TRUNC cut the log: rebuilds the node's state from the newest snapshot and the log after
   * it, streamed as at startup. Inputs wait at the gate meanwhile; if the reload fails they stay
   * held, as the storage failure stops the server.
   */
  private async reload(storage: FileStorage): Promise<void> {
    this.loadGeneration++;
    this.gate.hold();
    const { records, snapshotZxid, warnings } = await reloadLog(storage.log, storage.snapshots, this.node);
    for (const w of warnings) this.logger.warn(w);
    this.logger.info(`reloaded ${records} txn(s) after ${afterSnapshot(snapshotZxid)}; last zxid 0x${this.node.lastLoggedZxid().toString(16)}`);
    this.gate.release();
    this.pump();
  }

  /** Snapshot chunks that stop (and fail the snapshot) if the tree was replaced meanwhile. */
  private *guardedChunks(): Generator<Uint8Array> {
    const gen = this.loadGeneration;
    for (const chunk of this.node.snapshotChunks()) {
      if (gen !== this.loadGeneration) throw new Error('the tree was reloaded during the snapshot; it will be retried');
      yield chunk;
    }
  }

  private fatal(err: Error): void {
    if (this.failed) return;
    // A log we cannot fsync is a log we cannot trust: stop serving, as ZooKeeper does.
    this.failed = true;
    this.logger.error(`storage failed, stopping: ${err.message}`);
    this.closing = true;
    if (this.ticker) clearInterval(this.ticker);
    void Promise.all([this.listener.stop().catch(() => {}), this.network?.stop().catch(() => {})]).then(() => this.resolveStopped(err));
  }
}
