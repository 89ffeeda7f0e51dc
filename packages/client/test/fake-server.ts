// A scriptable stand-in server speaking the client protocol, for client mechanics
// the real server cannot be made to show on demand (garbage frames, silence, refusals).
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import {
  FrameKind,
  decodeFrame,
  decodeFrames,
  encodeFrame,
  type ClientFrame,
  type ConnectFrame,
  type ErrorCode,
  type Request,
  type RequestFrame,
  type ServerFrame,
} from '@zabkit/protocol';

export type Reply = { body?: unknown; err?: ErrorCode } | 'hang';

export interface FakeOptions {
  /** Answer a ConnectFrame: default accepts (new session id 0x42 or the one asked for). */
  onConnect?: (f: ConnectFrame, conn: FakeConn) => { refuse: ErrorCode } | { timeoutMs?: number; sessionId?: bigint } | undefined;
  /** Answer a request: default `{ body: {} }`. */
  onRequest?: (req: Request, conn: FakeConn, frame: RequestFrame) => Reply;
  zxid?: bigint;
  /** Announce `frameArrays` in the connected frame and accept arrays of frames from the client. */
  acceptArrays?: boolean;
}

export class FakeConn {
  readonly frames: unknown[] = [];
  /** ws messages received (an array of frames counts once). */
  messages = 0;
  /** The raw bytes received after the upgrade (frames as they were on the wire). */
  readonly wire: Buffer[] = [];
  constructor(readonly ws: WebSocket) {}
  send(frame: ServerFrame): void {
    this.ws.send(encodeFrame(frame), { binary: true });
  }
  sendRaw(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }
  reply(xid: number, op: number, r: { body?: unknown; err?: ErrorCode }, zxid = 1n): void {
    const f: Record<string, unknown> = { k: FrameKind.response, xid, zxid, op };
    if (r.err) f.err = r.err;
    if (r.body !== undefined) f.body = r.body;
    this.send(f as unknown as ServerFrame);
  }
  drop(): void {
    this.ws.terminate();
  }
}

export class FakeServer extends EventEmitter {
  readonly conns: FakeConn[] = [];
  private constructor(
    private readonly wss: WebSocketServer,
    readonly port: number,
  ) {
    super();
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get last(): FakeConn {
    const c = this.conns[this.conns.length - 1];
    if (!c) throw new Error('no connection yet');
    return c;
  }

  static async start(o: FakeOptions = {}): Promise<FakeServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const server = new FakeServer(wss, (wss.address() as AddressInfo).port);
    wss.on('connection', (ws, req) => {
      const conn = new FakeConn(ws);
      req.socket.on('data', (b: Buffer) => conn.wire.push(b));
      server.conns.push(conn);
      ws.on('message', (data: Buffer) => {
        conn.messages++;
        for (const f of o.acceptArrays ? decodeFrames(data) : [decodeFrame(data)]) handle(f as ClientFrame);
      });
      const handle = (f: ClientFrame): void => {
        conn.frames.push(f);
        server.emit('frame', f, conn);
        if (f.k === FrameKind.connect) {
          const a = o.onConnect?.(f, conn);
          if (a && 'refuse' in a) {
            conn.send({ k: FrameKind.connectRefused, err: a.refuse, message: 'refused by fake' });
            ws.close();
            return;
          }
          conn.send({
            k: FrameKind.connected,
            protocolVersion: 1,
            timeoutMs: a?.timeoutMs ?? f.timeoutMs,
            sessionId: a?.sessionId ?? (f.sessionId === 0n ? 0x42n : f.sessionId),
            passwd: new Uint8Array([1, 2, 3]),
            serverId: 1,
            zxid: o.zxid ?? 1n,
            maxDataBytes: 1024,
            ...(o.acceptArrays ? { frameArrays: true } : {}),
          });
          server.emit('session', conn);
        } else if (f.k === FrameKind.request) {
          const r = o.onRequest?.(f.req, conn, f) ?? { body: {} };
          if (r !== 'hang') conn.reply(f.xid, f.req.op, r);
        }
      };
    });
    return server;
  }

  close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }
}
