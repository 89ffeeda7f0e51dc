import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encode, encodeBatch, HandshakeKind, PeerKind, type PeerMessage } from '@zabkit/protocol';
import { PeerNetwork, type PeerAuth } from '../../src/net/peer-network.js';
import { EvilPeer, mac } from '../../../../test/support/evil-peer.js';
import { makeCa, makeCert } from '../../../../test/support/certs.js';
import { FakeAcceptor, Node, SECRET, addresses, authed, cleanups, commit, hello, makeNode, poll, proposal, rawClose, runCleanups, startNodes, tagOf, vote, within } from './peer-network-harness.js';

afterEach(runCleanups);

describe('PeerNetwork authentication', () => {
  it('servers with different secrets never link, either way, and deliver nothing', async () => {
    const peers = await addresses(2);
    const n1 = makeNode(1, peers);
    const n2 = makeNode(2, peers, { auth: { secret: new Uint8Array(randomBytes(32)), tls: null } });
    await Promise.all([n1.net.start(), n2.net.start()]);
    n1.net.send(2, proposal(1));
    n2.net.send(1, proposal(2));
    n1.net.send(2, vote(1));
    // each dialer refuses the acceptor's challenge (it cannot prove the secret), so no proof is ever sent
    const refused = /^warn link to peer (1|2) \((quorum|election)\): dial .* failed .*: the peer failed to prove it holds the shared secret$/;
    await n1.rec.until(() => n1.rec.logCount(refused) === 2, 'both of 1\'s links refused');
    await n2.rec.until(() => n2.rec.logCount(refused) === 1, '2\'s link refused');
    expect(n1.net.connectedPeers()).toEqual([]);
    expect(n2.net.connectedPeers()).toEqual([]);
    // the acceptor's side: a proof made with the wrong secret is refused too
    const evil = await EvilPeer.connect({ port: peers[0]!.quorumPort });
    cleanups.push(() => evil.close());
    await evil.handshake({ sid: 2, acceptorSid: 1, channel: 'quorum', secret: new Uint8Array(randomBytes(32)) });
    evil.send(proposal(3));
    await within(evil.closed, 'the wrong proof refused');
    expect(n1.rec.logCount(/^warn inbound quorum connection from .*: a connection claiming to be server 2 failed to prove it holds the shared secret; closing$/)).toBe(1);
    expect(n1.rec.messages).toEqual([]);
    expect(n2.rec.messages).toEqual([]);
    expect(n1.rec.disconnects).toEqual([]);
  });

  it('refuses an acceptor that is not the server dialled, or that cannot prove the secret', async () => {
    const peers = await addresses(3);
    await FakeAcceptor.listen(peers[1]!.quorumPort, { sid: 3, channel: 'quorum', secret: SECRET }); // says it is 3
    const mitm = await FakeAcceptor.listen(peers[2]!.quorumPort, { sid: 3, channel: 'quorum', secret: SECRET, macSecret: new Uint8Array(randomBytes(32)) });
    let afterHandshake = 0;
    mitm.onFrame = (f) => void ((f as { k: number }).k !== PeerKind.hello && afterHandshake++);
    const n1 = makeNode(1, peers);
    await n1.net.start();
    n1.net.send(2, proposal(1));
    n1.net.send(3, proposal(1));
    await n1.rec.until(() => n1.rec.logCount(/^warn link to peer 2 \(quorum\): dial .*says it is server 3, not 2$/) === 1, 'the impostor refused');
    await n1.rec.until(() => n1.rec.logCount(/^warn link to peer 3 \(quorum\): dial .*failed to prove it holds the shared secret$/) === 1, 'the bad mac refused');
    expect(afterHandshake).toBe(0); // no proof, no message
    expect(n1.net.connectedPeers()).toEqual([]);
  });

  it('refuses a replayed proof and a reflected challenge mac', async () => {
    const peers = await addresses(2);
    const [n1] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    // A real handshake, recorded: its hello nonce and proof.
    const first = await EvilPeer.connect({ port: q });
    cleanups.push(() => first.close());
    const nonce = new Uint8Array(randomBytes(32));
    const c1 = await first.handshake({ sid: 2, acceptorSid: 1, channel: 'quorum', secret: SECRET, nonce });
    const recordedProof = mac(SECRET, { direction: 'dialer', channel: 'quorum', dialerSid: 2, acceptorSid: 1, dialerNonce: nonce, acceptorNonce: c1.nonce });
    first.send(commit(1));
    await n1.rec.until(() => n1.rec.messages.length === 1, 'the recorded link works');

    // Replay: same hello, same proof, on a new connection (the server's nonce is new).
    const replay = await EvilPeer.connect({ port: q });
    cleanups.push(() => replay.close());
    await replay.handshake({ sid: 2, acceptorSid: 1, channel: 'quorum', nonce, proofMac: recordedProof });
    replay.send(commit(2));
    await within(replay.closed, 'the replay refused');

    // Reflection: the server's own challenge mac sent back as the proof.
    const reflect = await EvilPeer.connect({ port: q });
    cleanups.push(() => reflect.close());
    reflect.hello(2, 'quorum');
    const c = (await reflect.nextFrame()) as { mac: Uint8Array };
    expect(c.mac.byteLength).toBe(32);
    reflect.send({ k: HandshakeKind.proof, mac: c.mac });
    reflect.send(commit(3));
    await within(reflect.closed, 'the reflection refused');

    // The election channel's transcript is not the quorum channel's: a proof for one fails on the other.
    const cross = await EvilPeer.connect({ port: peers[0]!.electionPort });
    cleanups.push(() => cross.close());
    const n2 = cross.hello(2, 'election');
    const c2 = (await cross.nextFrame()) as { nonce: Uint8Array };
    const quorumMac = mac(SECRET, { direction: 'dialer', channel: 'quorum', dialerSid: 2, acceptorSid: 1, dialerNonce: n2, acceptorNonce: c2.nonce });
    cross.send({ k: HandshakeKind.proof, mac: quorumMac });
    cross.send(vote(1));
    await within(cross.closed, 'a proof for the other channel refused');

    expect(n1.rec.from(2).map(tagOf)).toEqual(['kind 20']);
    expect(first.isClosed).toBe(false);
    expect(n1.rec.logCount(/failed to prove it holds the shared secret; closing$/)).toBe(3);
    expect(n1.rec.messages.length).toBe(1);
    expect(n1.rec.disconnects).toEqual([]);
  });

  it('closes a pre-auth frame above 4 KiB from its length prefix alone, and a handshake that takes too long', async () => {
    const peers = await addresses(2);
    const [n1] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const header = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n, 0);
      return b;
    };
    await within(rawClose(q, [{ raw: header(1024 * 1024 * 1024) }]), 'a 1 GiB length prefix'); // no body sent at all
    await within(rawClose(q, [{ raw: header(4097) }]), 'a 4097-byte length prefix');
    await within(rawClose(q, [hello(2, 'quorum'), { raw: header(64 * 1024) }]), 'a 64 KiB proof');
    expect(n1.rec.logCount(/^warn inbound quorum connection from .*: a frame of \d+ bytes exceeds the limit of 4096; closing$/)).toBe(3);
    // after authentication the limit is maxFrameBytes
    const ok = await authed(q, 2, 1, 'quorum');
    ok.send({ ...proposal(1), txn: new Uint8Array(64 * 1024) });
    await n1.rec.until(() => n1.rec.messages.length === 1, 'a 64 KiB proposal after the handshake');

    const silent = await EvilPeer.connect({ port: q });
    cleanups.push(() => silent.close());
    const stalled = await EvilPeer.connect({ port: q });
    cleanups.push(() => stalled.close());
    stalled.hello(2, 'quorum');
    await stalled.nextFrame();
    await within(Promise.all([silent.closed, stalled.closed]), 'both closed at the deadline', 10_000);
    expect(n1.rec.logCount(/^warn inbound quorum connection from .*: no handshake within 5000 ms; closing$/)).toBe(2);
    expect(n1.net.unauthenticatedCount).toBe(0);
  });

  it('caps connections that have not authenticated per address and in all', async () => {
    const peers = await addresses(2);
    const [n1] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const open = async (localAddress: string) => {
      const evil = await EvilPeer.connect({ port: q, localAddress });
      cleanups.push(() => evil.close());
      return evil;
    };
    const first = await Promise.all(Array.from({ length: 8 }, () => open('127.0.0.1')));
    await poll(() => n1.net.unauthenticatedCount === 8, '8 half-open connections counted');
    const ninth = await open('127.0.0.1');
    await within(ninth.closed, 'the 9th from one address refused');
    // other addresses (127.0.0.2 ..) fill the total of 64
    const more: EvilPeer[] = [];
    for (let a = 2; a <= 8; a++) more.push(...(await Promise.all(Array.from({ length: 8 }, () => open(`127.0.0.${a}`)))));
    await poll(() => n1.net.unauthenticatedCount === 64, '64 half-open connections counted');
    const over = await open('127.0.0.9');
    await within(over.closed, 'the 65th refused');
    expect([...first, ...more].some((e) => e.isClosed)).toBe(false);
    expect(n1.rec.logCount(/refused a connection from 127\.0\.0\.1: 8 from that address/)).toBe(1);
    // a real peer still gets in once the half-open ones go
    await Promise.all(first.map((e) => e.close()));
    await poll(() => n1.net.unauthenticatedCount === 56, 'the first 8 gone');
    const real = await authed(q, 2, 1, 'quorum');
    real.send(commit(1));
    await n1.rec.until(() => n1.rec.messages.length === 1, 'a message over a real link');
  });

  it('runs every message through validate first: a bad one closes the link and nothing of its frame is delivered', async () => {
    const peers = await addresses(2);
    const seen: string[] = [];
    const validate = (from: number, m: PeerMessage) => {
      seen.push(`${from} ${tagOf(m)}`);
      return m.k === PeerKind.commit && m.zxid === (7n << 32n) + 66n ? 'commit 66 is forbidden' : null;
    };
    const [n1] = (await startNodes(peers, { validate })) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const raw = await authed(q, 2, 1, 'quorum');
    raw.send(proposal(1));
    raw.sendEncoded(encodeBatch([encode(proposal(2)), encode(commit(66)), encode(proposal(3))]));
    await within(raw.closed, 'the link closed');
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the break reported');
    expect(n1.rec.from(2).map(tagOf)).toEqual(['proposal 1']);
    expect(seen).toEqual(['2 proposal 1', '2 proposal 2', '2 kind 20']);
    expect(n1.rec.logCount(/^warn link from peer 2 \(quorum\): invalid kind 20 message: commit 66 is forbidden; closing$/)).toBe(1);
  });

  it('runs insecure (no secret, no TLS) with empty macs, and refuses a peer that sends one', async () => {
    const peers = await addresses(2);
    const none: PeerAuth = { secret: null, tls: null };
    const [n1, n2] = (await startNodes(peers, { auth: none })) as [Node, Node];
    n1.net.send(2, proposal(1));
    await n2.rec.until(() => n2.rec.messages.length === 1, 'a message without a secret');
    const evil = await EvilPeer.connect({ port: peers[0]!.quorumPort });
    cleanups.push(() => evil.close());
    await evil.handshake({ sid: 2, acceptorSid: 1, channel: 'quorum', secret: SECRET });
    await within(evil.closed, 'a mac refused');
    expect(n1.rec.logCount(/sent a mac but we have no secret; closing$/)).toBe(1);
  });
});

describe('PeerNetwork over mutual TLS', () => {
  it('links servers whose certificates chain to the trust store and name their host; refuses others both ways', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zabkit-peer-tls-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const ca = await makeCa(dir, 'net');
    const good = await makeCert(ca, 'good');
    const wrongHost = await makeCert(ca, 'wronghost', 'IP:10.9.9.9');
    const stranger = await makeCert(await makeCa(dir, 'stranger'), 'stranger');
    const tls = (c: { key: string; cert: string }): PeerAuth => ({ secret: null, tls: { key: c.key, cert: c.cert, ca: ca.caPem, hostnameVerification: true } });
    const peers = await addresses(4);
    const n1 = makeNode(1, peers, { auth: tls(good) });
    const n2 = makeNode(2, peers, { auth: tls(good) });
    const n3 = makeNode(3, peers, { auth: tls(wrongHost) });
    const n4 = makeNode(4, peers, { auth: tls(stranger) });
    await Promise.all([n1, n2, n3, n4].map((n) => n.net.start()));
    n1.net.send(2, proposal(1));
    n2.net.send(1, vote(2));
    await n2.rec.until(() => n2.rec.messages.length === 1, 'a proposal over TLS');
    await n1.rec.until(() => n1.rec.messages.length === 1, 'a vote over TLS');

    // 3's certificate is from the right CA but names another host: refused as a client (by 1) and as a server (by 1's dial)
    n3.net.send(1, proposal(3));
    n1.net.send(3, proposal(3));
    await n1.rec.until(() => n1.rec.logCount(/claiming to be server 3 does not match its host 127\.0\.0\.1/) >= 1, '3 refused as a client');
    await n1.rec.until(() => n1.rec.logCount(/^warn link to peer 3 \(quorum\): dial .*failed .*IP: 127\.0\.0\.1 is not in the cert's list/) === 1, '3 refused as a server');
    // 4's certificate is from another CA
    n4.net.send(1, proposal(4));
    n1.net.send(4, proposal(4));
    await n1.rec.until(() => n1.rec.logCount(/TLS handshake from 127\.0\.0\.1 failed: client certificate refused: /) >= 1, '4 refused as a client');
    await n1.rec.until(() => n1.rec.logCount(/^warn link to peer 4 \(quorum\): dial .*failed .*certificate/i) === 1, '4 refused as a server');
    expect(n1.rec.from(3)).toEqual([]);
    expect(n1.rec.from(4)).toEqual([]);
    expect(n3.rec.messages).toEqual([]);
    expect(n4.rec.messages).toEqual([]);
    // a plain TCP client gets nowhere near the handshake
    const plain = await EvilPeer.connect({ port: peers[0]!.quorumPort });
    cleanups.push(() => plain.close());
    plain.hello(2, 'quorum');
    await within(plain.closed, 'a plain TCP hello refused');
    expect(n1.rec.from(2).length).toBe(1);
  });
});
