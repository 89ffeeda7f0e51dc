import { WebSocket } from 'ws';
import { encode, encodeBatch, PeerKind, PROTOCOL_VERSION, type HelloMsg } from '@zabkit/protocol';
import type { Logger } from '../runtime/logger.js';

export type PeerChannel = HelloMsg['channel'];

/** Messages held for one link while it is (re)connecting, or buffered on its socket. */
export const MAX_QUEUED_MSGS = 10_000;
export const MAX_QUEUED_BYTES = 512 * 1024 * 1024;
/**
 * Messages sent on an open link within one turn of the event loop go out as one ws frame
 * (a PeerKind.batch) of at most this many bytes; a larger message goes alone. The batch is
 * written after the poll phase (setImmediate), so everything the turn's I/O callbacks produced
 * shares one write: at 64 writes in flight this cut the servers' CPU per write by about a fifth
 * against flushing at the end of each callback (a microtask).
 */
export const BATCH_MAX_BYTES = 256 * 1024;

/**
 * Frame masking defends browsers' proxies from cache poisoning; between servers it only costs a copy
 * and an XOR of every batch on both ends. ws skips both when the mask is all zeros (still valid
 * framing), which leaving its zeroed mask buffer alone gives.
 */
export function zeroMask(): void {}

/** A dial that has not completed the WebSocket handshake by then counts as failed. */
export const DIAL_TIMEOUT_MS = 5_000;
/** A link that closes sooner than this after opening counts as a failed dial for backoff. */
export const STABLE_LINK_MS = 1_000;

export interface OutboundLinkOptions {
  myId: number;
  peer: number;
  channel: PeerChannel;
  url: string;
  logger: Logger;
  maxFrameBytes: number;
  minMs: number;
  maxMs: number;
  /** The socket opened and the hello went out. */
  onOpen(link: OutboundLink): void;
  /**
   * Messages may have been lost: an open link closed, or the queue overflowed.
   * Called after the link's own state is reset, so the callee may send again.
   */
  onBreak(link: OutboundLink): void;
}

type State = 'idle' | 'connecting' | 'open';

/**
 * This server's own connection to one peer on one channel: the only socket it
 * sends that peer's messages of that channel on, so they form one FIFO stream.
 * Dials lazily when there is something to send, queues while connecting, and
 * retries failed dials with exponential backoff for as long as the queue is non-empty.
 */
export class OutboundLink {
  /** The peer's break count when this link was last opened or sent on (kept by PeerNetwork). */
  lastUse = -1;
  private ws: WebSocket | null = null;
  private state: State = 'idle';
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private retryAt = 0;
  private openedAt = 0;
  /** The last dial succeeded: the next failure is news (info), later ones are not (debug). */
  private lastDialOk = false;
  /** Overflowed and dropped; sends are discarded until the break has been reported. */
  private discarding = false;
  private closed = false;
  /** Encoded messages for `batchWs` not yet written; flushed together. */
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private batchWs: WebSocket | null = null;
  private flushScheduled = false;
  private readonly name: string;

  constructor(private readonly opts: OutboundLinkOptions) {
    this.name = `link to peer ${opts.peer} (${opts.channel})`;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Sends or queues one encoded message. */
  send(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.discarding) {
      this.opts.logger.debug(`${this.name}: dropped a message while its break is being reported`);
      return;
    }
    const ws = this.ws;
    if (this.state === 'open' && ws) {
      if (this.batchWs !== ws) this.resetBatch(ws);
      if (ws.bufferedAmount + this.batchBytes + bytes.byteLength > MAX_QUEUED_BYTES) {
        this.overflow(`${ws.bufferedAmount + this.batchBytes} bytes unsent on the socket`);
        return;
      }
      this.append(ws, bytes);
      this.scheduleFlush();
      return;
    }
    if (this.queue.length >= MAX_QUEUED_MSGS || this.queuedBytes + bytes.byteLength > MAX_QUEUED_BYTES) {
      this.overflow(`${this.queue.length} messages (${this.queuedBytes} bytes) queued while connecting`);
      return;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.byteLength;
    this.scheduleDial();
  }

  /** Drops the socket and the queue for good; resolves once the socket is closed. */
  close(): Promise<void> {
    this.closed = true;
    this.clearQueue();
    this.resetBatch(null);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    this.state = 'idle';
    return ws ? terminate(ws) : Promise.resolve();
  }

  /** Closes the link because the peer broke the protocol on it; reported as a break. */
  drop(reason: string): void {
    const ws = this.ws;
    if (!ws || this.closed) return;
    this.opts.logger.warn(`${this.name}: ${reason}; closing`);
    this.detach(ws, true);
    this.afterOpenClosed();
  }

  private overflow(what: string): void {
    this.opts.logger.warn(`${this.name}: ${what}; dropping the link and its queue`);
    const ws = this.ws;
    if (ws) this.detach(ws, true);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.clearQueue();
    this.state = 'idle';
    this.retryAt = Date.now() + this.backoff(0);
    // Reported from a microtask, not from inside the caller's send(); sends until then are
    // discarded, so nothing sent before the runtime hears of the break arrives after a gap.
    this.discarding = true;
    queueMicrotask(() => {
      this.discarding = false;
      if (!this.closed) this.opts.onBreak(this);
    });
  }

  private scheduleDial(): void {
    if (this.closed || this.state !== 'idle' || this.timer || this.queue.length === 0) return;
    const delay = this.retryAt - Date.now();
    if (delay <= 0) {
      this.dial();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dial();
    }, delay);
  }

  private dial(): void {
    if (this.closed || this.state !== 'idle' || this.queue.length === 0) return;
    this.state = 'connecting';
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.opts.url, {
        perMessageDeflate: false,
        maxPayload: this.opts.maxFrameBytes,
        handshakeTimeout: DIAL_TIMEOUT_MS,
        generateMask: zeroMask,
      });
    } catch (err) {
      this.state = 'idle';
      this.dialFailed(String((err as Error)?.message ?? err));
      return;
    }
    this.ws = ws;
    let lastError = '';
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.state = 'open';
      this.openedAt = Date.now();
      this.lastDialOk = true;
      const hello: HelloMsg = { k: PeerKind.hello, sid: this.opts.myId, channel: this.opts.channel, protocolVersion: PROTOCOL_VERSION };
      ws.send(encode(hello), { binary: true });
      const queued = this.queue;
      this.clearQueue();
      this.resetBatch(ws);
      // Queued messages go out one frame each (a reconnect is rare; later sends batch as usual).
      for (const bytes of queued) ws.send(bytes, { binary: true });
      this.opts.logger.debug(`${this.name}: connected, flushed ${queued.length} queued messages`);
      this.opts.onOpen(this);
    });
    ws.on('message', () => {
      if (this.ws === ws) this.drop('the peer sent a frame on our outbound link');
    });
    ws.on('error', (err) => {
      lastError = err.message;
    });
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      const wasOpen = this.state === 'open';
      if (this.batchWs === ws) this.resetBatch(null);
      this.ws = null;
      this.state = 'idle';
      if (wasOpen) {
        this.opts.logger.info(`${this.name} closed (${lastError || `code ${code}`})`);
        this.afterOpenClosed();
      } else {
        this.dialFailed(lastError || `code ${code}`);
      }
    });
  }

  private dialFailed(why: string): void {
    this.failures++;
    const msg = `${this.name}: dial ${this.opts.url} failed (attempt ${this.failures}): ${why}`;
    if (this.lastDialOk) this.opts.logger.info(msg);
    else this.opts.logger.debug(msg);
    this.lastDialOk = false;
    this.retryAt = Date.now() + this.backoff(this.failures);
    this.scheduleDial();
  }

  private afterOpenClosed(): void {
    // A peer that accepts and then drops us at once (say, it rejects our hello) must not be
    // redialled at full speed: such a link backs off like a failed dial.
    const now = Date.now();
    this.failures = now - this.openedAt < STABLE_LINK_MS ? this.failures + 1 : 0;
    this.retryAt = now + this.backoff(this.failures);
    this.scheduleDial();
    this.opts.onBreak(this);
  }

  /** Forgets `ws` (its events are ignored from now on) and kills it. */
  private detach(ws: WebSocket, kill: boolean): void {
    if (this.batchWs === ws) this.resetBatch(null);
    if (this.ws === ws) {
      this.ws = null;
      this.state = 'idle';
    }
    if (kill) void terminate(ws);
  }

  /** Adds to the pending batch of `ws` (the current socket, open), writing first what would not fit. */
  private append(ws: WebSocket, bytes: Uint8Array): void {
    if (this.batch.length > 0 && this.batchBytes + bytes.byteLength > BATCH_MAX_BYTES) this.flush();
    if (bytes.byteLength >= BATCH_MAX_BYTES) {
      ws.send(bytes, { binary: true });
      return;
    }
    this.batch.push(bytes);
    this.batchBytes += bytes.byteLength;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const run = () => {
      this.flushScheduled = false;
      this.flush();
    };
    setImmediate(run);
  }

  /**
   * Writes the pending batch as one frame (a lone message as itself). If its socket is no longer
   * this link's open socket the batch is dropped: that socket broke, and the break is reported.
   */
  private flush(): void {
    const msgs = this.batch;
    const ws = this.batchWs;
    if (msgs.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
    if (!ws || ws !== this.ws || this.state !== 'open' || this.closed) return;
    ws.send(msgs.length === 1 ? msgs[0]! : encodeBatch(msgs), { binary: true });
  }

  private resetBatch(ws: WebSocket | null): void {
    this.batch = [];
    this.batchBytes = 0;
    this.batchWs = ws;
  }

  private clearQueue(): void {
    this.queue = [];
    this.queuedBytes = 0;
  }

  /** Exponential in the number of failed dials, capped, with jitter in [base/2, base]. */
  private backoff(failures: number): number {
    const base = Math.min(this.opts.maxMs, this.opts.minMs * 2 ** Math.min(failures, 30));
    return base / 2 + (Math.random() * base) / 2;
  }
}

/** Terminates a socket and resolves when it has closed (never rejects). */
export function terminate(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    ws.once('close', () => resolve());
    ws.on('error', () => {});
    try {
      ws.terminate();
    } catch {
      resolve();
    }
  });
}
