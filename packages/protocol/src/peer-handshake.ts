/**
 * The rest of a peer link's handshake, after the dialer's hello: the server that was dialled answers
 * with a challenge, the dialer with a proof. Only then does the dialled server read election or ZAB
 * messages from that connection. These frames are the transport's business; the core never sees them.
 *
 * With a shared secret (quorum.auth.secretFile) the macs are HMAC-SHA256 over both nonces, both
 * server ids, the channel and a direction label (see handshakeTranscript); without one (TLS only, or
 * quorum.auth.insecure) they are empty.
 */
export const HandshakeKind = {
  /** Acceptor -> dialer: who I am, my nonce, and my mac over the transcript. */
  challenge: 40,
  /** Dialer -> acceptor: my mac over the transcript. */
  proof: 41,
} as const;

export interface ChallengeMsg { k: typeof HandshakeKind.challenge; sid: number; nonce: Uint8Array; mac: Uint8Array }
export interface ProofMsg { k: typeof HandshakeKind.proof; mac: Uint8Array }
export type HandshakeFrame = ChallengeMsg | ProofMsg;

/** Bytes of a nonce each side sends; a received nonce must be at least MIN and at most MAX. */
export const NONCE_BYTES = 32;
export const MIN_NONCE_BYTES = 16;
export const MAX_NONCE_BYTES = 64;

/** Which side's mac a transcript is for; the label stops a mac from being reflected to the other side. */
export type HandshakeDirection = 'acceptor' | 'dialer';

export interface TranscriptFields {
  direction: HandshakeDirection;
  channel: 'election' | 'quorum';
  dialerSid: number;
  acceptorSid: number;
  dialerNonce: Uint8Array;
  acceptorNonce: Uint8Array;
}

/**
 * The bytes a handshake mac covers. Fixed layout (nonces are length-prefixed), so no two distinct
 * field sets give the same bytes.
 */
export function handshakeTranscript(f: TranscriptFields): Uint8Array {
  const text = new TextEncoder().encode(`zabkit-peer-auth-v1\n${f.direction}\n${f.channel}\n${f.dialerSid}\n${f.acceptorSid}\n`);
  const out = new Uint8Array(text.byteLength + 4 + f.dialerNonce.byteLength + 4 + f.acceptorNonce.byteLength);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(text, at);
  at += text.byteLength;
  for (const nonce of [f.dialerNonce, f.acceptorNonce]) {
    view.setUint32(at, nonce.byteLength);
    out.set(nonce, at + 4);
    at += 4 + nonce.byteLength;
  }
  return out;
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/** Checks the shape of a challenge (from anyone: untrusted). Returns why it is not one, or null. */
export function checkChallenge(v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a map';
  const c = v as Partial<Record<keyof ChallengeMsg, unknown>>;
  if (c.k !== HandshakeKind.challenge) return `kind ${String(c.k)}, not a challenge`;
  if (!Number.isInteger(c.sid)) return 'challenge without an integer sid';
  if (!isBytes(c.nonce) || c.nonce.byteLength < MIN_NONCE_BYTES || c.nonce.byteLength > MAX_NONCE_BYTES) {
    return `challenge nonce must be ${MIN_NONCE_BYTES}..${MAX_NONCE_BYTES} bytes`;
  }
  if (!isBytes(c.mac) || c.mac.byteLength > 64) return 'challenge mac must be at most 64 bytes';
  return null;
}

/** Checks the shape of a proof. Returns why it is not one, or null. */
export function checkProof(v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a map';
  const p = v as Partial<Record<keyof ProofMsg, unknown>>;
  if (p.k !== HandshakeKind.proof) return `kind ${String(p.k)}, not a proof`;
  if (!isBytes(p.mac) || p.mac.byteLength > 64) return 'proof mac must be at most 64 bytes';
  return null;
}

/** Checks the shape of a hello (kind, version and sid are judged by the receiver). Returns why not, or null. */
export function checkHelloShape(v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a map';
  const h = v as Record<string, unknown>;
  if (!Number.isInteger(h.sid)) return 'hello without an integer sid';
  if (h.channel !== 'quorum' && h.channel !== 'election') return `hello for channel ${String(h.channel)}`;
  if (!Number.isInteger(h.protocolVersion)) return 'hello without an integer protocolVersion';
  if (!isBytes(h.nonce) || h.nonce.byteLength < MIN_NONCE_BYTES || h.nonce.byteLength > MAX_NONCE_BYTES) {
    return `hello nonce must be ${MIN_NONCE_BYTES}..${MAX_NONCE_BYTES} bytes`;
  }
  return null;
}
