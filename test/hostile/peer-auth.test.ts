import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PeerKind, type PeerMessage } from '@zabkit/protocol';
import { BIN_PATH } from 'zabkit';
import { ClusterHarness, pollUntil, withTimeout } from '../cluster/harness.js';
import { EvilPeer } from '../support/evil-peer.js';
import { makeCa, makeCert, type TestCa, type TestCert } from '../support/certs.js';

const run = promisify(execFile);

/** Peer ports of node `id`, read from its zoo.cfg (`server.N=127.0.0.1:quorum:election`). */
async function peerPorts(h: ClusterHarness, id: number): Promise<{ quorum: number; election: number }> {
  const cfg = await readFile(h.cluster.node(id).configFile, 'utf8');
  const m = new RegExp(`^server\\.${id}=127\\.0\\.0\\.1:(\\d+):(\\d+)`, 'm').exec(cfg);
  if (!m) throw new Error(`no server.${id} line in ${h.cluster.node(id).configFile}`);
  return { quorum: Number(m[1]), election: Number(m[2]) };
}

const vote = (leader: number): PeerMessage => ({ k: PeerKind.vote, leader, zxid: (99n << 32n) + 5n, peerEpoch: 99, electionEpoch: 1000, state: 'LOOKING' });
const followerInfo: PeerMessage = { k: PeerKind.followerInfo, acceptedEpoch: 2 ** 31, lastZxid: 0n, observer: false };
const forgedCreate: PeerMessage = { k: PeerKind.request, sessionId: 1n, cxid: 1, req: { op: 'create', path: '/forged', data: new Uint8Array(4), acl: [], mode: 0 } as never };

/** Connects to `port` as `sid` and tries everything a peer without the secret can: returns once the server closed it. */
async function forge(port: number, sid: number, acceptorSid: number, channel: 'quorum' | 'election', how: number): Promise<void> {
  const evil = await EvilPeer.connect({ port });
  try {
    const msgs = channel === 'election' ? [vote(sid)] : [followerInfo, forgedCreate];
    if (how % 3 === 0) {
      // a guessed secret: the proof is refused
      await evil.handshake({ sid, acceptorSid, channel, secret: new Uint8Array(randomBytes(32)) }).catch(() => undefined);
    } else if (how % 3 === 1) {
      // the old protocol: a hello and straight on
      evil.hello(sid, channel);
    }
    for (const m of msgs) evil.send(m);
    await withTimeout(evil.closed, 10_000, `the server to close a forged ${channel} connection`);
  } finally {
    await evil.close();
  }
}

describe('peer authentication against real servers', () => {
  let h: ClusterHarness | null = null;
  let dir = '';
  let ca: TestCa;
  let otherCa: TestCa;
  let cert: TestCert;
  let foreign: TestCert;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zabkit-peer-auth-'));
    ca = await makeCa(dir, 'cluster');
    otherCa = await makeCa(dir, 'other');
    cert = await makeCert(ca, 'server');
    foreign = await makeCert(otherCa, 'server');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  it('forged hellos, votes, FOLLOWERINFO and requests without the secret change nothing; writes go on', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const leader = await h.cluster.waitForLeader({ minFollowers: 2 });
    const before = await h.cluster.status(leader);
    const client = await h.client();
    await client.create('/before', 'x');
    let attempts = 0;
    for (let id = 1; id <= 3; id++) {
      const ports = await peerPorts(h, id);
      const other = id === 1 ? 2 : 1;
      for (let how = 0; how < 3; how++) {
        await forge(ports.election, other, id, 'election', how);
        await forge(ports.quorum, other, id, 'quorum', how);
        attempts += 2;
      }
    }
    await client.create('/after', 'y');
    const statuses = await h.cluster.statuses();
    expect([...statuses.values()].filter((s) => s.role === 'leader').map((s) => s.serverId)).toEqual([leader]);
    const now = statuses.get(leader)!;
    expect(now.epoch).toBe(before.epoch); // no election was forced
    expect(now.followers?.length).toBe(2);
    expect(now.peerAuth).toBe('secret');
    expect(await client.exists('/forged')).toBeNull();
    expect(h.linesMatching(/inbound (quorum|election) connection from .*; closing$/).length).toBeGreaterThanOrEqual(attempts);
  });

  it('an eviction loop of forged connections claiming to be the followers loses no legitimate write', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const leader = await h.cluster.waitForLeader({ minFollowers: 2 });
    const followers = [1, 2, 3].filter((id) => id !== leader);
    const ports = await Promise.all([1, 2, 3].map((id) => peerPorts(h!, id)));
    // a client on a follower: its writes cross the very links the forgers claim
    const client = await h.clientOn(followers[0]!);
    // every write runs alongside two forged connections: one to the leader claiming to be a
    // follower, one to the client's follower claiming to be the leader (the old eviction loop)
    let forged = 0;
    const forgeOne = async (i: number, target: number, claim: number) => {
      const p = ports[target - 1]!;
      const channel = i % 3 === 0 ? 'election' : 'quorum';
      await forge(channel === 'election' ? p.election : p.quorum, claim, target, channel, i);
      forged++;
    };
    const results: string[] = [];
    for (let i = 0; i < 40; i++) {
      const [path] = await Promise.all([
        client.create(`/w${i}`, String(i), { timeoutMs: 5_000 }).then(
          (p) => p,
          (err: Error) => `failed: ${err.message}`,
        ),
        forgeOne(i, leader, followers[i % 2]!),
        forgeOne(i + 1, followers[0]!, leader),
      ]);
      results.push(path);
    }
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => `/w${i}`));
    expect(forged).toBe(80);
    const status = await h.cluster.status(leader);
    expect(status.role).toBe('leader');
    expect(h.linesMatching(/replaced by a newer/).length).toBe(0);
  });

  it('with 2 of 3 servers down, forged votes and a forged follower cannot make the third lead; nothing acknowledged is lost', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const leader = await h.cluster.waitForLeader({ minFollowers: 2 });
    const client = await h.client();
    for (let i = 0; i < 10; i++) await client.create(`/acked${i}`, String(i));
    const survivor = leader;
    const down = [1, 2, 3].filter((id) => id !== survivor);
    await Promise.all(down.map((id) => h!.cluster.kill(id)));
    // (it sees the quorum gone: the links broke, no event tells the test, so poll its status)
    await pollUntil('the survivor to give up leading', 10_000, async () => ((await h!.cluster.statuses()).get(survivor)?.role === 'looking' ? true : undefined));
    const since = Date.now();
    const ports = await peerPorts(h, survivor);
    // Posing as both downed servers: votes for the survivor on the election port, then a follower's
    // FOLLOWERINFO and a forged write on the quorum port, every way a peer without the secret can.
    for (let round = 0; round < 4; round++) {
      for (const claim of down) {
        await forge(ports.election, claim, survivor, 'election', round);
        await forge(ports.quorum, claim, survivor, 'quorum', round);
      }
    }
    expect(h.linesMatching(/established leadership/, survivor, since)).toEqual([]);
    const alone = (await h.cluster.statuses()).get(survivor);
    expect(alone?.role).toBe('looking');
    await Promise.all(down.map((id) => h!.cluster.startNode(id)));
    await h.cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const after = await h.client();
    for (let i = 0; i < 10; i++) expect((await after.getString(`/acked${i}`)).data).toBe(String(i));
    expect(await after.exists('/forged')).toBeNull();
  });

  it('closes 3 connections streaming huge frames before authentication early; RSS stays far below the attack size', async () => {
    h = await ClusterHarness.start({ nodes: 3 });
    const leader = await h.cluster.waitForLeader({ minFollowers: 2 });
    const { quorum } = await peerPorts(h, leader);
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    const attack = async (): Promise<number> => {
      const evil = await EvilPeer.connect({ port: quorum });
      const header = Buffer.alloc(4);
      header.writeUInt32BE(300 * 1024 * 1024, 0); // a 300 MB "hello"
      evil.sendRaw(header);
      let sent = 0;
      // at most 300 x 1 MiB; stop as soon as the server closes
      for (let i = 0; i < 300 && !evil.isClosed; i++) {
        const flushed = evil.socket.write(chunk);
        sent += chunk.byteLength;
        if (!flushed) await Promise.race([new Promise((r) => evil.socket.once('drain', r)), evil.closed]);
      }
      await withTimeout(evil.closed, 10_000, 'the server to close the streaming connection');
      return sent;
    };
    const sent = await Promise.all([attack(), attack(), attack()]);
    for (const s of sent) expect(s).toBeLessThan(300 * 1024 * 1024);
    const status = await h.cluster.status(leader);
    expect(status.role).toBe('leader');
    expect(status.memory!.rss).toBeLessThan(300 * 1024 * 1024);
    const client = await h.client();
    await client.create('/still-serving', 'ok');
    expect(h.linesMatching(/a frame of 314572800 bytes exceeds the limit of 4096; closing$/, leader).length).toBe(3);
  });

  it('a 3-voter config without peer authentication refuses to start, naming both keys', async () => {
    const err = await ClusterHarness.start({ nodes: 3, peerSecret: false, readyTimeoutMs: 20_000 }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).not.toBeNull();
    expect(err!.message).toMatch(/exited before it was ready \(code 1/);
    expect(err!.message).toMatch(/cannot start: a cluster of 3 servers needs peer authentication: set quorum\.auth\.secretFile=PATH.* or sslQuorum=true/);
  });

  it('quorum.auth.insecure=true starts, warns loudly in the log, and status says so', async () => {
    h = await ClusterHarness.start({ nodes: 3, peerSecret: false, extraConfig: { 'quorum.auth.insecure': 'true' } });
    const leader = await h.cluster.waitForLeader({ minFollowers: 2 });
    expect(h.linesMatching(/quorum\.auth\.insecure=true: peer authentication is OFF/).length).toBe(3);
    expect((await h.cluster.status(leader)).peerAuth).toBe('insecure');
    const { stdout } = await run(process.execPath, [BIN_PATH, 'status', h.cluster.connectString]);
    expect(stdout.match(/WARNING: server \d runs with quorum\.auth\.insecure=true/g)?.length).toBe(3);
    expect(stdout).toMatch(/peer-auth insecure/);
  });

  it('an sslQuorum cluster elects and serves; a server whose certificate is from another CA cannot join', async () => {
    const tls = (keyStore: string) => ({
      sslQuorum: 'true',
      'ssl.quorum.keyStore.location': keyStore,
      'ssl.quorum.keyStore.type': 'PEM',
      'ssl.quorum.trustStore.location': ca.caFile,
      'ssl.quorum.trustStore.type': 'PEM',
    });
    h = await ClusterHarness.start({ nodes: 3, peerSecret: false, extraConfig: tls(cert.keyStoreFile) });
    const leader = await h.cluster.waitForLeader({ minFollowers: 2 });
    expect((await h.cluster.status(leader)).peerAuth).toBe('tls');
    const client = await h.client();
    await client.create('/tls', 'ok');

    // Restart a follower with a certificate from another CA (trusting the right CA itself).
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    await h.cluster.stopNode(victim);
    const cfgFile = h.cluster.node(victim).configFile;
    const cfg = await readFile(cfgFile, 'utf8');
    await writeFile(cfgFile, cfg.replace(cert.keyStoreFile, foreign.keyStoreFile));
    const refused = h.nextLine(/peer (quorum|election) port: TLS handshake from 127.0.0.1 failed: client certificate refused: /, { timeoutMs: 20_000 });
    const starting = h.cluster.startNode(victim).then(
      () => 'ready',
      (e: Error) => e.message,
    );
    await refused;
    await client.create('/tls2', 'ok'); // the other two still serve
    const status = await pollUntil('the stranger to keep looking', 5_000, async () => (await h!.cluster.status(victim)).role === 'looking' || undefined).catch(() => false);
    expect(status).toBe(true);
    expect((await h.cluster.status(leader)).followers).toEqual([[1, 2, 3].find((id) => id !== leader && id !== victim)]);
    await h.cluster.kill(victim);
    expect(await starting).not.toBe('ready');
  });
});
