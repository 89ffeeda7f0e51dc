import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { decode, encode, isPeerFrame, PeerKind, PROTOCOL_VERSION, type PeerFrame, type PeerMessage } from '@zabkit/protocol';
import type { Logger } from '../runtime/logger.js';
import { OutboundLink, terminate, type PeerChannel } from './peer-outbound.js';

export { MAX_QUEUED_BYTES, MAX_QUEUED_MSGS, type PeerChannel } from './peer-outbound.js';

/** An inbound connection that has not sent a valid hello by then is closed. */
export const HELLO_TIMEOUT_MS = 10_000;

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
  logger: Logger;
  /** Larger inbound frames close that link (ws close 1009). A SNAP can be big: e.g. 256 MiB. */
  maxFrameBytes: number;
  /** Why a decoded message from `from` is malformed (the link is then closed), or null to deliver it. */
  validate?: (from: number, msg: PeerMessage) => string | null;
  /** One decoded message from `from`, in the order `from` sent it on that channel. */
  onMessage(from: number, msg: PeerMessage): void;
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

interface InboundConn {
  ws: WebSocket;
  channel: PeerChannel;
  remote: string;
  /** Set by a valid hello. */
  peer: number | null;
  lastUse: number;
  dead: boolean;
  helloTimer: NodeJS.Timeout | null;
}

interface Listener {
  channel: PeerChannel;
  http: Server;
  wss: WebSocketServer;
}

/**
 * Server-to-server transport. For each peer and channel this server sends only on its
 * own outbound connection and receives only on the one that peer dialled, so each
 * direction of each channel is one FIFO stream. Nothing here throws out of a socket
 * handler; a peer that breaks the protocol gets its link closed with a logged warning.
 */
export class PeerNetwork {
  private readonly me: PeerAddress;
  private readonly peers = new Map<number, PeerState>();
  private readonly inbound = new Map<string, InboundConn>();
  private readonly allInbound = new Set<InboundConn>();
  private listeners: Listener[] = [];
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
      const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
      const link = (channel: PeerChannel) =>
        new OutboundLink({
          myId: opts.myId,
          peer: addr.id,
          channel,
          url: `ws://${host}:${channel === 'quorum' ? addr.quorumPort : addr.electionPort}/`,
          logger: opts.logger,
          maxFrameBytes: opts.maxFrameBytes,
          minMs,
          maxMs,
          onOpen: (l) => this.used(addr.id, l),
          onBreak: (l) => this.linkBroke(addr.id, l.lastUse),
        });
      this.peers.set(addr.id, { addr, breaks: 0, out: { quorum: link('quorum'), election: link('election') } });
    }
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

  /** Ids with an open outbound quorum link (for status). */
  connectedPeers(): number[] {
    const ids: number[] = [];
    for (const [id, st] of this.peers) if (st.out.quorum.isOpen) ids.push(id);
    return ids.sort((a, b) => a - b);
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
    for (const conn of this.allInbound) {
      conn.dead = true;
      if (conn.helloTimer) clearTimeout(conn.helloTimer);
      waits.push(terminate(conn.ws));
    }
    this.allInbound.clear();
    this.inbound.clear();
    for (const l of this.listeners) {
      waits.push(new Promise<void>((resolve) => l.wss.close(() => resolve())));
      waits.push(new Promise<void>((resolve) => l.http.close(() => resolve())));
      l.http.closeAllConnections();
    }
    this.listeners = [];
    await Promise.all(waits);
  }

  private async listen(channel: PeerChannel): Promise<Listener> {
    const port = channel === 'quorum' ? this.me.quorumPort : this.me.electionPort;
    const http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('zabkit peer port: WebSocket only\n');
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxFrameBytes, perMessageDeflate: false });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.stopped) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, channel, req));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, this.me.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    http.on('error', (err) => this.opts.logger.error(`peer ${channel} listener: ${err.message}`));
    this.opts.logger.info(`peer ${channel} channel listening on ${this.me.host}:${port}`);
    return { channel, http, wss };
  }

  private accept(ws: WebSocket, channel: PeerChannel, req: IncomingMessage): void {
    if (this.stopped) {
      void terminate(ws);
      return;
    }
    const conn: InboundConn = {
      ws,
      channel,
      remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
      peer: null,
      lastUse: -1,
      dead: false,
      helloTimer: null,
    };
    this.allInbound.add(conn);
    conn.helloTimer = setTimeout(() => this.dropInbound(conn, `no hello within ${HELLO_TIMEOUT_MS} ms`, 1008), HELLO_TIMEOUT_MS);
    ws.on('message', (data, isBinary) => {
      try {
        this.onInboundFrame(conn, data, isBinary);
      } catch (err) {
        this.opts.logger.error(`peer network: inbound frame handling failed: ${(err as Error)?.stack ?? err}`);
        this.dropInbound(conn, 'internal error', 1011);
      }
    });
    ws.on('error', (err) => {
      if (!conn.dead) this.opts.logger.warn(`${describe(conn)}: ${err.message}`);
    });
    ws.on('close', (code) => {
      this.allInbound.delete(conn);
      if (conn.dead) return;
      if (conn.peer !== null) this.opts.logger.info(`${describe(conn)} closed (code ${code})`);
      this.dropInbound(conn, '', code);
    });
  }

  private onInboundFrame(conn: InboundConn, data: RawData, isBinary: boolean): void {
    if (conn.dead || this.stopped) return;
    if (!isBinary) return this.dropInbound(conn, 'text frames are not part of the protocol', 1003);
    let frame: unknown;
    try {
      frame = decode(toBytes(data));
    } catch (err) {
      return this.dropInbound(conn, `undecodable frame: ${(err as Error)?.message ?? err}`, 1007);
    }
    if (!isPeerFrame(frame) || Array.isArray(frame)) return this.dropInbound(conn, 'not a peer frame', 1007);
    if (conn.peer === null) return this.onHello(conn, frame);
    if (frame.k === PeerKind.batch) return this.onBatch(conn, frame.msgs);
    if (!this.admissible(conn, frame)) return;
    this.deliver(conn, frame);
  }

  /** Checks every message of a batch first (a bad one closes the link, delivering none), then delivers them in order. */
  private onBatch(conn: InboundConn, msgs: unknown): void {
    if (!Array.isArray(msgs) || msgs.length === 0) return this.dropInbound(conn, 'malformed batch frame', 1007);
    for (const m of msgs) {
      if (!isPeerFrame(m) || Array.isArray(m)) return this.dropInbound(conn, 'batch holds something that is not a peer message', 1007);
      if (m.k === PeerKind.batch) return this.dropInbound(conn, 'a batch inside a batch', 1008);
      if (!this.admissible(conn, m)) return;
    }
    for (const m of msgs as PeerMessage[]) {
      if (conn.dead || this.stopped) return;
      this.deliver(conn, m);
    }
  }

  /** A message after the hello must not be another hello and must belong on this channel; else the link is closed. */
  private admissible(conn: InboundConn, frame: PeerFrame): frame is PeerMessage {
    if (frame.k === PeerKind.hello) {
      this.dropInbound(conn, 'a second hello', 1008);
      return false;
    }
    if ((frame.k === PeerKind.vote) !== (conn.channel === 'election')) {
      this.dropInbound(conn, `kind ${frame.k} does not belong on the ${conn.channel} channel`, 1008);
      return false;
    }
    const problem = this.opts.validate?.(conn.peer!, frame as PeerMessage) ?? null;
    if (problem !== null) {
      this.dropInbound(conn, `invalid message: ${problem}`, 1008);
      return false;
    }
    return true;
  }

  private deliver(conn: InboundConn, frame: PeerMessage): void {
    const peer = conn.peer!;
    const st = this.peers.get(peer);
    if (st) conn.lastUse = st.breaks;
    try {
      this.opts.onMessage(peer, frame);
    } catch (err) {
      this.opts.logger.error(`peer network: handling kind ${frame.k} from ${peer} failed: ${(err as Error)?.stack ?? err}`);
      this.dropInbound(conn, 'the message handler failed', 1011);
    }
  }

  private onHello(conn: InboundConn, frame: PeerFrame): void {
    if (frame.k !== PeerKind.hello) return this.dropInbound(conn, `first frame is kind ${frame.k}, not a hello`, 1008);
    const { sid, channel, protocolVersion } = frame;
    if (protocolVersion !== PROTOCOL_VERSION) {
      return this.dropInbound(conn, `protocol version ${String(protocolVersion)}, expected ${PROTOCOL_VERSION}`, 1008);
    }
    if (channel !== conn.channel) return this.dropInbound(conn, `hello for the ${String(channel)} channel`, 1008);
    if (sid === this.opts.myId) return this.dropInbound(conn, `hello claims our own id ${sid}`, 1008);
    const st = typeof sid === 'number' ? this.peers.get(sid) : undefined;
    if (!st) return this.dropInbound(conn, `hello from unknown server ${String(sid)}`, 1008);
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    conn.helloTimer = null;
    const key = `${sid}/${conn.channel}`;
    const old = this.inbound.get(key);
    if (old) {
      this.opts.logger.info(`${describe(old)} replaced by a newer connection from ${conn.remote}`);
      this.dropInbound(old, 'replaced by a newer connection', 1000);
    }
    conn.peer = sid;
    conn.lastUse = st.breaks;
    this.inbound.set(key, conn);
    this.opts.logger.debug(`${describe(conn)} accepted`);
  }

  /** Stops delivering from `conn`, closes it, and reports the break if it was a peer's link. */
  private dropInbound(conn: InboundConn, reason: string, code: number): void {
    if (conn.dead) return;
    conn.dead = true;
    if (conn.helloTimer) clearTimeout(conn.helloTimer);
    conn.helloTimer = null;
    if (reason && code !== 1000) this.opts.logger.warn(`${describe(conn)}: ${reason}; closing`);
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.close(code, reason.slice(0, 120));
    else if (conn.ws.readyState !== conn.ws.CLOSED) void terminate(conn.ws);
    if (conn.peer === null) return;
    const key = `${conn.peer}/${conn.channel}`;
    if (this.inbound.get(key) === conn) this.inbound.delete(key);
    this.linkBroke(conn.peer, conn.lastUse);
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

function describe(conn: InboundConn): string {
  return conn.peer === null
    ? `inbound ${conn.channel} connection from ${conn.remote}`
    : `link from peer ${conn.peer} (${conn.channel})`;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
