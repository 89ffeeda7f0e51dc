import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_EPOCH, OpCode, PeerKind, type PeerMessage } from '@zabkit/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerNetwork, type PeerAddress } from '../../packages/server/src/net/peer-network.js';
import { silentLogger } from '../../packages/server/src/runtime/logger.js';
import { ClusterHarness, pollUntil, text } from './harness.js';

/** The peer addresses every server's zoo.cfg lists. */
async function peerAddresses(configFile: string): Promise<PeerAddress[]> {
  const cfg = await readFile(configFile, 'utf8');
  return [...cfg.matchAll(/^server\.(\d+)=([\d.]+):(\d+):(\d+)/gm)].map((m) => ({
    id: Number(m[1]),
    host: m[2]!,
    quorumPort: Number(m[3]),
    electionPort: Number(m[4]),
  }));
}

/** The cluster's shared secret, as the servers read it (quorum.auth.secretFile, trailing newlines cut). */
async function clusterSecret(configFile: string): Promise<Uint8Array> {
  const path = /^quorum\.auth\.secretFile=(.+)$/m.exec(await readFile(configFile, 'utf8'))?.[1];
  if (!path) throw new Error(`no quorum.auth.secretFile in ${configFile}`);
  const bytes = await readFile(path.trim());
  let end = bytes.byteLength;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}

// The attacks, from a real (authenticated) peer link (posing as the observer, which is down), against a
// real leader: each closes that link with the reason logged; the leader leads on, nothing is applied
// or persisted.
describe('a peer that sends what no correct server sends (3 voters + 1 observer, real processes)', () => {
  let h: ClusterHarness | null = null;
  let fake: PeerNetwork | null = null;

  afterEach(async () => {
    await fake?.stop();
    fake = null;
    await h?.dispose();
    h = null;
  });

  it('every message is refused at the edge, the leader keeps leading and persists no bad epoch', async () => {
    h = await ClusterHarness.start({ nodes: 3, observers: 1 });
    const { cluster } = h;
    const leader = await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 30_000 });
    const writer = await h.client([1, 2, 3].map((id) => cluster.address(id)).join(','));
    await writer.create('/before', 'v');
    const epochBefore = (await cluster.status(leader)).epoch;
    await cluster.kill(4);
    let breaks = 0;

    fake = new PeerNetwork({
      myId: 4,
      peers: await peerAddresses(cluster.node(1).configFile),
      // the peer knows the secret: authenticated, and still sending anything
      auth: { secret: await clusterSecret(cluster.node(1).configFile), tls: null },
      logger: silentLogger,
      maxFrameBytes: 64 * 1024 * 1024,
      onMessage: () => {},
      onDisconnect: () => void breaks++,
      reconnect: { minMs: 10, maxMs: 100 },
    });
    await fake.start();
    const passwd = new Uint8Array(16);
    const attacks: Array<[string, PeerMessage, RegExp]> = [
      ['acceptedEpoch 2^53', { k: PeerKind.followerInfo, acceptedEpoch: 2 ** 53, lastZxid: 0n, observer: true }, /acceptedEpoch must be an integer/],
      ['acceptedEpoch as a bigint', { k: PeerKind.followerInfo, acceptedEpoch: 2n ** 53n as never, lastZxid: 0n, observer: true }, /acceptedEpoch must be an integer/],
      ['a path without a leading slash', { k: PeerKind.request, sessionId: 4n << 56n, cxid: 1, req: { op: OpCode.create, path: 'evil', data: null, mode: 'persistent' } }, /must start with/],
      [
        'a 3 MB znode',
        { k: PeerKind.request, sessionId: 4n << 56n, cxid: 2, req: { op: OpCode.setData, path: '/before', data: new Uint8Array(3 * 1024 * 1024), version: -1 } },
        /3145728 bytes of data, the limit is 1048576/,
      ],
      ['a 1e15 ms session', { k: PeerKind.request, sessionId: (4n << 56n) | 1n, cxid: 0, req: { op: 'createSession', timeoutMs: 1e15, passwd } }, /timeoutMs must be a positive/],
      ['a zxid as a number', { k: PeerKind.ack, zxid: 5 as never }, /zxid must be a bigint/],
    ];
    for (const [i, [what, msg, reason]] of attacks.entries()) {
      // (a send right after a break may be discarded until the break is reported)
      await pollUntil('the fake link to report the last refusal', 15_000, async () => (breaks >= i ? true : undefined), 20);
      const refused = h.nextLine(new RegExp(`link from peer 4 \\(quorum\\): invalid kind \\d+ message: .*${reason.source}`), { id: leader, timeoutMs: 15_000 });
      fake.send(leader, msg);
      await expect(refused.catch((e) => { throw new Error(`${what}: ${e.message}\n${h!.tail(30)}`); }), what).resolves.toBeTruthy();
    }
    // A frame far above what a proposal of a maximal request needs: refused by size (no more 1 GiB).
    await pollUntil('the fake link to report the last refusal', 15_000, async () => (breaks >= attacks.length ? true : undefined), 20);
    const oversized = h.nextLine(/link from peer 4 \(quorum\).*a frame of \d+ bytes exceeds the limit of/, { id: leader, timeoutMs: 15_000 });
    fake.send(leader, { k: PeerKind.proposal, zxid: (1n << 32n) | 1n, txn: new Uint8Array(20 * 1024 * 1024) });
    await oversized;

    // The leader leads on in the same epoch; nothing was applied; writes work.
    const status = await cluster.status(leader);
    expect(status.role).toBe('leader');
    expect(status.epoch).toBe(epochBefore);
    expect(text((await writer.getData('/before')).data)).toBe('v');
    expect(await writer.exists('/evil')).toBeNull();
    await writer.create('/after');
    for (const id of [1, 2, 3]) {
      for (const name of ['acceptedEpoch', 'currentEpoch']) {
        const epoch = Number((await readFile(join(cluster.node(id).dataDir, 'snap', name), 'utf8')).trim());
        expect(epoch, `${name} of server ${id}`).toBeLessThanOrEqual(MAX_EPOCH);
        expect(epoch).toBe(epochBefore);
      }
    }
  }, 90_000);
});
