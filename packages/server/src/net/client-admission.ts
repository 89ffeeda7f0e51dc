import type { Socket } from 'node:net';
import type { Logger } from '../runtime/logger.js';

export interface AdmissionLimits {
  /** Sockets open at once from one IP (counted from TCP accept); 0 = unlimited. ZooKeeper's maxClientCnxns. */
  maxClientCnxns: number;
  /** Sockets from one IP that have not yet sent their connect frame. */
  maxHandshakingCnxns: number;
  /** From TCP accept to the connect frame (HTTP upgrade included), in ms. */
  handshakeTimeoutMs: number;
}

/** A socket let in: the listener tells it when the handshake is done; it cleans up when the socket closes. */
export interface Admitted {
  readonly addr: string;
  /** The client sent its connect frame: the socket no longer counts as handshaking and has no deadline. */
  handshakeDone(): void;
}

/** Lines about refused sockets are written at most this often (20,000 sockets must not be 20,000 lines). */
const REFUSAL_LOG_EVERY_MS = 1000;

/**
 * Who may hold a socket open, decided at TCP accept, before any byte is read: a cap per IP on
 * sockets (upgraded or not) and on sockets mid-handshake, and a deadline for the handshake. So
 * half-open connections from one address cannot take every file descriptor or linger forever.
 */
export class ClientAdmission {
  private readonly open = new Map<string, number>();
  private readonly handshaking = new Map<string, number>();
  private refused = 0;
  private lastRefusalLog = 0;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly logger: Logger,
    /** Called when a socket misses its handshake deadline (before closing it). */
    private readonly onDeadline: (socket: Socket, addr: string) => void,
  ) {}

  /** Sockets open from `addr`, and how many of them are mid-handshake. */
  countsFor(addr: string): { open: number; handshaking: number } {
    return { open: this.open.get(addr) ?? 0, handshaking: this.handshaking.get(addr) ?? 0 };
  }

  /** Admits the socket, or returns why not (the caller answers and closes it). */
  admit(socket: Socket): Admitted | string {
    const addr = socket.remoteAddress ?? '?';
    const open = this.open.get(addr) ?? 0;
    const hs = this.handshaking.get(addr) ?? 0;
    let why: string | null = null;
    if (this.limits.maxClientCnxns > 0 && open >= this.limits.maxClientCnxns) {
      why = `too many connections from ${addr} (maxClientCnxns=${this.limits.maxClientCnxns})`;
    } else if (hs >= this.limits.maxHandshakingCnxns) {
      why = `too many connections from ${addr} still handshaking (maxHandshakingCnxns=${this.limits.maxHandshakingCnxns})`;
    }
    if (why !== null) {
      this.noteRefusal(why);
      return why;
    }
    this.open.set(addr, open + 1);
    this.handshaking.set(addr, hs + 1);
    let inHandshake = true;
    const leaveHandshake = (): void => {
      if (!inHandshake) return;
      inHandshake = false;
      clearTimeout(timer);
      dec(this.handshaking, addr);
    };
    const timer = setTimeout(() => {
      if (!inHandshake) return;
      this.noteRefusal(`a connection from ${addr} sent no connect frame within ${this.limits.handshakeTimeoutMs} ms`);
      leaveHandshake();
      try {
        this.onDeadline(socket, addr);
      } finally {
        // (a WebSocket gets a close frame first; this is the backstop)
        setTimeout(() => socket.destroy(), 1000).unref();
      }
    }, this.limits.handshakeTimeoutMs);
    timer.unref();
    socket.once('close', () => {
      leaveHandshake();
      dec(this.open, addr);
    });
    return { addr, handshakeDone: leaveHandshake };
  }

  private noteRefusal(why: string): void {
    this.refused++;
    const now = Date.now();
    if (now - this.lastRefusalLog < REFUSAL_LOG_EVERY_MS) return;
    const more = this.refused > 1 ? ` (${this.refused - 1} more refused or timed out since the last such line)` : '';
    this.logger.warn(`closing a client socket: ${why}${more}`);
    this.lastRefusalLog = now;
    this.refused = 0;
  }
}

function dec(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 1) - 1;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
}

/** Refused sockets kept open to tell why; past this many at once, refusals are cut without a word (fds stay bounded). */
export const MAX_LINGERING_REFUSALS = 64;
let lingering = 0;

/**
 * What a refused socket is told: a plain HTTP 503 written at once, so the client sees why and no
 * byte of its request is parsed. The socket lingers (reading and dropping) until the client
 * closes or a second passes, as closing with unread bytes would reset it before the 503 is read.
 */
export function refuseSocket(socket: Socket, why: string): void {
  socket.on('error', () => {});
  if (lingering >= MAX_LINGERING_REFUSALS) {
    socket.destroy();
    return;
  }
  lingering++;
  socket.once('close', () => lingering--);
  const body = `${why}\n`;
  socket.end(`HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.resume();
  setTimeout(() => socket.destroy(), 1000).unref();
}
