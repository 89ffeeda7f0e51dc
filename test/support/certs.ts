/**
 * Test certificates made with the `openssl` CLI (Debian package `openssl`): a CA, and per server a
 * key + certificate for 127.0.0.1 signed by it, written as ZooKeeper-style PEM keystores (key and
 * chain in one file) and a PEM truststore.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCa {
  dir: string;
  name: string;
  /** The truststore: the CA certificate (PEM). */
  caFile: string;
  caPem: string;
}

export interface TestCert {
  /** Key and certificate chain in one PEM file (ssl.quorum.keyStore.location). */
  keyStoreFile: string;
  key: string;
  cert: string;
}

export async function makeCa(dir: string, name: string): Promise<TestCa> {
  const key = join(dir, `${name}-ca.key`);
  const caFile = join(dir, `${name}-ca.pem`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', caFile, '-days', '2', '-subj', `/CN=${name} test CA`]);
  return { dir, name, caFile, caPem: await readFile(caFile, 'utf8') };
}

/** A certificate for `cn` with subjectAltName `san` (default IP:127.0.0.1), signed by `ca`. */
export async function makeCert(ca: TestCa, cn: string, san = 'IP:127.0.0.1'): Promise<TestCert> {
  const base = join(ca.dir, `${ca.name}-${cn}`);
  const ext = `${base}.ext`;
  await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`]);
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.caFile, '-CAkey', join(ca.dir, `${ca.name}-ca.key`), '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', ext]);
  const key = await readFile(`${base}.key`, 'utf8');
  const cert = await readFile(`${base}.crt`, 'utf8');
  const keyStoreFile = `${base}-keystore.pem`;
  await writeFile(keyStoreFile, `${key}\n${cert}\n${ca.caPem}`, { mode: 0o600 });
  return { keyStoreFile, key, cert };
}
