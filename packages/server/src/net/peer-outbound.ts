import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import {
  checkChallenge,
  decode,
  encode,
  encodeBatch,
  HandshakeKind,
  PeerKind,
  PROTOCOL_VERSION,
  type ChallengeMsg,
  type HelloMsg,
  type ProofMsg,
} from '@zabkit/protocol';
import type { Logger } from '../runtime/logger.js';
import { handshakeMac, macMatches, newNonce, type PeerAuth } from './peer-auth.js';
import { destroySocket, FrameReader, PRE_AUTH_FRAME_BYTES, writeFrame } from './peer-framing.js';

export type PeerChannel = HelloMsg['channel'];

/** Messages held for one link while it is (re)connecting, or buffered on its socket. */
export const MAX_QUEUED_MSGS = 10_000;
export const MAX_QUEUED_BYTES = 512 * 1024 * 1024;
/**
 * Messages sent on an open link within one turn of the event loop go out as one frame
 * (a PeerKind.batch) of at most this many bytes; a larger message goes alone. The batch is
 * written after the poll phase (setImmediate), so everything the turn's I/O callbacks produced
 * shares one write: at 64 writes in flight this cut the servers' CPU per write by about a fifth
 * against flushing at the end of each callback (a microtask).
 */
export const BATCH_MAX_BYTES = 256 * 1024;

/** A dial that has not connected and completed the handshake by then counts as failed. */
export const DIAL_TIMEOUT_MS = 5_000;
/** A link that closes sooner than this after opening counts as a failed dial for backoff. */
export const STABLE_LINK_MS = 1_000;

export interface OutboundLinkOptions {
  myId: number;
  peer: number;
  channel: PeerChannel;
  host: string;
  port: number;
  auth: PeerAuth;
  logger: Logger;
  minMs: number;
  maxMs: number;
  /** The handshake completed: the peer proved who it is and our proof went out. */
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
 * Nothing is sent before the peer proved it is the server dialled (see peer-handshake.ts).
 */
export class OutboundLink {
  /** The peer's break count when this link was last opened or sent on (kept by PeerNetwork). */
  lastUse = -1;
  private socket: Socket | null = null;
  private state: State = 'idle';
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private retryAt = 0;
  private openedAt = 0;
  /** The last dial succeeded: the next failure is news (info), later ones are not (debug). */
  private lastDialOk = false;
  /** The last handshake failure logged as a warning (the same one again is debug). */
  private lastWarned = '';
  /** Overflowed and dropped; sends are discarded until the break has been reported. */
  private discarding = false;
  private closed = false;
  /** Encoded messages for `batchSocket` not yet written; flushed together. */
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private batchSocket: Socket | null = null;
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
    const socket = this.socket;
    if (this.state === 'open' && socket) {
      if (this.batchSocket !== socket) this.resetBatch(socket);
      // (the socket's own buffer counts: a peer that stops reading is a peer that overflows)
      if (socket.writableLength + this.batchBytes + bytes.byteLength > MAX_QUEUED_BYTES) {
        this.overflow(`${socket.writableLength + this.batchBytes} bytes unsent on the socket`);
        return;
      }
      this.append(socket, bytes);
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
    const socket = this.socket;
    this.socket = null;
    this.state = 'idle';
    return socket ? destroySocket(socket) : Promise.resolve();
  }

  /** Closes the link because the peer broke the protocol on it; reported as a break. */
  drop(reason: string): void {
    const socket = this.socket;
    if (!socket || this.closed || this.state !== 'open') return;
    this.opts.logger.warn(`${this.name}: ${reason}; closing`);
    this.detach(socket);
    this.afterOpenClosed();
  }

  private overflow(what: string): void {
    this.opts.logger.warn(`${this.name}: ${what}; dropping the link and its queue`);
    const socket = this.socket;
    if (socket) this.detach(socket);
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
    const { host, port, auth } = this.opts;
    let socket: Socket;
    try {
      socket = auth.tls
        ? tlsConnect({
            host,
            port,
            key: auth.tls.key,
            cert: auth.tls.cert,
            ca: auth.tls.ca,
            ...(isIP(host) ? {} : { servername: host }),
            checkServerIdentity: auth.tls.hostnameVerification ? checkServerIdentity : () => undefined,
          })
        : netConnect({ host, port });
    } catch (err) {
      this.state = 'idle';
      this.dialFailed(String((err as Error)?.message ?? err), false);
      return;
    }
    socket.setNoDelay(true);
    this.socket = socket;
    const nonce = newNonce();
    let lastError = '';
    /** Why the handshake failed on our side (the peer did not prove itself, or broke the framing). */
    let refused = '';
    /** Reached the peer's transport: a failure from here on is a handshake failure, worth a warning. */
    let reached = false;
    const refuse = (why: string) => {
      if (this.socket !== socket || this.state !== 'connecting') return;
      refused ||= why;
      socket.destroy();
    };
    const deadline = setTimeout(() => refuse(`no handshake within ${DIAL_TIMEOUT_MS} ms`), DIAL_TIMEOUT_MS);
    const reader = new FrameReader(
      PRE_AUTH_FRAME_BYTES,
      (bytes) => {
        if (this.socket !== socket) return;
        if (this.state === 'open') return this.drop('the peer sent a frame on our outbound link');
        const why = this.onChallenge(socket, nonce, bytes);
        if (why) refuse(why);
        else clearTimeout(deadline);
      },
      (why) => {
        if (this.socket !== socket) return;
        if (this.state === 'open') this.drop(why);
        else refuse(why);
      },
    );
    socket.once(auth.tls ? 'secureConnect' : 'connect', () => {
      if (this.socket !== socket) return;
      reached = true;
      const hello: HelloMsg = { k: PeerKind.hello, sid: this.opts.myId, channel: this.opts.channel, protocolVersion: PROTOCOL_VERSION, nonce };
      writeFrame(socket, encode(hello));
    });
    if (auth.tls) socket.once('connect', () => (reached = true));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        this.opts.logger.error(`${this.name}: handling a frame failed: ${(err as Error)?.stack ?? err}`);
        if (this.state === 'open') this.drop('internal error');
        else refuse('internal error');
      }
    });
    socket.on('error', (err) => {
      lastError = err.message;
    });
    socket.on('close', () => {
      clearTimeout(deadline);
      reader.stop();
      if (this.socket !== socket) return;
      const wasOpen = this.state === 'open';
      if (this.batchSocket === socket) this.resetBatch(null);
      this.socket = null;
      this.state = 'idle';
      if (wasOpen) {
        this.opts.logger.info(`${this.name} closed (${lastError || 'by the peer'})`);
        this.afterOpenClosed();
      } else {
        this.dialFailed(refused || lastError || (reached ? 'the peer closed the connection during the handshake (does it share our secret and trust our certificate?)' : 'closed'), reached);
      }
    });
  }

  /** Checks the peer's challenge; on success sends our proof and opens the link. Returns why not, else null. */
  private onChallenge(socket: Socket, nonce: Uint8Array, bytes: Buffer): string | null {
    let frame: unknown;
    try {
      frame = decode(bytes);
    } catch (err) {
      return `undecodable handshake frame: ${(err as Error)?.message ?? err}`;
    }
    const bad = checkChallenge(frame);
    if (bad) return `bad challenge: ${bad}`;
    const c = frame as ChallengeMsg;
    if (c.sid !== this.opts.peer) return `the server at ${this.opts.host}:${this.opts.port} says it is server ${c.sid}, not ${this.opts.peer}`;
    const fields = { channel: this.opts.channel, dialerSid: this.opts.myId, acceptorSid: this.opts.peer, dialerNonce: nonce, acceptorNonce: c.nonce };
    if (!macMatches(this.opts.auth, { ...fields, direction: 'acceptor' }, c.mac)) {
      return this.opts.auth.secret ? 'the peer failed to prove it holds the shared secret' : 'the peer sent a mac but we have no secret';
    }
    const proof: ProofMsg = { k: HandshakeKind.proof, mac: handshakeMac(this.opts.auth, { ...fields, direction: 'dialer' }) };
    writeFrame(socket, encode(proof));
    this.open(socket);
    return null;
  }

  private open(socket: Socket): void {
    this.state = 'open';
    this.openedAt = Date.now();
    this.lastDialOk = true;
    this.lastWarned = '';
    const queued = this.queue;
    this.clearQueue();
    this.resetBatch(socket);
    // Queued messages go out one frame each, in one writev (a reconnect is rare; later sends batch as usual).
    socket.cork();
    for (const bytes of queued) writeFrame(socket, bytes);
    socket.uncork();
    this.opts.logger.debug(`${this.name}: connected, flushed ${queued.length} queued messages`);
    this.opts.onOpen(this);
  }

  private dialFailed(why: string, handshake: boolean): void {
    this.failures++;
    const msg = `${this.name}: dial ${this.opts.host}:${this.opts.port} failed (attempt ${this.failures}): ${why}`;
    if (handshake && why !== this.lastWarned) {
      this.lastWarned = why;
      this.opts.logger.warn(msg);
    } else if (this.lastDialOk) this.opts.logger.info(msg);
    else this.opts.logger.debug(msg);
    this.lastDialOk = false;
    this.retryAt = Date.now() + this.backoff(this.failures);
    this.scheduleDial();
  }

  private afterOpenClosed(): void {
    // A peer that accepts and then drops us at once must not be redialled at full speed:
    // such a link backs off like a failed dial.
    const now = Date.now();
    this.failures = now - this.openedAt < STABLE_LINK_MS ? this.failures + 1 : 0;
    this.retryAt = now + this.backoff(this.failures);
    this.scheduleDial();
    this.opts.onBreak(this);
  }

  /** Forgets `socket` (its events are ignored from now on) and kills it. */
  private detach(socket: Socket): void {
    if (this.batchSocket === socket) this.resetBatch(null);
    if (this.socket === socket) {
      this.socket = null;
      this.state = 'idle';
    }
    void destroySocket(socket);
  }

  /** Adds to the pending batch of `socket` (the current socket, open), writing first what would not fit. */
  private append(socket: Socket, bytes: Uint8Array): void {
    if (this.batch.length > 0 && this.batchBytes + bytes.byteLength > BATCH_MAX_BYTES) this.flush();
    if (bytes.byteLength >= BATCH_MAX_BYTES) {
      writeFrame(socket, bytes);
      return;
    }
    this.batch.push(bytes);
    this.batchBytes += bytes.byteLength;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Writes the pending batch as one frame (a lone message as itself). If its socket is no longer
   * this link's open socket the batch is dropped: that socket broke, and the break is reported.
   */
  private flush(): void {
    const msgs = this.batch;
    const socket = this.batchSocket;
    if (msgs.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
    if (!socket || socket !== this.socket || this.state !== 'open' || this.closed) return;
    writeFrame(socket, msgs.length === 1 ? msgs[0]! : encodeBatch(msgs));
  }

  private resetBatch(socket: Socket | null): void {
    this.batch = [];
    this.batchBytes = 0;
    this.batchSocket = socket;
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
