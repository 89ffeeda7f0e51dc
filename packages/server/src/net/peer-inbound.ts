import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  checkHelloShape,
  checkProof,
  decode,
  encode,
  HandshakeKind,
  PeerKind,
  PROTOCOL_VERSION,
  type ChallengeMsg,
  type HelloMsg,
  type ProofMsg,
} from '@zabkit/protocol';
import type { Logger } from '../runtime/logger.js';
import { certificateMismatch, handshakeMac, macMatches, newNonce, type PeerAuth } from './peer-auth.js';
import { destroySocket, FrameReader, PRE_AUTH_FRAME_BYTES, writeFrame } from './peer-framing.js';
import type { PeerChannel } from './peer-outbound.js';

/** An inbound connection that has not completed the handshake by then is closed. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

/** What an inbound connection needs from the network it belongs to. */
export interface InboundHost {
  readonly myId: number;
  readonly auth: PeerAuth;
  readonly logger: Logger;
  /** Frame limit once authenticated. */
  readonly maxFrameBytes: number;
  /** The host of configured server `sid` (not this one), or undefined for an unknown id. */
  hostOf(sid: number): string | undefined;
  /** The connection proved it is `conn.peer`: register it (replacing an older link from that server). */
  authenticated(conn: InboundConn): void;
  /** A frame after authentication. */
  frame(conn: InboundConn, bytes: Buffer): void;
  /** The connection is gone (called once, whatever the reason). */
  gone(conn: InboundConn): void;
}

type Stage = 'hello' | 'proof' | 'open' | 'dead';

/**
 * One connection a peer dialled, through the handshake: hello (who the dialer says it is, its nonce),
 * our challenge (who we are, our nonce, our mac), its proof (its mac). Before the proof is checked a
 * frame above PRE_AUTH_FRAME_BYTES, a bad frame or a late handshake closes the connection, and
 * nothing read is delivered. After it, frames go to the host as they come.
 */
export class InboundConn {
  /** The authenticated peer; null until the proof checked out. */
  peer: number | null = null;
  /** The peer's break count when this link was last used (kept by PeerNetwork). */
  lastUse = -1;
  private stage: Stage = 'hello';
  private claimed = 0;
  private dialerNonce: Uint8Array = new Uint8Array(0);
  private readonly nonce = newNonce();
  private readonly reader: FrameReader;
  private deadline: NodeJS.Timeout | null;

  constructor(
    private readonly host: InboundHost,
    readonly socket: Socket,
    readonly channel: PeerChannel,
    /** `address:port` the connection came from. */
    readonly remote: string,
  ) {
    this.reader = new FrameReader(PRE_AUTH_FRAME_BYTES, (bytes) => this.onFrame(bytes), (why) => this.drop(why));
    this.deadline = setTimeout(() => this.drop(`no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`), HANDSHAKE_TIMEOUT_MS);
    let lastError = '';
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        host.logger.error(`${this.describe()}: handling a frame failed: ${(err as Error)?.stack ?? err}`);
        this.drop('internal error');
      }
    });
    socket.on('error', (err) => {
      lastError = err.message;
    });
    socket.on('close', () => {
      if (this.stage === 'dead') return;
      if (this.peer !== null) host.logger.info(`${this.describe()} closed (${lastError || 'by the peer'})`);
      else if (lastError) host.logger.warn(`${this.describe()}: ${lastError}; closed during the handshake`);
      this.drop('');
    });
  }

  get isOpen(): boolean {
    return this.stage === 'open';
  }

  /** Stops reading, closes the socket, tells the host. `reason` is logged (as a warning) unless empty. */
  drop(reason: string, level: 'warn' | 'info' = 'warn'): void {
    if (this.stage === 'dead') return;
    this.stage = 'dead';
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    this.reader.stop();
    if (reason) this.host.logger[level](`${this.describe()}: ${reason}; closing`);
    void destroySocket(this.socket);
    this.host.gone(this);
  }

  /** Resolves once the socket closed; no callbacks to the host after this is called. */
  kill(): Promise<void> {
    this.stage = 'dead';
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    this.reader.stop();
    return destroySocket(this.socket);
  }

  describe(): string {
    return this.peer === null ? `inbound ${this.channel} connection from ${this.remote}` : `link from peer ${this.peer} (${this.channel})`;
  }

  private onFrame(bytes: Buffer): void {
    if (this.stage === 'open') return this.host.frame(this, bytes);
    let frame: unknown;
    try {
      frame = decode(bytes);
    } catch (err) {
      return this.drop(`undecodable handshake frame: ${(err as Error)?.message ?? err}`);
    }
    const why = this.stage === 'hello' ? this.onHello(frame) : this.onProof(frame);
    if (why) this.drop(why);
  }

  /** Checks the hello and answers with our challenge. Returns why the connection is refused, or null. */
  private onHello(frame: unknown): string | null {
    const k = (frame as { k?: unknown } | null)?.k;
    if (k !== PeerKind.hello) return `first frame is kind ${String(k)}, not a hello`;
    const bad = checkHelloShape(frame);
    if (bad) return bad;
    const { sid, channel, protocolVersion, nonce } = frame as HelloMsg;
    if (protocolVersion !== PROTOCOL_VERSION) return `protocol version ${protocolVersion}, expected ${PROTOCOL_VERSION}`;
    if (channel !== this.channel) return `hello for the ${channel} channel`;
    if (sid === this.host.myId) return `hello claims our own id ${sid}`;
    const peerHost = this.host.hostOf(sid);
    if (peerHost === undefined) return `hello from unknown server ${sid}`;
    const tls = this.host.auth.tls;
    if (tls) {
      // (the TLS server refused clients whose certificate does not chain to the trust store)
      const s = this.socket as TLSSocket;
      if (!s.authorized) return `TLS client not authorised: ${String(s.authorizationError ?? 'no certificate')}`;
      const mismatch = certificateMismatch(tls, peerHost, s.getPeerCertificate());
      if (mismatch) return `the certificate of a connection claiming to be server ${sid} does not match its host ${peerHost}: ${mismatch}`;
    }
    this.claimed = sid;
    this.dialerNonce = nonce;
    const challenge: ChallengeMsg = {
      k: HandshakeKind.challenge,
      sid: this.host.myId,
      nonce: this.nonce,
      mac: handshakeMac(this.host.auth, this.transcript('acceptor')),
    };
    writeFrame(this.socket, encode(challenge));
    this.stage = 'proof';
    return null;
  }

  /** Checks the dialer's proof; on success the link is authenticated. Returns why not, or null. */
  private onProof(frame: unknown): string | null {
    const bad = checkProof(frame);
    if (bad) return bad;
    if (!macMatches(this.host.auth, this.transcript('dialer'), (frame as ProofMsg).mac)) {
      return this.host.auth.secret
        ? `a connection claiming to be server ${this.claimed} failed to prove it holds the shared secret`
        : `a connection claiming to be server ${this.claimed} sent a mac but we have no secret`;
    }
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    this.stage = 'open';
    this.peer = this.claimed;
    this.reader.limit = this.host.maxFrameBytes;
    this.host.authenticated(this);
    return null;
  }

  private transcript(direction: 'acceptor' | 'dialer') {
    return {
      direction,
      channel: this.channel,
      dialerSid: this.claimed,
      acceptorSid: this.host.myId,
      dialerNonce: this.dialerNonce,
      acceptorNonce: this.nonce,
    } as const;
  }
}
