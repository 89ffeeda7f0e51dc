import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { decode, encode, isPeerFrame, PeerKind, type PeerFrame, type PeerMessage } from '@zabkit/protocol';
import type { Logger } from '../runtime/logger.js';
import type { PeerAuth } from './peer-auth.js';
import { HANDSHAKE_TIMEOUT_MS, InboundConn, type InboundHost } from './peer-inbound.js';
import { OutboundLink, type PeerChannel } from './peer-outbound.js';

export { MAX_QUEUED_BYTES, MAX_QUEUED_MSGS, type PeerChannel } from './peer-outbound.js';
export { HANDSHAKE_TIMEOUT_MS } from './peer-inbound.js';
export { PRE_AUTH_FRAME_BYTES } from './peer-framing.js';
export { peerAuthMode, type PeerAuth, type PeerAuthMode, type PeerTls } from './peer-auth.js';

/** Connections that have not completed the handshake, per remote address and in all; more are refused at once. */
export const MAX_UNAUTHENTICATED_PER_ADDRESS = 8;
export const MAX_UNAUTHENTICATED = 64;

export interface PeerAddress {
  id: number;
  host: string;
  /** Port for everything but votes (followerInfo, proposals, commits, pings ...). */
  quorumPort: number;
  /** Port for votes (leader election). */
  electionPort: number;
}

export interface PeerNetworkOptions {
  myId: number;
  /** Every server, including this one (whose entry gives the host and ports to listen on). */
  peers: PeerAddress[];
  /** How links prove their ends: a shared secret, mutual TLS, both, or neither (insecure). */
  auth: PeerAuth;
  logger: Logger;
  /** Larger inbound frames (after the handshake) close that link. A SNAP can be big: e.g. 256 MiB. */
  maxFrameBytes: number;
  /** One decoded message from `from`, in the order `from` sent it on that channel. */
  onMessage(from: number, msg: PeerMessage): void;
  /**
   * Checks every message from an authenticated peer before any is delivered (each member of a
   * batch, all of them first). A non-null result is why: the link is closed with it logged, and
   * nothing of that frame is delivered. Default: everything passes.
   */
  validate?: (from: number, msg: PeerMessage) => string | null;
  /**
   * The link to `peer` broke (either direction, either channel): messages in flight may be
   * lost. Called once per break, not once per socket or per failed redial.
   */
  onDisconnect(peer: number): void;
  /** Reconnect backoff (default min 50 ms, max 2000 ms), exponential with jitter. */
  reconnect?: { minMs?: number; maxMs?: number };
}

interface PeerState {
  addr: PeerAddress;
  /** How many breaks were reported; a link used since the last report reports the next. */
  breaks: number;
  out: Record<PeerChannel, OutboundLink>;
}

/**
 * Server-to-server transport: TCP (TLS with sslQuorum) carrying u32-length-prefixed msgpack frames.
 * For each peer and channel this server sends only on its own outbound connection and receives only
 * on the one that peer dialled, so each direction of each channel is one FIFO stream. A peer proves
 * who it is (peer-handshake.ts) before anything it sends is read. Nothing here throws out of a socket
 * handler; a peer that breaks the protocol gets its link closed with a logged warning.
 */
export class PeerNetwork {
  private readonly me: PeerAddress;
  private readonly peers = new Map<number, PeerState>();
  private readonly inbound = new Map<string, InboundConn>();
  private readonly allInbound = new Set<InboundConn>();
  /** Sockets not yet authenticated, per remote address, and the `address:port` of each. */
  private readonly unauthenticated = new Map<string, number>();
  private readonly halfOpen = new Map<string, string>();
  private refusedFloods = 0;
  private tlsFailures = 0;
  private lastTlsFailure = '';
  private readonly host: InboundHost;
  private listeners: Server[] = [];
  private stopped = false;
  private stopping: Promise<void> | null = null;

  constructor(private readonly opts: PeerNetworkOptions) {
    const me = opts.peers.find((p) => p.id === opts.myId);
    if (!me) throw new Error(`peer network: this server (${opts.myId}) is not in the peer list`);
    this.me = me;
    const minMs = Math.max(1, opts.reconnect?.minMs ?? 50);
    const maxMs = Math.max(minMs, opts.reconnect?.maxMs ?? 2000);
    for (const addr of opts.peers) {
      if (addr.id === opts.myId) continue;
      if (this.peers.has(addr.id)) throw new Error(`peer network: server id ${addr.id} listed twice`);
      const link = (channel: PeerChannel) =>
        new OutboundLink({
          myId: opts.myId,
          peer: addr.id,
          channel,
          host: addr.host,
          port: channel === 'quorum' ? addr.quorumPort : addr.electionPort,
          auth: opts.auth,
          logger: opts.logger,
          minMs,
          maxMs,
          onOpen: (l) => this.used(addr.id, l),
          onBreak: (l) => this.linkBroke(addr.id, l.lastUse),
        });
      this.peers.set(addr.id, { addr, breaks: 0, out: { quorum: link('quorum'), election: link('election') } });
    }
    this.host = {
      myId: opts.myId,
      auth: opts.auth,
      logger: opts.logger,
      maxFrameBytes: opts.maxFrameBytes,
      hostOf: (sid) => this.peers.get(sid)?.addr.host,
      authenticated: (conn) => this.onAuthenticated(conn),
      frame: (conn, bytes) => this.onInboundFrame(conn, bytes),
      gone: (conn) => this.onGone(conn),
    };
  }

  /** Listens on this server's quorumPort and electionPort (host from its own entry). */
  async start(): Promise<void> {
    if (this.stopped) throw new Error('peer network: already stopped');
    const channels: PeerChannel[] = ['quorum', 'election'];
    try {
      for (const channel of channels) this.listeners.push(await this.listen(channel));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Votes (PeerKind.vote) go on the election channel, everything else on the quorum channel. Never throws. */
  send(to: number, msg: PeerMessage): void {
    if (this.stopped) return;
    const st = this.peers.get(to);
    if (!st) {
      this.opts.logger.debug(`peer network: not sending kind ${msg.k} to ${to === this.opts.myId ? 'self' : `unknown server ${to}`}`);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = encode(msg);
    } catch (err) {
      this.opts.logger.error(`peer network: cannot encode a kind ${msg.k} message for ${to}: ${(err as Error)?.message ?? err}`);
      return;
    }
    const link = st.out[msg.k === PeerKind.vote ? 'election' : 'quorum'];
    link.lastUse = st.breaks;
    try {
      link.send(bytes);
    } catch (err) {
      this.opts.logger.error(`peer network: send to ${to} failed: ${(err as Error)?.stack ?? err}`);
    }
  }

  /** Ids with an open (authenticated) outbound quorum link (for status). */
  connectedPeers(): number[] {
    const ids: number[] = [];
    for (const [id, st] of this.peers) if (st.out.quorum.isOpen) ids.push(id);
    return ids.sort((a, b) => a - b);
  }

  /** Inbound connections that have not completed the handshake (for tests and status). */
  get unauthenticatedCount(): number {
    return this.halfOpen.size;
  }

  /** Closes everything; no callbacks after it resolves (none after it is called, in fact). */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    const waits: Promise<void>[] = [];
    for (const st of this.peers.values()) waits.push(st.out.quorum.close(), st.out.election.close());
    for (const conn of this.allInbound) waits.push(conn.kill());
    this.allInbound.clear();
    this.inbound.clear();
    for (const server of this.listeners) waits.push(new Promise<void>((resolve) => server.close(() => resolve())));
    this.listeners = [];
    await Promise.all(waits);
  }

  private async listen(channel: PeerChannel): Promise<Server> {
    const port = channel === 'quorum' ? this.me.quorumPort : this.me.electionPort;
    const tls = this.opts.auth.tls;
    const guarded = (fn: () => void, socket: Socket) => {
      try {
        fn();
      } catch (err) {
        this.opts.logger.error(`peer ${channel} listener: accepting a connection failed: ${(err as Error)?.stack ?? err}`);
        socket.destroy();
      }
    };
    let server: Server;
    if (tls) {
      // The TLS handshake (client certificate checked against the trust store) comes first; the
      // caps count the raw socket from its first moment.
      server = createTlsServer({
        key: tls.key,
        cert: tls.cert,
        ca: tls.ca,
        requestCert: true,
        // (checked in accept(), before anything is read: node then names why a certificate failed,
        // where refusing in the handshake leaves both ends with a bare "socket hang up")
        rejectUnauthorized: false,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      });
      server.prependListener('connection', (raw: Socket) => guarded(() => this.admit(raw, channel), raw));
      server.on('secureConnection', (socket: TLSSocket) => guarded(() => this.accept(socket, channel), socket));
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.tlsFailed(channel, socket.remoteAddress, err.message));
    } else {
      server = createServer({ noDelay: true }, (raw) => guarded(() => this.admit(raw, channel) && this.accept(raw, channel), raw));
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.me.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.logger.error(`peer ${channel} listener: ${err.message}`));
    this.opts.logger.info(`peer ${channel} channel listening on ${this.me.host}:${port}${tls ? ' (TLS)' : ''}`);
    return server;
  }

  /** Counts a new connection as unauthenticated, or refuses it over the caps. False when refused. */
  private admit(raw: Socket, channel: PeerChannel): boolean {
    raw.on('error', () => {});
    if (this.stopped) {
      raw.destroy();
      return false;
    }
    const address = raw.remoteAddress ?? '?';
    const fromAddress = this.unauthenticated.get(address) ?? 0;
    if (fromAddress >= MAX_UNAUTHENTICATED_PER_ADDRESS || this.halfOpen.size >= MAX_UNAUTHENTICATED) {
      // (a flood logs its first refusal and then one in a thousand)
      if (this.refusedFloods++ % 1000 === 0) {
        this.opts.logger.warn(
          `peer ${channel} port: refused a connection from ${address}: ${fromAddress} from that address and ` +
            `${this.halfOpen.size} in all have not completed the handshake (limits ${MAX_UNAUTHENTICATED_PER_ADDRESS} / ${MAX_UNAUTHENTICATED}; ${this.refusedFloods} refused so far)`,
        );
      }
      raw.destroy();
      return false;
    }
    const key = `${address}:${raw.remotePort ?? '?'}`;
    this.unauthenticated.set(address, fromAddress + 1);
    this.halfOpen.set(key, address);
    raw.once('close', () => this.release(key));
    return true;
  }

  private tlsFailed(channel: PeerChannel, address: string | undefined, why: string): void {
    // (a flood logs each new reason and then one in a hundred)
    if (this.tlsFailures++ % 100 === 0 || why !== this.lastTlsFailure) {
      this.lastTlsFailure = why;
      this.opts.logger.warn(`peer ${channel} port: TLS handshake from ${address ?? '?'} failed: ${why} (${this.tlsFailures} so far)`);
    }
  }

  private accept(socket: Socket, channel: PeerChannel): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.stopped || !this.halfOpen.has(remote)) return void socket.destroy();
    const tlsSocket = socket as TLSSocket;
    if (this.opts.auth.tls && !tlsSocket.authorized) {
      const why = tlsSocket.authorizationError ? String(tlsSocket.authorizationError) : 'no client certificate';
      this.tlsFailed(channel, socket.remoteAddress, `client certificate refused: ${why}`);
      return void socket.destroy();
    }
    socket.setNoDelay(true);
    this.allInbound.add(new InboundConn(this.host, socket, channel, remote));
  }

  /** Takes the connection from `address:port` off the unauthenticated counts (once). */
  private release(key: string): void {
    const address = this.halfOpen.get(key);
    if (address === undefined) return;
    this.halfOpen.delete(key);
    const n = (this.unauthenticated.get(address) ?? 1) - 1;
    if (n <= 0) this.unauthenticated.delete(address);
    else this.unauthenticated.set(address, n);
  }

  private onAuthenticated(conn: InboundConn): void {
    this.release(conn.remote);
    if (this.stopped) return void conn.kill();
    const sid = conn.peer!;
    const st = this.peers.get(sid)!;
    const key = `${sid}/${conn.channel}`;
    const old = this.inbound.get(key);
    if (old) {
      this.opts.logger.info(`${old.describe()} replaced by a newer authenticated connection from ${conn.remote}`);
      old.drop('replaced by a newer connection', 'info');
    }
    conn.lastUse = st.breaks;
    this.inbound.set(key, conn);
    this.opts.logger.debug(`${conn.describe()} authenticated from ${conn.remote}`);
  }

  private onGone(conn: InboundConn): void {
    this.release(conn.remote);
    this.allInbound.delete(conn);
    if (this.stopped || conn.peer === null) return;
    const key = `${conn.peer}/${conn.channel}`;
    if (this.inbound.get(key) === conn) this.inbound.delete(key);
    this.linkBroke(conn.peer, conn.lastUse);
  }

  private onInboundFrame(conn: InboundConn, bytes: Buffer): void {
    if (!conn.isOpen || this.stopped) return;
    let frame: unknown;
    try {
      frame = decode(bytes);
    } catch (err) {
      return conn.drop(`undecodable frame: ${(err as Error)?.message ?? err}`);
    }
    if (!isPeerFrame(frame) || Array.isArray(frame)) return conn.drop('not a peer frame');
    if (frame.k === PeerKind.batch) return this.onBatch(conn, frame.msgs);
    if (!this.admissible(conn, frame)) return;
    this.deliver(conn, frame);
  }

  /** Checks every message of a batch first (a bad one closes the link, delivering none), then delivers them in order. */
  private onBatch(conn: InboundConn, msgs: unknown): void {
    if (!Array.isArray(msgs) || msgs.length === 0) return conn.drop('malformed batch frame');
    for (const m of msgs) {
      if (!isPeerFrame(m) || Array.isArray(m)) return conn.drop('batch holds something that is not a peer message');
      if (m.k === PeerKind.batch) return conn.drop('a batch inside a batch');
      if (!this.admissible(conn, m)) return;
    }
    for (const m of msgs as PeerMessage[]) {
      if (!conn.isOpen || this.stopped) return;
      this.deliver(conn, m);
    }
  }

  /**
   * A message after the handshake must not be another hello, must belong on this channel, and must
   * pass the validate hook; else the link is closed.
   */
  private admissible(conn: InboundConn, frame: PeerFrame): frame is PeerMessage {
    if (frame.k === PeerKind.hello) {
      conn.drop('a second hello');
      return false;
    }
    if ((frame.k === PeerKind.vote) !== (conn.channel === 'election')) {
      conn.drop(`kind ${frame.k} does not belong on the ${conn.channel} channel`);
      return false;
    }
    if (!this.opts.validate) return true;
    let why: string | null;
    try {
      why = this.opts.validate(conn.peer!, frame as PeerMessage);
    } catch (err) {
      this.opts.logger.error(`peer network: validating kind ${frame.k} from ${conn.peer} failed: ${(err as Error)?.stack ?? err}`);
      why = 'the validator failed';
    }
    if (why === null) return true;
    conn.drop(`invalid kind ${frame.k} message: ${why}`);
    return false;
  }

  private deliver(conn: InboundConn, frame: PeerMessage): void {
    const peer = conn.peer!;
    const st = this.peers.get(peer);
    if (st) conn.lastUse = st.breaks;
    try {
      this.opts.onMessage(peer, frame);
    } catch (err) {
      this.opts.logger.error(`peer network: handling kind ${frame.k} from ${peer} failed: ${(err as Error)?.stack ?? err}`);
      conn.drop('the message handler failed');
    }
  }

  private used(peer: number, link: OutboundLink): void {
    const st = this.peers.get(peer);
    if (st) link.lastUse = st.breaks;
  }

  /** A link to `peer` broke; it is news to the runtime only if the link was used since the last report. */
  private linkBroke(peer: number, lastUse: number): void {
    if (this.stopped) return;
    const st = this.peers.get(peer);
    if (!st || lastUse !== st.breaks) return;
    st.breaks++;
    try {
      this.opts.onDisconnect(peer);
    } catch (err) {
      this.opts.logger.error(`peer network: disconnect handler for ${peer} failed: ${(err as Error)?.stack ?? err}`);
    }
  }
}
