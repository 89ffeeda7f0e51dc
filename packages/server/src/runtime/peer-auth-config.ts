import { readFile, stat } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { peerAuthMode, type PeerAuth, type PeerAuthMode } from '../net/peer-auth.js';
import type { Logger } from './logger.js';

/** zoo.cfg keys for how servers prove who they are to each other (ZooKeeper's names for the TLS ones). */
export const PEER_AUTH_KEYS = {
  secretFile: 'quorum.auth.secretFile',
  insecure: 'quorum.auth.insecure',
  sslQuorum: 'sslQuorum',
  keyStoreLocation: 'ssl.quorum.keyStore.location',
  keyStoreType: 'ssl.quorum.keyStore.type',
  trustStoreLocation: 'ssl.quorum.trustStore.location',
  trustStoreType: 'ssl.quorum.trustStore.type',
  hostnameVerification: 'ssl.quorum.hostnameVerification',
} as const;
export const PEER_AUTH_KEY_NAMES: readonly string[] = Object.values(PEER_AUTH_KEYS);

/** Smallest shared secret accepted, in bytes. */
export const MIN_SECRET_BYTES = 32;

/** Peer authentication settings as written in zoo.cfg (files are read when the server starts). */
export interface PeerAuthConfig {
  /**
   * A file holding the cluster's shared secret (at least 32 bytes; a trailing newline is not part
   * of it). Links then prove both ends with HMAC-SHA256 challenge-response. From
   * `quorum.auth.secretFile`. Example: `quorum.auth.secretFile=/etc/zabkit/quorum.secret`.
   */
  secretFile?: string;
  /** Mutual TLS on peer links; from `sslQuorum`. Default false. Example: `sslQuorum=true`. */
  sslQuorum: boolean;
  /** One PEM file with this server's private key and certificate chain; from `ssl.quorum.keyStore.location`. */
  keyStoreLocation?: string;
  /** PEM CA certificates peers' certificates must chain to; from `ssl.quorum.trustStore.location`. */
  trustStoreLocation?: string;
  /** Check a peer's certificate against its server.N host; from `ssl.quorum.hostnameVerification`. Default true. */
  hostnameVerification: boolean;
  /** Run a multi-server cluster with no peer authentication (anyone who reaches a peer port can join); from `quorum.auth.insecure`. Default false. */
  insecure: boolean;
}

type Fail = (key: string, message: string) => never;

/** Builds the settings from raw zoo.cfg values (keyed by zoo.cfg key); `place` resolves a relative path. */
export function finishPeerAuth(raw: Record<string, unknown>, fail: Fail, place: (path: string) => string): PeerAuthConfig {
  const K = PEER_AUTH_KEYS;
  const text = (key: string): string | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '') return fail(key, `${key} must be a non-empty string`);
    return v.trim();
  };
  const flag = (key: string, dflt: boolean): boolean => {
    const v = raw[key];
    if (v === undefined) return dflt;
    if (typeof v === 'boolean') return v;
    const s = typeof v === 'string' ? v.trim().toLowerCase() : '';
    if (s === 'true' || s === 'false') return s === 'true';
    return fail(key, `${key} must be true or false, got '${String(v)}'`);
  };
  for (const key of [K.keyStoreType, K.trustStoreType]) {
    const type = text(key);
    if (type !== undefined && type.toUpperCase() !== 'PEM') fail(key, `${key}=${type}: only PEM is supported (one PEM file; convert a JKS/PKCS12 store with openssl)`);
  }
  const sslQuorum = flag(K.sslQuorum, false);
  const secretFile = text(K.secretFile);
  const keyStore = text(K.keyStoreLocation);
  const trustStore = text(K.trustStoreLocation);
  if (sslQuorum && keyStore === undefined) fail(K.keyStoreLocation, `sslQuorum=true needs ${K.keyStoreLocation} (a PEM file with this server's key and certificate chain)`);
  if (sslQuorum && trustStore === undefined) fail(K.trustStoreLocation, `sslQuorum=true needs ${K.trustStoreLocation} (a PEM file with the CA certificates)`);
  return {
    ...(secretFile !== undefined ? { secretFile: place(secretFile) } : {}),
    sslQuorum,
    ...(keyStore !== undefined ? { keyStoreLocation: place(keyStore) } : {}),
    ...(trustStore !== undefined ? { trustStoreLocation: place(trustStore) } : {}),
    hostnameVerification: flag(K.hostnameVerification, true),
    insecure: flag(K.insecure, false),
  };
}

/** A refusal to start: names the setting at fault. */
export class PeerAuthError extends Error {
  override readonly name = 'PeerAuthError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

export interface LoadedPeerAuth {
  auth: PeerAuth;
  mode: PeerAuthMode | 'standalone';
}

/**
 * Reads the secret and TLS files a config names. A cluster (more than one server) with neither a
 * secret nor sslQuorum is refused unless quorum.auth.insecure=true. Throws PeerAuthError naming
 * the key and path; warnings (a secret others can read, running insecure) go to `logger`.
 */
export async function loadPeerAuth(cfg: PeerAuthConfig, servers: number, logger: Logger): Promise<LoadedPeerAuth> {
  const K = PEER_AUTH_KEYS;
  const none: PeerAuth = { secret: null, tls: null };
  if (servers <= 1) return { auth: none, mode: 'standalone' };
  const secret = cfg.secretFile === undefined ? null : await readSecret(cfg.secretFile, logger);
  let tls: PeerAuth['tls'] = null;
  if (cfg.sslQuorum) {
    const keyStore = await readText(K.keyStoreLocation, cfg.keyStoreLocation!);
    const trustStore = await readText(K.trustStoreLocation, cfg.trustStoreLocation!);
    const key = pemBlocks(keyStore, /PRIVATE KEY/);
    const cert = pemBlocks(keyStore, /^CERTIFICATE$/);
    const ca = pemBlocks(trustStore, /^CERTIFICATE$/);
    const where = (k: string, p: string) => `${k}=${p}`;
    if (!key) throw new PeerAuthError(K.keyStoreLocation, `${where(K.keyStoreLocation, cfg.keyStoreLocation!)}: no PEM private key in it`);
    if (!cert) throw new PeerAuthError(K.keyStoreLocation, `${where(K.keyStoreLocation, cfg.keyStoreLocation!)}: no PEM certificate in it`);
    if (!ca) throw new PeerAuthError(K.trustStoreLocation, `${where(K.trustStoreLocation, cfg.trustStoreLocation!)}: no PEM certificate in it`);
    try {
      createSecureContext({ key, cert });
    } catch (err) {
      throw new PeerAuthError(K.keyStoreLocation, `${where(K.keyStoreLocation, cfg.keyStoreLocation!)}: unusable key or certificate: ${(err as Error).message}`);
    }
    try {
      createSecureContext({ ca });
    } catch (err) {
      throw new PeerAuthError(K.trustStoreLocation, `${where(K.trustStoreLocation, cfg.trustStoreLocation!)}: unusable CA certificates: ${(err as Error).message}`);
    }
    tls = { key, cert, ca, hostnameVerification: cfg.hostnameVerification };
    if (!cfg.hostnameVerification) logger.warn(`${K.hostnameVerification}=false: any certificate from the trusted CA is accepted as any server`);
  }
  const auth: PeerAuth = { secret, tls };
  if (!secret && !tls) {
    if (!cfg.insecure) {
      throw new PeerAuthError(
        K.secretFile,
        `a cluster of ${servers} servers needs peer authentication: set ${K.secretFile}=PATH (a file holding at least ` +
          `${MIN_SECRET_BYTES} random bytes, e.g. head -c 32 /dev/urandom | base64 > quorum.secret; chmod 600 quorum.secret, ` +
          `the same file on every server) or ${K.sslQuorum}=true with ${K.keyStoreLocation} and ${K.trustStoreLocation}; ` +
          `or ${K.insecure}=true to let anyone who reaches the peer ports join`,
      );
    }
    logger.warn(
      `!!! ${K.insecure}=true: peer authentication is OFF. Anyone who can reach this server's peer ports can vote, ` +
        `join as a follower, read every znode and write anything. Use only on a private test network. !!!`,
    );
  }
  return { auth, mode: peerAuthMode(auth) };
}

async function readText(key: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new PeerAuthError(key, `${key}=${path}: cannot read it: ${(err as Error).message}`);
  }
}

async function readSecret(path: string, logger: Logger): Promise<Uint8Array> {
  const key = PEER_AUTH_KEYS.secretFile;
  let bytes: Buffer;
  let mode: number;
  try {
    bytes = await readFile(path);
    mode = (await stat(path)).mode;
  } catch (err) {
    throw new PeerAuthError(key, `${key}=${path}: cannot read the shared secret: ${(err as Error).message}`);
  }
  let end = bytes.byteLength;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  const secret = bytes.subarray(0, end);
  if (secret.byteLength < MIN_SECRET_BYTES) {
    throw new PeerAuthError(key, `${key}=${path}: the shared secret is ${secret.byteLength} bytes, at least ${MIN_SECRET_BYTES} are needed (head -c 32 /dev/urandom | base64 > ${path})`);
  }
  if ((mode & 0o077) !== 0) {
    logger.warn(`${key}=${path} can be read by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  }
  return secret;
}

/** The PEM blocks of `text` whose label matches, joined; '' when none. */
function pemBlocks(text: string, label: RegExp): string {
  const out: string[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  for (const m of text.matchAll(re)) if (label.test(m[1]!)) out.push(m[0]);
  return out.join('\n');
}
