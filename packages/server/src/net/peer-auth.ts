import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { handshakeTranscript, NONCE_BYTES, type TranscriptFields } from '@zabkit/protocol';

/** Mutual TLS material for peer links (PEM text). */
export interface PeerTls {
  /** This server's private key. */
  key: string;
  /** This server's certificate chain (leaf first). */
  cert: string;
  /** CA certificates a peer's certificate must chain to. */
  ca: string;
  /** Check a peer's certificate against its server.N host (default true). */
  hostnameVerification: boolean;
}

/** How peers prove who they are. With neither a secret nor TLS, a hello is taken at its word (insecure). */
export interface PeerAuth {
  /** Shared secret (at least 32 bytes) for HMAC-SHA256 challenge-response, or null. */
  secret: Uint8Array | null;
  tls: PeerTls | null;
}

export type PeerAuthMode = 'secret' | 'tls' | 'tls+secret' | 'insecure';

export function peerAuthMode(auth: PeerAuth): PeerAuthMode {
  if (auth.tls && auth.secret) return 'tls+secret';
  if (auth.tls) return 'tls';
  return auth.secret ? 'secret' : 'insecure';
}

export const newNonce = (): Buffer => randomBytes(NONCE_BYTES);

/** The mac one side sends: HMAC-SHA256(secret, transcript), or empty bytes without a secret. */
export function handshakeMac(auth: PeerAuth, fields: TranscriptFields): Uint8Array {
  if (!auth.secret) return new Uint8Array(0);
  return createHmac('sha256', auth.secret).update(handshakeTranscript(fields)).digest();
}

/** Whether `got` is the mac the transcript needs (constant time in the mac's bytes). */
export function macMatches(auth: PeerAuth, fields: TranscriptFields, got: Uint8Array): boolean {
  const want = handshakeMac(auth, fields);
  if (want.byteLength !== got.byteLength) return false;
  return want.byteLength === 0 || timingSafeEqual(want, got);
}

/** Why the certificate does not name `host`, or null when it does (or hostname checks are off). */
export function certificateMismatch(tls: PeerTls, host: string, cert: PeerCertificate | undefined): string | null {
  if (!tls.hostnameVerification) return null;
  if (!cert || Object.keys(cert).length === 0) return 'no client certificate';
  const err = checkServerIdentity(host, cert);
  return err ? err.message : null;
}
