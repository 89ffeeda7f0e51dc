import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFrame, decodeFrames, encodeFrame, FrameBatch, FrameError, FrameKind, type ClientFrame, type ServerFrame } from '@zabkit/protocol';
import type { Logger } from '../runtime/logger.js';
import { ClientAdmission, refuseSocket, type Admitted } from './client-admission.js';
import { ConnFlow, GlobalOutstanding, type FlowLimits } from './client-flow.js';

export interface ClientListenerOptions extends FlowLimits {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Frames above this close the connection (ws close 1009); a reply above it becomes a ResponseTooLarge error. */
  maxFrameBytes: number;
  /** Connections allowed per remote address, counted from TCP accept; 0 = unlimited. */
  maxClientCnxns: number;
  /** Sockets per remote address that have not yet sent a connect (or status) frame. */
  maxHandshakingCnxns: number;
  /** From TCP accept to the connect frame, in ms. */
  handshakeTimeoutMs: number;
  /** Unanswered requests over all connections past which no client socket is read. */
  globalOutstandingLimit: number;
  logger: Logger;
  onOpen(connId: number, remote: string): void;
  onFrame(connId: number, frame: ClientFrame): void;
  onClose(connId: number): void;
}

interface Conn {
  id: number;
  ws: WebSocket;
  remote: string;
  admitted: Admitted | undefined;
  /** The client's connect frame said it accepts arrays of frames (`frameArrays: true`). */
  arrays: boolean;
  /** Encoded frames not yet written (only when `arrays`); flushed together after this turn's poll phase. */
  batch: FrameBatch;
  flow: ConnFlow;
  /** Decoded frames not yet handed to the server, from `next` on (a batch handled across turns). */
  pending: ClientFrame[];
  next: number;
  /** The socket is paused (frames wait, or a limit is reached). */
  paused: boolean;
  sliceScheduled: boolean;
  /** Being closed: nothing more is handled or sent. */
  closing: boolean;
}

/** Frames to one connection within one turn go out as one ws message (a msgpack array) of at most this many bytes. */
export const REPLY_BATCH_MAX_BYTES = 256 * 1024;
/**
 * Frames of one connection are handed to the server for at most this long per event-loop turn;
 * the rest wait (socket paused) for the next turn, so one message of expensive reads cannot hold
 * the loop (elections and other clients are served in between).
 */
export const SLICE_BUDGET_MS = 5;
const NO_FRAMES: ClientFrame[] = [];

/**
 * Accepts client WebSockets and turns their binary frames into decoded
 * ClientFrames. A frame that cannot be decoded closes that one connection
 * with a logged reason; nothing here throws out of a socket handler.
 * Everything a client can grow is bounded here: sockets per address and their
 * handshake time (ClientAdmission), unanswered requests and unsent reply bytes
 * (ConnFlow: pause reading, then close), and frames handled per turn.
 */
export class ClientListener {
  private net: NetServer | null = null;
  private http: HttpServer | null = null;
  private wss: WebSocketServer | null = null;
  private readonly conns = new Map<number, Conn>();
  private readonly bySocket = new WeakMap<Socket, Conn>();
  private readonly admittedBy = new WeakMap<Socket, Admitted>();
  private readonly sockets = new Set<Socket>();
  private readonly blocked = new Set<Conn>();
  private readonly global: GlobalOutstanding;
  private readonly admission: ClientAdmission;
  private nextConnId = 1;
  packetsReceived = 0;
  packetsSent = 0;
  private readonly dirty = new Set<Conn>();
  private flushScheduled = false;

  constructor(private readonly opts: ClientListenerOptions) {
    this.global = new GlobalOutstanding(opts.globalOutstandingLimit);
    this.admission = new ClientAdmission(opts, opts.logger, (socket) => this.missedDeadline(socket));
  }

  async listen(): Promise<number> {
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.opts.maxFrameBytes, perMessageDeflate: false });
    // Only parses the upgrade request of sockets handed to it; the handshake deadline is ClientAdmission's
    // (the http server's own header timeouts run only on a server that listens itself).
    const http = createHttpServer();
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end('this port speaks the zabkit protocol over WebSocket\n');
    });
    http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
    // Sockets are admitted (or refused) at TCP accept, before the HTTP parser sees a byte.
    const server = createNetServer((socket) => {
      const admitted = this.admission.admit(socket);
      if (typeof admitted === 'string') return refuseSocket(socket, admitted);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.admittedBy.set(socket, admitted);
      http.emit('connection', socket);
    });
    this.net = server;
    this.http = http;
    this.wss = wss;
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host);
    });
    server.on('error', (err) => this.opts.logger.error(`client listener: ${err.message}`));
    wss.on('error', (err) => this.opts.logger.error(`client listener: ${err.message}`));
    return (server.address() as AddressInfo).port;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Sockets open from one IP address (upgraded or not), and how many are mid-handshake. */
  socketsFrom(addr: string): { open: number; handshaking: number } {
    return this.admission.countsFor(addr);
  }

  /** Requests read from every connection and not yet answered. */
  get outstanding(): number {
    return this.global.count;
  }

  send(connId: number, frame: ServerFrame): void {
    const conn = this.conns.get(connId);
    if (!conn || conn.closing || conn.ws.readyState !== conn.ws.OPEN) return;
    this.packetsSent++;
    if (frame.k === FrameKind.response) this.answered(conn);
    // Batching both ways is a transport matter: a client that batches replies may batch requests.
    if (frame.k === FrameKind.connected && conn.arrays) frame = { ...frame, frameArrays: true };
    let bytes = encodeFrame(frame);
    if (bytes.byteLength > this.opts.maxFrameBytes && frame.k === FrameKind.response) {
      const message = `the reply is ${bytes.byteLength} bytes, over the frame limit of ${this.opts.maxFrameBytes} (raise maxDataBytes / jute.maxbuffer, or read less at once)`;
      bytes = encodeFrame({ k: FrameKind.response, xid: frame.xid, zxid: frame.zxid, op: frame.op, err: 'ResponseTooLarge', message });
    }
    if (!conn.arrays) this.write(conn, bytes);
    else if (conn.batch.add(bytes)) {
      conn.flow.inBatch += bytes.byteLength;
      this.dirty.add(conn);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // after the poll phase, like peer batches: replies from every callback of this turn share a write
        setImmediate(() => this.flushAll());
      }
    }
    const over = conn.flow.overBytes();
    if (over !== null) this.closeOver(conn, over);
  }

  private flushAll(): void {
    this.flushScheduled = false;
    for (const conn of this.dirty) conn.batch.flush();
    this.dirty.clear();
  }

  /** Closes after frames already queued on the socket are flushed. */
  close(connId: number, reason: string, code = 1000): void {
    const conn = this.conns.get(connId);
    if (!conn || conn.closing) return;
    this.opts.logger.debug(`closing connection ${connId} (${conn.remote}): ${reason}`);
    conn.batch.flush();
    conn.closing = true;
    conn.pending = NO_FRAMES;
    conn.ws.close(code, reason.slice(0, 120));
  }

  async stop(): Promise<void> {
    const server = this.net;
    if (!server) return;
    this.net = null;
    for (const conn of this.conns.values()) conn.ws.terminate();
    for (const socket of this.sockets) socket.destroy();
    this.http = null;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const connId = this.nextConnId++;
    const conn: Conn = {
      id: connId,
      ws,
      remote,
      admitted: this.admittedBy.get(req.socket),
      arrays: false,
      batch: new FrameBatch(REPLY_BATCH_MAX_BYTES, (message) => {
        conn.flow.inBatch = 0;
        if (!conn.closing && ws.readyState === ws.OPEN) this.write(conn, message);
      }),
      flow: new ConnFlow(this.opts, this.global),
      pending: NO_FRAMES,
      next: 0,
      paused: false,
      sliceScheduled: false,
      closing: false,
    };
    this.conns.set(connId, conn);
    this.bySocket.set(req.socket, conn);
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    ws.on('error', (err) => this.opts.logger.warn(`connection ${connId} (${remote}) closed on error: ${err.message}`));
    ws.on('close', () => {
      this.conns.delete(connId);
      this.dirty.delete(conn);
      this.blocked.delete(conn);
      conn.closing = true;
      conn.pending = NO_FRAMES;
      this.release(conn);
      try {
        this.opts.onClose(connId);
      } catch (err) {
        this.opts.logger.error(`connection ${connId}: close handler failed: ${(err as Error)?.stack ?? err}`);
      }
    });
    this.opts.onOpen(connId, remote);
  }

  private onMessage(conn: Conn, data: unknown, isBinary: boolean): void {
    if (conn.closing) return;
    if (!isBinary) {
      this.close(conn.id, 'text frames are not part of the protocol', 1003);
      return;
    }
    let frames: ClientFrame[];
    try {
      // Arrays only after a connect frame that offered them (which itself comes alone).
      const bytes = toBytes(data);
      frames = (conn.arrays ? decodeFrames(bytes, this.opts.maxFrameBytes) : [decodeFrame(bytes, this.opts.maxFrameBytes)]) as ClientFrame[];
    } catch (err) {
      const reason = err instanceof FrameError ? `${err.reason} frame: ${err.message}` : String(err);
      this.opts.logger.warn(`connection ${conn.id} (${conn.remote}) sent a bad frame, closing: ${reason}`);
      this.close(conn.id, reason, 1007);
      return;
    }
    let requests = 0;
    for (const frame of frames) {
      if (frame.k === FrameKind.request) requests++;
      else if (frame.k === FrameKind.connect && frame.frameArrays === true) conn.arrays = true;
    }
    const over = conn.flow.read(requests);
    if (over !== null) return this.closeOver(conn, over);
    if (conn.next >= conn.pending.length) {
      conn.pending = frames;
      conn.next = 0;
    } else {
      // (ws may still emit a message it had parsed when the socket was paused)
      for (const f of frames) conn.pending.push(f);
    }
    this.handle(conn);
  }

  /** Hands waiting frames to the server until they run out, the turn's budget is spent, or replies back up. */
  private handle(conn: Conn): void {
    const start = performance.now();
    let handled = 0;
    while (conn.next < conn.pending.length && !conn.closing) {
      if (!conn.flow.mayHandle) break; // resumed by the write callbacks
      if (handled > 0 && performance.now() - start >= SLICE_BUDGET_MS) {
        this.scheduleSlice(conn);
        break;
      }
      const frame = conn.pending[conn.next++] as ClientFrame;
      handled++;
      this.packetsReceived++;
      if (frame.k === FrameKind.connect || frame.k === FrameKind.status) conn.admitted?.handshakeDone();
      try {
        this.opts.onFrame(conn.id, frame);
      } catch (err) {
        this.opts.logger.error(`connection ${conn.id}: handling a frame failed: ${(err as Error)?.stack ?? err}`);
        this.close(conn.id, 'internal error', 1011);
        return;
      }
    }
    if (conn.next >= conn.pending.length) {
      conn.pending = NO_FRAMES;
      conn.next = 0;
    }
    this.updateReading(conn);
  }

  private scheduleSlice(conn: Conn): void {
    if (conn.sliceScheduled) return;
    conn.sliceScheduled = true;
    setImmediate(() => {
      conn.sliceScheduled = false;
      if (!conn.closing) this.handle(conn);
    });
  }

  /** Pauses the socket while frames wait or a limit is reached; resumes it when neither holds. */
  private updateReading(conn: Conn): void {
    if (conn.closing) return;
    const hold = conn.next < conn.pending.length || !conn.flow.mayRead;
    if (hold && !conn.paused) {
      conn.paused = true;
      this.blocked.add(conn);
      conn.ws.pause();
    } else if (!hold && conn.paused) {
      conn.paused = false;
      this.blocked.delete(conn);
      conn.ws.resume();
    }
  }

  private write(conn: Conn, message: Uint8Array): void {
    const n = message.byteLength;
    conn.flow.inSocket += n;
    conn.ws.send(message, { binary: true }, () => this.written(conn, n));
  }

  /** A write completed (or failed): the backlog shrank, so waiting frames may go on. */
  private written(conn: Conn, n: number): void {
    conn.flow.inSocket -= n;
    if (conn.closing || !conn.paused) return;
    if (conn.next < conn.pending.length) {
      if (conn.flow.mayHandle) this.scheduleSlice(conn);
    } else this.updateReading(conn);
  }

  private answered(conn: Conn): void {
    const wasOver = this.global.over;
    conn.flow.answered();
    if (wasOver && !this.global.over) this.unblockAll();
    else if (conn.paused) this.updateReading(conn);
  }

  private release(conn: Conn): void {
    const wasOver = this.global.over;
    conn.flow.release();
    if (wasOver && !this.global.over) this.unblockAll();
  }

  private unblockAll(): void {
    for (const c of [...this.blocked]) this.updateReading(c);
  }

  /** A limit was passed: close with the reason (the client sees it if it still reads), then cut the socket. */
  private closeOver(conn: Conn, reason: string): void {
    if (conn.closing) return;
    this.opts.logger.warn(`closing connection ${conn.id} (${conn.remote}): ${reason}`);
    conn.closing = true;
    conn.pending = NO_FRAMES;
    this.dirty.delete(conn);
    this.release(conn);
    conn.ws.close(1008, reason.slice(0, 120));
    setTimeout(() => conn.ws.terminate(), 1000).unref();
  }

  private missedDeadline(socket: Socket): void {
    const conn = this.bySocket.get(socket);
    if (!conn) {
      socket.destroy();
      return;
    }
    this.close(conn.id, `no connect frame within ${this.opts.handshakeTimeoutMs} ms`, 1008);
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(0);
}
