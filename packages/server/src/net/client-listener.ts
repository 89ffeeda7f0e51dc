import { WebSocketServer, type WebSocket } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeFrame, decodeFrames, encodeFrame, FrameBatch, FrameError, FrameKind, type ClientFrame, type ServerFrame } from '@zabkit/protocol';
import type { Logger } from '../runtime/logger.js';

export interface ClientListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Frames above this close the connection (ws close 1009). */
  maxFrameBytes: number;
  /** Connections allowed per remote address; 0 = unlimited. */
  maxClientCnxns: number;
  logger: Logger;
  onOpen(connId: number, remote: string): void;
  onFrame(connId: number, frame: ClientFrame): void;
  onClose(connId: number): void;
}

interface Conn {
  ws: WebSocket;
  remote: string;
  /** The client's connect frame said it accepts arrays of frames (`frameArrays: true`). */
  arrays: boolean;
  /** Encoded frames not yet written (only when `arrays`); flushed together after this turn's poll phase. */
  batch: FrameBatch;
}

/** Frames to one connection within one turn go out as one ws message (a msgpack array) of at most this many bytes. */
export const REPLY_BATCH_MAX_BYTES = 256 * 1024;

/**
 * Accepts client WebSockets and turns their binary frames into decoded
 * ClientFrames. A frame that cannot be decoded closes that one connection
 * with a logged reason; nothing here throws out of a socket handler.
 */
export class ClientListener {
  private wss: WebSocketServer | null = null;
  private readonly conns = new Map<number, Conn>();
  private readonly perRemote = new Map<string, number>();
  private nextConnId = 1;
  packetsReceived = 0;
  packetsSent = 0;
  private readonly dirty = new Set<Conn>();
  private flushScheduled = false;

  constructor(private readonly opts: ClientListenerOptions) {}

  async listen(): Promise<number> {
    const wss = new WebSocketServer({
      host: this.opts.host,
      port: this.opts.port,
      maxPayload: this.opts.maxFrameBytes,
      perMessageDeflate: false,
    });
    this.wss = wss;
    wss.on('connection', (ws, req) => this.accept(ws, req));
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    wss.on('error', (err) => this.opts.logger.error(`client listener: ${err.message}`));
    return (wss.address() as AddressInfo).port;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  send(connId: number, frame: ServerFrame): void {
    const conn = this.conns.get(connId);
    if (!conn || conn.ws.readyState !== conn.ws.OPEN) return;
    this.packetsSent++;
    // Batching both ways is a transport matter: a client that batches replies may batch requests.
    if (frame.k === FrameKind.connected && conn.arrays) frame = { ...frame, frameArrays: true };
    const bytes = encodeFrame(frame);
    if (!conn.arrays) {
      conn.ws.send(bytes, { binary: true });
      return;
    }
    if (!conn.batch.add(bytes)) return;
    this.dirty.add(conn);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // after the poll phase, like peer batches: replies from every callback of this turn share a write
      setImmediate(() => this.flushAll());
    }
  }

  private flushAll(): void {
    this.flushScheduled = false;
    for (const conn of this.dirty) conn.batch.flush();
    this.dirty.clear();
  }

  /** Closes after frames already queued on the socket are flushed. */
  close(connId: number, reason: string, code = 1000): void {
    const conn = this.conns.get(connId);
    if (!conn) return;
    this.opts.logger.debug(`closing connection ${connId} (${conn.remote}): ${reason}`);
    conn.batch.flush();
    conn.ws.close(code, reason.slice(0, 120));
  }

  async stop(): Promise<void> {
    const wss = this.wss;
    if (!wss) return;
    this.wss = null;
    for (const conn of this.conns.values()) conn.ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const addr = req.socket.remoteAddress ?? '?';
    const count = this.perRemote.get(addr) ?? 0;
    if (this.opts.maxClientCnxns > 0 && count >= this.opts.maxClientCnxns) {
      this.opts.logger.warn(`too many connections from ${addr} (max ${this.opts.maxClientCnxns}); refusing`);
      ws.close(1013, 'too many connections from this address');
      return;
    }
    this.perRemote.set(addr, count + 1);
    const connId = this.nextConnId++;
    const batch = new FrameBatch(REPLY_BATCH_MAX_BYTES, (message) => {
      if (ws.readyState === ws.OPEN) ws.send(message, { binary: true });
    });
    const conn: Conn = { ws, remote, arrays: false, batch };
    this.conns.set(connId, conn);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.close(connId, 'text frames are not part of the protocol', 1003);
        return;
      }
      let frames: ClientFrame[];
      try {
        // Arrays only after a connect frame that offered them (which itself comes alone).
        const bytes = toBytes(data);
        frames = (conn.arrays ? decodeFrames(bytes, this.opts.maxFrameBytes) : [decodeFrame(bytes, this.opts.maxFrameBytes)]) as ClientFrame[];
      } catch (err) {
        const reason = err instanceof FrameError ? `${err.reason} frame: ${err.message}` : String(err);
        this.opts.logger.warn(`connection ${connId} (${remote}) sent a bad frame, closing: ${reason}`);
        this.close(connId, reason, 1007);
        return;
      }
      for (const frame of frames) {
        if (conn.ws.readyState !== conn.ws.OPEN) return;
        this.packetsReceived++;
        if (frame.k === FrameKind.connect && frame.frameArrays === true) conn.arrays = true;
        try {
          this.opts.onFrame(connId, frame);
        } catch (err) {
          this.opts.logger.error(`connection ${connId}: handling a frame failed: ${(err as Error)?.stack ?? err}`);
          this.close(connId, 'internal error', 1011);
          return;
        }
      }
    });
    ws.on('error', (err) => this.opts.logger.warn(`connection ${connId} (${remote}) closed on error: ${err.message}`));
    ws.on('close', () => {
      this.conns.delete(connId);
      this.dirty.delete(conn);
      const n = (this.perRemote.get(addr) ?? 1) - 1;
      if (n <= 0) this.perRemote.delete(addr);
      else this.perRemote.set(addr, n);
      try {
        this.opts.onClose(connId);
      } catch (err) {
        this.opts.logger.error(`connection ${connId}: close handler failed: ${(err as Error)?.stack ?? err}`);
      }
    });
    this.opts.onOpen(connId, remote);
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(0);
}
