/**
 * A hostile (or merely hand-driven) peer for tests: dials a server's quorum or election port over
 * TCP (or TLS), speaks the peer framing (u32 big-endian length + msgpack), and can complete the
 * authentication handshake as any server id when given the cluster's secret. After that it sends
 * whatever it is told: encoded messages, arbitrary msgpack values, or raw bytes.
 *
 * @example
 * const evil = await EvilPeer.connect({ port: quorumPort });
 * await evil.handshake({ sid: 2, acceptorSid: 1, channel: 'quorum', secret });
 * evil.send({ k: PeerKind.followerInfo, acceptedEpoch: 2 ** 53, lastZxid: 0n, observer: false });
 * await evil.closed; // the server closed the link
 */
import { createHmac, randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { decode, encode, handshakeTranscript, HandshakeKind, PeerKind, PROTOCOL_VERSION, type ChallengeMsg } from '@zabkit/protocol';

export interface EvilPeerOptions {
  port: number;
  host?: string;
  /** Dial with TLS (a client certificate is optional: without one a server must refuse). */
  tls?: { key?: string; cert?: string; ca?: string; rejectUnauthorized?: boolean };
  /** Give up connecting after this (default 5000 ms). */
  timeoutMs?: number;
  /** Local address to dial from (e.g. 127.0.0.2, to look like another host on loopback). */
  localAddress?: string;
}

export interface HandshakeOptions {
  /** The server id to claim. */
  sid: number;
  /** The id of the server dialled (its challenge must name it; the macs cover it). */
  acceptorSid: number;
  channel: 'quorum' | 'election';
  /** The cluster's shared secret; null/undefined for a server without one (TLS only or insecure). */
  secret?: Uint8Array | null;
  /** Override the hello's nonce (e.g. to replay one). */
  nonce?: Uint8Array;
  /** Override the proof's mac (e.g. a replayed or reflected one). */
  proofMac?: Uint8Array;
  timeoutMs?: number;
}

export function frameOf(payload: Uint8Array): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.byteLength, 0);
  return Buffer.concat([header, payload]);
}

export function mac(secret: Uint8Array | null | undefined, fields: Parameters<typeof handshakeTranscript>[0]): Uint8Array {
  if (!secret) return new Uint8Array(0);
  return createHmac('sha256', secret).update(handshakeTranscript(fields)).digest();
}

export class EvilPeer {
  /** Frames the server sent, decoded (a server sends only its challenge). */
  readonly frames: unknown[] = [];
  /** Resolves when the connection closed (by either side). */
  readonly closed: Promise<void>;
  isClosed = false;
  lastError = '';
  private buffered = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => {
      this.isClosed = true;
      this.wake();
    });
    socket.on('error', (err) => (this.lastError = err.message));
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.byteLength >= 4) {
        const n = this.buffered.readUInt32BE(0);
        if (this.buffered.byteLength < 4 + n) break;
        this.frames.push(decode(this.buffered.subarray(4, 4 + n)));
        this.buffered = this.buffered.subarray(4 + n);
      }
      this.wake();
    });
  }

  static connect(opts: EvilPeerOptions): Promise<EvilPeer> {
    const host = opts.host ?? '127.0.0.1';
    return new Promise<EvilPeer>((resolve, reject) => {
      const socket = opts.tls
        ? tlsConnect({ host, port: opts.port, ...opts.tls, rejectUnauthorized: opts.tls.rejectUnauthorized ?? false, checkServerIdentity: () => undefined })
        : netConnect({ host, port: opts.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`evil peer: could not connect to ${host}:${opts.port}`));
      }, opts.timeoutMs ?? 5000);
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(new EvilPeer(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Writes raw bytes (no framing). False once the socket is gone. */
  sendRaw(bytes: Uint8Array): boolean {
    if (this.socket.destroyed) return false;
    this.socket.write(bytes);
    return true;
  }

  /** Frames already-encoded msgpack bytes. */
  sendEncoded(payload: Uint8Array): boolean {
    return this.sendRaw(frameOf(payload));
  }

  /** Encodes any value as msgpack and frames it. */
  send(value: unknown): boolean {
    return this.sendEncoded(encode(value));
  }

  hello(sid: number, channel: 'quorum' | 'election', opts: { nonce?: Uint8Array; protocolVersion?: number } = {}): Uint8Array {
    const nonce = opts.nonce ?? randomBytes(32);
    this.send({ k: PeerKind.hello, sid, channel, protocolVersion: opts.protocolVersion ?? PROTOCOL_VERSION, nonce });
    return nonce;
  }

  /** Resolves with the next frame from the server; rejects if the connection closes first or after `timeoutMs`. */
  async nextFrame(timeoutMs = 5000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    const seen = this.taken;
    while (this.frames.length <= seen) {
      if (this.isClosed) throw new Error(`evil peer: the server closed the connection (${this.lastError || 'no error'})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('evil peer: no frame from the server in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.taken++;
    return this.frames[seen];
  }
  private taken = 0;

  /**
   * Sends a hello as `sid`, reads the challenge, checks it names `acceptorSid` (and its mac, given a
   * secret), and sends the proof. Resolves with the challenge; the link is then authenticated if
   * the server agrees (it says nothing either way: a refusal closes the connection).
   */
  async handshake(o: HandshakeOptions): Promise<ChallengeMsg> {
    const dialerNonce = this.hello(o.sid, o.channel, o.nonce ? { nonce: o.nonce } : {});
    const c = (await this.nextFrame(o.timeoutMs)) as ChallengeMsg;
    if (c?.k !== HandshakeKind.challenge) throw new Error(`evil peer: expected a challenge, got ${JSON.stringify(c)}`);
    if (c.sid !== o.acceptorSid) throw new Error(`evil peer: the challenge names server ${c.sid}, not ${o.acceptorSid}`);
    const fields = { channel: o.channel, dialerSid: o.sid, acceptorSid: o.acceptorSid, dialerNonce, acceptorNonce: c.nonce };
    this.send({ k: HandshakeKind.proof, mac: o.proofMac ?? mac(o.secret, { ...fields, direction: 'dialer' }) });
    return c;
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
