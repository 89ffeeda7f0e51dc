import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, configFromObject, parseConfig } from '../../src/runtime/config.js';
import { loadPeerAuth, PeerAuthError } from '../../src/runtime/peer-auth-config.js';
import type { Logger } from '../../src/runtime/logger.js';
import { makeCa, makeCert } from '../../../../test/support/certs.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zabkit-peer-auth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cluster = (extra: string) =>
  `dataDir=${dir}\nmyid=1\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n${extra}`;

function recorder(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = { debug: () => {}, info: () => {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };
  return { logger, warnings };
}

async function load(extra: string, servers = 3) {
  const { config } = parseConfig(cluster(extra));
  const rec = recorder();
  const loaded = await loadPeerAuth(config.peerAuth, servers, rec.logger);
  return { ...loaded, warnings: rec.warnings };
}

async function refusal(extra: string): Promise<PeerAuthError> {
  const err = await load(extra).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PeerAuthError);
  return err as PeerAuthError;
}

describe('peer authentication settings', () => {
  it('refuses a cluster with neither a secret nor TLS, naming both keys, and starts insecure only when told, loudly', async () => {
    const err = await refusal('');
    expect(err.message).toMatch(/quorum\.auth\.secretFile=PATH/);
    expect(err.message).toMatch(/sslQuorum=true/);
    expect(err.message).toMatch(/quorum\.auth\.insecure=true/);
    const insecure = await load('quorum.auth.insecure=true\n');
    expect(insecure.mode).toBe('insecure');
    expect(insecure.auth).toEqual({ secret: null, tls: null });
    expect(insecure.warnings.some((w) => /peer authentication is OFF/.test(w))).toBe(true);
    // a lone server has no peers to authenticate
    expect((await load('', 1)).mode).toBe('standalone');
  });

  it('reads a secret file (trailing newline not part of it), refusing missing or short ones and warning when others can read it', async () => {
    const good = join(dir, 'good.secret');
    const text = randomBytes(32).toString('base64');
    await writeFile(good, `${text}\n`, { mode: 0o600 });
    const ok = await load(`quorum.auth.secretFile=${good}\n`);
    expect(ok.mode).toBe('secret');
    expect(Buffer.from(ok.auth.secret!).toString()).toBe(text);
    expect(ok.warnings).toEqual([]);

    await chmod(good, 0o644);
    expect((await load(`quorum.auth.secretFile=${good}\n`)).warnings.some((w) => w.includes(good) && /mode 644.*chmod 600/.test(w))).toBe(true);

    const missing = await refusal(`quorum.auth.secretFile=${join(dir, 'nope')}\n`);
    expect(missing.key).toBe('quorum.auth.secretFile');
    expect(missing.message).toMatch(/quorum\.auth\.secretFile=.*nope: cannot read the shared secret: ENOENT/);

    const short = join(dir, 'short.secret');
    await writeFile(short, 'tooshort\n', { mode: 0o600 });
    expect((await refusal(`quorum.auth.secretFile=${short}\n`)).message).toMatch(/short\.secret: the shared secret is 8 bytes, at least 32/);
  });

  it('checks the TLS keys: PEM only, both stores required, usable key and certificates', async () => {
    expect(() => parseConfig(cluster('ssl.quorum.keyStore.type=JKS\n'))).toThrow(ConfigError);
    expect(() => parseConfig(cluster('ssl.quorum.keyStore.type=JKS\n'))).toThrow(/ssl\.quorum\.keyStore\.type=JKS: only PEM/);
    expect(() => parseConfig(cluster('ssl.quorum.trustStore.type=PKCS12\n'))).toThrow(/ssl\.quorum\.trustStore\.type=PKCS12: only PEM/);
    expect(() => parseConfig(cluster('sslQuorum=true\n'))).toThrow(/sslQuorum=true needs ssl\.quorum\.keyStore\.location/);
    expect(() => parseConfig(cluster(`sslQuorum=true\nssl.quorum.keyStore.location=${dir}/k.pem\n`))).toThrow(/needs ssl\.quorum\.trustStore\.location/);
    expect(() => parseConfig(cluster('sslQuorum=yes\n'))).toThrow(/sslQuorum must be true or false, got 'yes'/);

    const ca = await makeCa(dir, 'cfg');
    const cert = await makeCert(ca, 'server1');
    const tls = `sslQuorum=true\nssl.quorum.keyStore.location=${cert.keyStoreFile}\nssl.quorum.keyStore.type=PEM\nssl.quorum.trustStore.location=${ca.caFile}\nssl.quorum.trustStore.type=pem\n`;
    const ok = await load(tls);
    expect(ok.mode).toBe('tls');
    expect(ok.auth.tls?.key).toMatch(/BEGIN PRIVATE KEY/);
    expect(ok.auth.tls?.cert).toMatch(/BEGIN CERTIFICATE/);
    expect(ok.auth.tls?.hostnameVerification).toBe(true);

    const secret = join(dir, 'both.secret');
    await writeFile(secret, randomBytes(32).toString('base64'), { mode: 0o600 });
    expect((await load(`${tls}quorum.auth.secretFile=${secret}\nssl.quorum.hostnameVerification=false\n`)).mode).toBe('tls+secret');

    const certOnly = join(dir, 'cert-only.pem');
    await writeFile(certOnly, cert.cert);
    const noKey = await refusal(`sslQuorum=true\nssl.quorum.keyStore.location=${certOnly}\nssl.quorum.trustStore.location=${ca.caFile}\n`);
    expect(noKey.message).toMatch(/ssl\.quorum\.keyStore\.location=.*cert-only\.pem: no PEM private key/);
    const noFile = await refusal(`sslQuorum=true\nssl.quorum.keyStore.location=${cert.keyStoreFile}\nssl.quorum.trustStore.location=${dir}/absent.pem\n`);
    expect(noFile.key).toBe('ssl.quorum.trustStore.location');
  });

  it('takes the same settings from an object, and resolves relative paths against the config file', async () => {
    const { config } = parseConfig(cluster('quorum.auth.secretFile=keys/q.secret\n'), { baseDir: '/etc/zabkit' });
    expect(config.peerAuth).toEqual({ secretFile: '/etc/zabkit/keys/q.secret', sslQuorum: false, hostnameVerification: true, insecure: false });
    const fromObject = configFromObject({ dataDir: dir, peerAuth: { insecure: true, sslQuorum: false } });
    expect(fromObject.config.peerAuth).toEqual({ sslQuorum: false, hostnameVerification: true, insecure: true });
  });
});
