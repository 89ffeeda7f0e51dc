import WebSocket from 'ws';
import {
  FrameKind,
  FrameError,
  decodeFrames,
  encodeFrame,
  FrameBatch,
  frameLimitFor,
  type ClientFrame,
  type ConnectFrame,
  type ConnectedFrame,
  type Frame,
  type ServerFrame,
} from '@zabkit/protocol';
import { ZabError, zabError } from './errors.js';
import { wsUrl, formatAddress, type ServerAddress } from './connect-string.js';
import type { Logger } from './options.js';

/**
 * Requests batched into one ws message stay under this size (far below any server's frame
 * limit, which is at least 64 KiB more than twice its maxDataBytes); a larger frame goes alone.
 */
const REQUEST_BATCH_MAX_BYTES = 32 * 1024;

export interface ConnectionHandlers {
  onFrame(frame: ServerFrame): void;
  /** The socket was lost (not called after a local `close()`). */
  onLost(reason: string): void;
}

export interface OpenOptions {
  timeoutMs: number;
  maxFrameBytes: number;
  logger?: Logger | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * One WebSocket to one server, after a successful handshake. Frames that arrive
 * before `attach()` are buffered so nothing is lost between the handshake and
 * the session taking over.
 */
export class Connection {
  readonly address: string;
  private handlers: ConnectionHandlers | undefined;
  private buffered: ServerFrame[] = [];
  private lostReason: string | undefined;
  private closed = false;
  /** The server accepts arrays of frames: requests made in one turn go out as one ws message. */
  private arrays = false;
  private readonly batch = new FrameBatch(REQUEST_BATCH_MAX_BYTES, (message) => {
    if (!this.closed && this.ws.readyState === WebSocket.OPEN) this.ws.send(message);
  });
  private flushScheduled = false;

  private constructor(
    private readonly ws: WebSocket,
    address: ServerAddress,
    private maxFrameBytes: number,
    private readonly logger: Logger | undefined,
  ) {
    this.address = formatAddress(address);
  }

  /** Opens a socket, sends the ConnectFrame and waits for ConnectedFrame. Rejects with a ZabError. */
  static open(address: ServerAddress, hello: ConnectFrame, o: OpenOptions): Promise<{ conn: Connection; connected: ConnectedFrame }> {
    return new Promise((resolve, reject) => {
      if (o.signal?.aborted) {
        reject(zabError('Aborted', 'connect aborted', { cause: o.signal.reason }));
        return;
      }
      // An all-zero mask (ws keeps its zeroed mask buffer when generateMask leaves it): masking only
      // protects browsers' proxies, and skipping it saves a copy and an XOR of every frame on both ends.
      const ws = new WebSocket(wsUrl(address), { maxPayload: o.maxFrameBytes, perMessageDeflate: false, generateMask: () => {} });
      const conn = new Connection(ws, address, o.maxFrameBytes, o.logger);
      let settled = false;
      const finish = (err: ZabError | undefined, connected?: ConnectedFrame): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (err) {
          conn.closed = true;
          ws.removeAllListeners('message');
          ws.on('error', () => {});
          ws.terminate();
          reject(err);
        } else {
          conn.arrays = connected!.frameArrays === true;
          if (Number.isInteger(connected!.maxDataBytes) && connected!.maxDataBytes > 0) conn.raiseFrameLimit(frameLimitFor(connected!.maxDataBytes));
          resolve({ conn, connected: connected! });
        }
      };
      const onAbort = (): void => finish(zabError('Aborted', 'connect aborted', { cause: o.signal?.reason }));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(
        () => finish(zabError('ConnectionLoss', `connect to ${conn.address} timed out after ${o.timeoutMs} ms`)),
        o.timeoutMs,
      );
      ws.on('open', () => {
        try {
          ws.send(encodeFrame({ ...hello, frameArrays: true }));
        } catch (cause) {
          finish(zabError('ConnectionLoss', `could not send connect frame to ${conn.address}`, { cause }));
        }
      });
      ws.on('error', (cause) => {
        if (!settled) finish(zabError('ConnectionLoss', `connection to ${conn.address} failed: ${cause.message}`, { cause }));
        else conn.lost(`socket error: ${cause.message}`);
      });
      ws.on('close', (code, reason) => {
        if (!settled) finish(zabError('ConnectionLoss', `${conn.address} closed the connection during the handshake (${code} ${reason.toString()})`));
        else conn.lost(`socket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`);
      });
      ws.on('message', (data, isBinary) => {
        const frames = conn.decode(data, isBinary);
        if (frames === undefined) {
          if (!settled) finish(zabError('ConnectionLoss', `${conn.address} sent an undecodable handshake reply`));
          return;
        }
        for (const frame of frames) {
          if (conn.closed) return;
          if (!settled) {
            if (frame.k === FrameKind.connected) finish(undefined, frame);
            else if (frame.k === FrameKind.connectRefused) finish(ZabError.from(frame.err, `${conn.address} refused the connection: ${frame.message}`));
            else finish(zabError('ConnectionLoss', `${conn.address} answered the handshake with frame kind ${frame.k}`));
            continue;
          }
          conn.deliver(frame);
        }
      });
    });
  }

  /**
   * Accepts frames up to `maxFrameBytes` from now on (the server's limit, learned from its
   * connected frame: a server with a larger jute.maxbuffer may send replies that large). ws fixes
   * maxPayload when the socket opens, before the server is heard; its receiver keeps the limit in
   * `_maxPayload`, raised here (a server test checks it against a server with a larger limit).
   */
  raiseFrameLimit(maxFrameBytes: number): void {
    if (maxFrameBytes <= this.maxFrameBytes) return;
    const receiver = (this.ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
    if (!receiver || typeof receiver._maxPayload !== 'number') {
      this.logger?.warn(`zabkit client: cannot raise the frame limit to ${maxFrameBytes} bytes (ws internals changed); replies above ${this.maxFrameBytes} will drop the connection`);
      return;
    }
    receiver._maxPayload = maxFrameBytes;
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Starts delivering frames (buffered ones first). Reports a loss that happened before attaching. */
  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
    const frames = this.buffered;
    this.buffered = [];
    for (const f of frames) {
      if (this.closed && this.lostReason === undefined) return;
      handlers.onFrame(f);
    }
    if (this.lostReason !== undefined) handlers.onLost(this.lostReason);
  }

  send(frame: ClientFrame): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    try {
      const bytes = encodeFrame(frame);
      if (!this.arrays) {
        this.ws.send(bytes);
        return true;
      }
      if (this.batch.add(bytes) && !this.flushScheduled) {
        this.flushScheduled = true;
        // After this turn's I/O callbacks: every request their continuations make shares one write.
        setImmediate(() => {
          this.flushScheduled = false;
          this.flushSafely();
        });
      }
      return true;
    } catch (cause) {
      this.logger?.warn(`zabkit client: send to ${this.address} failed`, cause);
      this.lost(`send failed: ${(cause as Error).message}`);
      return false;
    }
  }

  private flushSafely(): void {
    try {
      this.batch.flush();
    } catch (cause) {
      this.lost(`send failed: ${(cause as Error).message}`);
    }
  }

  /** Closes the socket without reporting a loss. */
  close(): void {
    if (this.closed) return;
    this.flushSafely();
    this.closed = true;
    this.ws.removeAllListeners('message');
    this.ws.on('error', () => {});
    try {
      this.ws.close(1000);
    } catch {
      /* already closing */
    }
    const t = setTimeout(() => this.ws.terminate(), 1000);
    t.unref?.();
  }

  /** One ws message: one frame or, from a server that batches, an array of them (in order). */
  private decode(data: WebSocket.RawData, isBinary: boolean): ServerFrame[] | undefined {
    if (this.closed) return undefined;
    let frames: Frame[];
    try {
      if (!isBinary) throw new FrameError('malformed', 'text frame on a binary protocol');
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      frames = decodeFrames(bytes, this.maxFrameBytes);
      for (const frame of frames) {
        if (frame.k === FrameKind.connect || frame.k === FrameKind.request || frame.k === FrameKind.status) {
          throw new FrameError('malformed', `client frame kind ${frame.k} received from the server`);
        }
      }
    } catch (err) {
      this.logger?.warn(`zabkit client: closing connection to ${this.address}: ${(err as Error).message}`);
      this.lost(`undecodable frame: ${(err as Error).message}`);
      return undefined;
    }
    return frames as ServerFrame[];
  }

  private deliver(frame: ServerFrame): void {
    if (this.closed) return;
    if (this.handlers) {
      try {
        this.handlers.onFrame(frame);
      } catch (err) {
        this.logger?.warn(`zabkit client: frame handler failed`, err);
      }
    } else this.buffered.push(frame);
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.lostReason = reason;
    this.ws.removeAllListeners('message');
    this.ws.on('error', () => {});
    this.ws.terminate();
    if (this.handlers) this.handlers.onLost(reason);
  }
}
