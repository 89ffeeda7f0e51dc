import { randomBytes } from 'node:crypto';
import { createServer as createNetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encode, encodeBatch, HandshakeKind, PeerKind, PROTOCOL_VERSION, type PeerMessage, type ProposalMsg, type SnapMsg, type VoteMsg } from '@zabkit/protocol';
import { MAX_QUEUED_MSGS, PeerNetwork } from '../../src/net/peer-network.js';
import { EvilPeer, mac } from '../../../../test/support/evil-peer.js';
import { FakeAcceptor, Node, SECRET, addresses, authed, cleanups, commit, hello, makeNode, proposal, rawClose, runCleanups, startNodes, tagOf, vote, wire, within } from './peer-network-harness.js';

afterEach(runCleanups);

describe('PeerNetwork', () => {
  it('delivers all-pairs messages on both channels with the right sender, each channel in order', async () => {
    const peers = await addresses(3);
    const nodes = await startNodes(peers);
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        a.net.send(b.id, vote(a.id * 10 + b.id));
        a.net.send(b.id, proposal(a.id * 10 + b.id));
      }
    }
    for (const b of nodes) {
      await b.rec.until(() => b.rec.messages.length === 4, `4 messages at ${b.id}`);
      for (const a of nodes) {
        if (a === b) continue;
        expect(b.rec.from(a.id).map(tagOf).sort()).toEqual([`proposal ${a.id * 10 + b.id}`, `vote ${a.id * 10 + b.id}`]);
      }
    }
    const [n1, n2] = nodes as [Node, Node, Node];
    expect(n1.net.connectedPeers()).toEqual([2, 3]);
    const before = n2.rec.messages.length;

    // 1000 numbered proposals from 1 to 2, with votes interleaved on the other channel.
    for (let i = 1; i <= 1000; i++) {
      n1.net.send(2, proposal(i));
      if (i % 10 === 0) n1.net.send(2, vote(i));
    }
    await n2.rec.until(() => n2.rec.messages.length === before + 1100, '1100 more messages at 2');
    const got = n2.rec.messages.slice(before);
    expect(got.every((m) => m.from === 1)).toBe(true);
    const props = got.map((m) => m.msg).filter((m): m is ProposalMsg => m.k === PeerKind.proposal);
    expect(props.map((m) => m.zxid)).toEqual(Array.from({ length: 1000 }, (_, i) => (7n << 32n) + BigInt(i + 1)));
    expect(props[999]!.txn).toEqual(Buffer.of(1000 & 0xff, 1000 >> 8, 0xab));
    const votes = got.map((m) => m.msg).filter((m): m is VoteMsg => m.k === PeerKind.vote);
    expect(votes.map((v) => v.electionEpoch)).toEqual(Array.from({ length: 100 }, (_, i) => (i + 1) * 10));
    expect(votes[0]).toEqual(vote(10));
    for (const n of nodes) expect(n.rec.disconnects).toEqual([]);
  });

  it('sends votes on the election port and everything else on the quorum port, each after the handshake', async () => {
    const peers = await addresses(2);
    const fake = peers[1]!;
    const seen: Record<string, unknown[]> = { quorum: [], election: [] };
    let frames = 0;
    let onFrame = (): void => {};
    for (const channel of ['quorum', 'election'] as const) {
      const acceptor = await FakeAcceptor.listen(channel === 'quorum' ? fake.quorumPort : fake.electionPort, { sid: 2, channel, secret: SECRET });
      acceptor.onFrame = (f) => {
        seen[channel]!.push(f);
        frames++;
        onFrame();
      };
    }
    const n1 = makeNode(1, peers);
    await n1.net.start();
    n1.net.send(2, proposal(1));
    n1.net.send(2, vote(1));
    n1.net.send(2, commit(1));
    await within(new Promise<void>((resolve) => {
      onFrame = () => frames === 7 && resolve();
      onFrame();
    }), '7 frames at the fake peer');
    const helloOf = (channel: string) => ({ k: PeerKind.hello, sid: 1, channel, protocolVersion: PROTOCOL_VERSION, nonce: expect.any(Uint8Array) });
    const proof = { k: HandshakeKind.proof, mac: expect.any(Uint8Array) };
    expect(seen.election).toEqual([helloOf('election'), proof, vote(1)]);
    expect(seen.quorum).toEqual([helloOf('quorum'), proof, { ...proposal(1), txn: Buffer.from(proposal(1).txn) }, commit(1)]);
    expect((seen.quorum![0] as { nonce: Uint8Array }).nonce.byteLength).toBe(32);
    expect(n1.net.connectedPeers()).toEqual([2]);
  });

  it('queues messages sent before the peer listens and delivers them once it starts', async () => {
    const peers = await addresses(2);
    const n1 = makeNode(1, peers);
    const n2 = makeNode(2, peers);
    await n1.net.start();
    for (let i = 1; i <= 20; i++) n1.net.send(2, proposal(i));
    n1.net.send(2, vote(1));
    const failedDial = /^debug link to peer 2 \(quorum\): dial .* failed/;
    await n1.rec.until(() => n1.rec.logCount(failedDial) >= 2, 'two failed dials to 2');
    expect(n1.net.connectedPeers()).toEqual([]);
    await n2.net.start();
    await n2.rec.until(() => n2.rec.messages.length === 21, '21 messages at 2');
    expect(n2.rec.from(1).filter((m) => m.k === PeerKind.proposal)).toEqual(
      Array.from({ length: 20 }, (_, i) => ({ ...proposal(i + 1), txn: Buffer.from(proposal(i + 1).txn) })),
    );
    expect(n2.rec.from(1).filter((m) => m.k === PeerKind.vote)).toEqual([vote(1)]);
    expect(n1.net.connectedPeers()).toEqual([2]);
    // Failed dials are not breaks, and were not logged above debug.
    expect(n1.rec.disconnects).toEqual([]);
    expect(n1.rec.logs.filter((l) => !l.startsWith('debug') && /dial/.test(l))).toEqual([]);
  });

  it('reports each break of a stopped peer exactly once, and works again after it restarts on the same ports', async () => {
    const peers = await addresses(3);
    const a = makeNode(1, peers);
    const b = makeNode(2, peers);
    await Promise.all([a.net.start(), b.net.start()]);

    for (let round = 1; round <= 2; round++) {
      const c = makeNode(3, peers);
      await c.net.start();
      // Warm up every link to and from 3, in both directions and on both channels.
      const from3 = (n: Node) => n.rec.from(3).length;
      const base = { a: from3(a), b: from3(b) };
      for (const x of [a, b]) {
        x.net.send(3, proposal(100 * round + x.id));
        x.net.send(3, vote(100 * round + x.id));
        c.net.send(x.id, proposal(200 * round + x.id));
        c.net.send(x.id, vote(200 * round + x.id));
      }
      await c.rec.until(() => c.rec.messages.length === (round === 1 ? 4 : 5), 'messages at 3');
      if (round === 2) {
        // The proposal queued while 3 was down came first, then this round's.
        expect(c.rec.from(1).filter((m) => m.k === PeerKind.proposal).map(tagOf)).toEqual(['proposal 1001', 'proposal 201']);
      }
      await a.rec.until(() => from3(a) === base.a + 2, 'messages from 3 at 1');
      await b.rec.until(() => from3(b) === base.b + 2, 'messages from 3 at 2');
      expect(a.net.connectedPeers()).toEqual([3]);

      const closedLinks = /^info link (to|from) peer 3 \((quorum|election)\) closed/;
      const logBase = { a: a.rec.logCount(closedLinks), b: b.rec.logCount(closedLinks) };
      await c.net.stop();
      for (const x of [a, b]) {
        const key = x === a ? 'a' : 'b';
        await x.rec.until(() => x.rec.logCount(closedLinks) === logBase[key] + 4, `all four links to 3 closed at ${x.id}`);
        expect(x.rec.disconnects).toEqual(Array.from({ length: round }, () => 3));
      }
      expect(a.net.connectedPeers()).toEqual([]);
      expect(c.rec.disconnects).toEqual([]);
      // Queued while 3 is down; delivered after the restart.
      a.net.send(3, proposal(1000 + round));
      const failed = /link to peer 3 \(quorum\): dial .* failed/;
      await a.rec.until(() => a.rec.logCount(failed) >= 2 * round, 'failed redials');
    }
    // The first redial failure after a working link is news (info); the rest are debug.
    expect(a.rec.logCount(/^info link to peer 3 \(quorum\): dial .* failed/)).toBe(2);
    expect(a.rec.disconnects.filter((p) => p !== 3)).toEqual([]);
    expect(b.rec.disconnects.filter((p) => p !== 3)).toEqual([]);
  });

  it('closes connections whose handshake is bad, delivering nothing, and keeps working', async () => {
    const peers = await addresses(2);
    const [n1, n2] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const e = peers[0]!.electionPort;
    const bad: [string, number, (Uint8Array | { raw: Uint8Array })[]][] = [
      ['garbage bytes', q, [Uint8Array.of(0xc1, 0xff, 0x00, 0x13)]],
      ['a msgpack number', q, [encode(42)]],
      ['an unknown kind', q, [encode({ k: 999, sid: 2 })]],
      ['a proposal before the hello', q, [encode(proposal(1))]],
      ['a vote before the hello', e, [encode(vote(1))]],
      ['a hello with our own id', q, [hello(1, 'quorum')]],
      ['a hello from an unknown id', q, [hello(99, 'quorum')]],
      ['a hello for the other channel', e, [hello(2, 'quorum')]],
      ['a hello with another protocol version', q, [hello(2, 'quorum', PROTOCOL_VERSION + 1)]],
      ['a hello without a nonce', q, [encode({ k: PeerKind.hello, sid: 2, channel: 'quorum', protocolVersion: PROTOCOL_VERSION })]],
      ['a hello with a short nonce', q, [encode({ k: PeerKind.hello, sid: 2, channel: 'quorum', protocolVersion: PROTOCOL_VERSION, nonce: randomBytes(8) })]],
      ['a proposal instead of the proof', q, [hello(2, 'quorum'), encode(proposal(1))]],
      ['a second hello instead of the proof', q, [hello(2, 'quorum'), hello(2, 'quorum')]],
      ['an empty proof', q, [hello(2, 'quorum'), encode({ k: HandshakeKind.proof, mac: new Uint8Array(0) })]],
      ['a proof of random bytes', q, [hello(2, 'quorum'), encode({ k: HandshakeKind.proof, mac: randomBytes(32) })]],
      ['a zero-length frame', q, [{ raw: Uint8Array.of(0, 0, 0, 0) }]],
    ];
    for (const [what, port, frames] of bad) await within(rawClose(port, frames), what);
    expect(n1.rec.messages).toEqual([]);
    expect(n1.rec.disconnects).toEqual([]);
    expect(n1.rec.logCount(/^warn inbound (quorum|election) connection from .*; closing$/)).toBe(bad.length);

    // An authenticated link, then a frame of the wrong channel: delivered up to there, then closed and reported.
    const raw = await authed(e, 2, 1, 'election');
    raw.send(vote(5));
    raw.send(proposal(5));
    raw.send(vote(6));
    await within(raw.closed, 'the link closed');
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the break reported');
    expect(n1.rec.messages).toEqual([{ from: 2, msg: vote(5) }]);
    expect(n1.rec.disconnects).toEqual([2]);

    // Real traffic both ways still flows.
    n2.net.send(1, proposal(9));
    n2.net.send(1, vote(9));
    n1.net.send(2, proposal(8));
    await n1.rec.until(() => n1.rec.messages.length === 3, 'messages from 2 at 1');
    await n2.rec.until(() => n2.rec.messages.length === 1, 'a message from 1 at 2');
    expect(n1.rec.from(2).slice(1).map(tagOf).sort()).toEqual(['proposal 9', 'vote 9']);
    expect(n2.rec.from(1).map(tagOf)).toEqual(['proposal 8']);
    expect(n1.rec.disconnects).toEqual([2]);
  });

  it('sends one turn of messages as batches and delivers them in exact order, large ones alone', async () => {
    const peers = await addresses(2);
    const [n1, n2] = (await startNodes(peers)) as [Node, Node];
    n1.net.send(2, commit(0));
    await n2.rec.until(() => n2.rec.messages.length === 1, 'the link open');
    const big = (n: number): ProposalMsg => ({ k: PeerKind.proposal, zxid: (7n << 32n) + BigInt(n), txn: new Uint8Array(300 * 1024).fill(n & 0xff) });
    const sent: PeerMessage[] = [];
    for (let i = 1; i <= 9000; i++) sent.push(i % 1000 === 0 ? big(i) : i % 3 === 0 ? commit(i) : proposal(i));
    for (const m of sent) n1.net.send(2, m);
    await n2.rec.until(() => n2.rec.messages.length === 1 + sent.length, 'all messages at 2');
    expect(n2.rec.from(1).slice(1)).toEqual(sent.map(wire));
    expect(n2.rec.disconnects).toEqual([]);
    expect(n1.rec.disconnects).toEqual([]);
  });

  it('delivers a raw batch in order, and closes a link whose batch holds a bad message without delivering any of it', async () => {
    const peers = await addresses(2);
    const [n1] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const raw = await authed(q, 2, 1, 'quorum');
    raw.sendEncoded(encodeBatch([encode(proposal(1)), encode(commit(1)), encode(proposal(2))]));
    raw.send(commit(2));
    await n1.rec.until(() => n1.rec.messages.length === 4, '4 messages');
    expect(n1.rec.from(2)).toEqual([proposal(1), commit(1), proposal(2), commit(2)].map(wire));
    raw.sendEncoded(encodeBatch([encode(proposal(3)), encode(vote(3))]));
    await within(raw.closed, 'the link closed');
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the break reported');
    expect(n1.rec.messages.length).toBe(4);

    const bad: [string, Uint8Array][] = [
      ['a hello inside a batch', encodeBatch([encode(commit(1)), hello(2, 'quorum')])],
      ['a number inside a batch', encodeBatch([encode(commit(1)), encode(7)])],
      ['a batch inside a batch', encodeBatch([encodeBatch([encode(commit(1))])])],
      ['an empty batch', encodeBatch([])],
      ['msgs not an array', encode({ k: PeerKind.batch, msgs: 3 })],
      ['a second hello', hello(2, 'quorum')],
      ['a text-like garbage frame', Uint8Array.of(0xc1)],
    ];
    for (const [what, frame] of bad) {
      const evil = await authed(q, 2, 1, 'quorum');
      evil.sendEncoded(frame);
      await within(evil.closed, what);
    }
    await within(rawClose(q, [encodeBatch([hello(2, 'quorum')])]), 'a batch as the first frame');
    expect(n1.rec.messages.length).toBe(4);
  });

  it('replaces an older inbound link from the same peer and channel only with a newer authenticated one', async () => {
    const peers = await addresses(2);
    const [n1] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const older = await authed(q, 2, 1, 'quorum');
    older.send(proposal(1));
    await n1.rec.until(() => n1.rec.messages.length === 1, 'the first proposal');

    // Connections claiming to be 2 that do not authenticate leave the link alone.
    const forged = await EvilPeer.connect({ port: q });
    cleanups.push(() => forged.close());
    await within(forged.handshake({ sid: 2, acceptorSid: 1, channel: 'quorum', secret: new Uint8Array(randomBytes(32)) }), 'a forged handshake');
    await within(forged.closed, 'the forged connection closed');
    const helloOnly = await EvilPeer.connect({ port: q });
    cleanups.push(() => helloOnly.close());
    helloOnly.hello(2, 'quorum');
    await helloOnly.nextFrame();
    older.send(proposal(2));
    await n1.rec.until(() => n1.rec.messages.length === 2, 'the second proposal on the older link');
    expect(older.isClosed).toBe(false);
    expect(n1.rec.disconnects).toEqual([]);

    const newer = await authed(q, 2, 1, 'quorum');
    await within(older.closed, 'the older link replaced');
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the replacement reported as a break');
    expect(n1.rec.disconnects).toEqual([2]);
    newer.send(proposal(3));
    await n1.rec.until(() => n1.rec.messages.length === 3, 'the third proposal');
    expect(n1.rec.messages.map((m) => `${m.from} ${tagOf(m.msg)}`)).toEqual(['2 proposal 1', '2 proposal 2', '2 proposal 3']);
    expect(newer.isClosed).toBe(false);
    expect(n1.rec.logCount(/^warn .*failed to prove it holds the shared secret; closing$/)).toBe(1);
  });

  it('carries an 8 MiB snapshot chunk intact, and closes a link that sends a frame above the limit', async () => {
    const peers = await addresses(3);
    const n1 = makeNode(1, peers);
    const n2 = makeNode(2, peers);
    const n3 = makeNode(3, peers, { maxFrameBytes: 1024 * 1024 }); // a small frame limit
    await Promise.all([n1.net.start(), n2.net.start(), n3.net.start()]);
    const snap: SnapMsg = {
      k: PeerKind.snap,
      zxid: (9n << 32n) + 0xfffffffen,
      index: 0,
      last: true,
      chunk: new Uint8Array(randomBytes(8 * 1024 * 1024)),
    };
    n1.net.send(2, snap);
    n1.net.send(2, proposal(1));
    await n2.rec.until(() => n2.rec.messages.length === 2, 'snap and proposal at 2');
    const got = n2.rec.messages[0]!.msg as SnapMsg;
    expect(got.k).toBe(PeerKind.snap);
    expect(got.zxid).toBe(snap.zxid);
    expect(got.index).toBe(0);
    expect(got.last).toBe(true);
    expect(Buffer.compare(got.chunk, snap.chunk)).toBe(0);
    expect(tagOf(n2.rec.messages[1]!.msg)).toBe('proposal 1');

    // 3 only takes 1 MiB frames: the snapshot closes the link, both sides hear of it once.
    n1.net.send(3, proposal(1));
    n1.net.send(3, { ...snap, chunk: snap.chunk.subarray(0, 2 * 1024 * 1024) });
    await n3.rec.until(() => n3.rec.disconnects.length === 1, 'the break at 3');
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the break at 1');
    expect(n3.rec.disconnects).toEqual([1]);
    expect(n1.rec.disconnects).toEqual([3]);
    expect(n3.rec.messages.map((m) => tagOf(m.msg))).toEqual(['proposal 1']);
    n1.net.send(3, proposal(2));
    await n3.rec.until(() => n3.rec.messages.length === 2, 'the next proposal over a new link');
    expect(n3.rec.messages.map((m) => tagOf(m.msg))).toEqual(['proposal 1', 'proposal 2']);
  });

  it('drops an overflowing queue and reports it once; sends to itself or unknown ids are no-ops', async () => {
    const peers = await addresses(2); // 2 never starts
    const n1 = makeNode(1, peers);
    await n1.net.start();
    expect(() => n1.net.send(1, proposal(1))).not.toThrow();
    expect(() => n1.net.send(42, proposal(1))).not.toThrow();
    for (let i = 0; i < MAX_QUEUED_MSGS; i++) n1.net.send(2, commit(i));
    expect(n1.rec.disconnects).toEqual([]);
    n1.net.send(2, commit(MAX_QUEUED_MSGS));
    n1.net.send(2, commit(MAX_QUEUED_MSGS + 1)); // discarded until the break is reported
    expect(n1.rec.disconnects).toEqual([]); // reported outside send()
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the overflow reported');
    expect(n1.rec.disconnects).toEqual([2]);
    expect(n1.rec.messages).toEqual([]);
    expect(n1.rec.logCount(/^warn link to peer 2 \(quorum\): 10000 messages .* queued while connecting/)).toBe(1);
    expect(n1.rec.logCount(/not sending kind 19 to self/)).toBe(1);
    expect(n1.rec.logCount(/not sending kind 19 to unknown server 42/)).toBe(1);
  });

  it('stop() resolves, frees the ports, and no callbacks happen after it', async () => {
    const peers = await addresses(2);
    const [n1, n2] = (await startNodes(peers)) as [Node, Node];
    n2.net.send(1, vote(1));
    n1.net.send(2, vote(1));
    await n1.rec.until(() => n1.rec.messages.length === 1, 'warm-up at 1');
    await n2.rec.until(() => n2.rec.messages.length === 1, 'warm-up at 2');

    // Stop 1 from inside its own message handler, mid-stream.
    let stopping: Promise<void> | null = null;
    let seenAtStop = -1;
    const onMessage = n1.rec.onMessage.bind(n1.rec);
    n1.rec.onMessage = (from, msg) => {
      if (stopping) n1.rec.lateCallbacks++;
      onMessage(from, msg);
      if (n1.rec.messages.length === 50) {
        seenAtStop = n1.rec.messages.length;
        stopping = n1.net.stop();
      }
    };
    for (let i = 1; i <= 2000; i++) n2.net.send(1, proposal(i));
    await n1.rec.until(() => n1.rec.messages.length >= 50, 'the 50th message');
    expect(stopping).not.toBeNull(); // set right after the 50th was recorded, in the same handler
    await stopping;
    n1.rec.forbidCallbacks = true;
    expect(n1.rec.messages.length).toBe(seenAtStop);

    // 2 notices, keeps sending, and fails to redial; 1 hears nothing of it.
    await n2.rec.until(() => n2.rec.disconnects.length === 1, 'the break at 2');
    const closedLinks = /^info link (to|from) peer 1 \((quorum|election)\) closed/;
    await n2.rec.until(() => n2.rec.logCount(closedLinks) === 3, 'all three links to 1 closed at 2');
    n2.net.send(1, proposal(3000));
    n2.net.send(1, vote(3000));
    await n2.rec.until(() => n2.rec.logCount(/link to peer 1 \(quorum\): dial .* failed/) >= 2, 'failed redials from 2');
    n1.net.send(2, proposal(1)); // a no-op after stop
    await n1.net.stop(); // idempotent
    expect(n1.rec.lateCallbacks).toBe(0);
    expect(n1.rec.disconnects).toEqual([]);
    expect(n2.rec.disconnects).toEqual([1]);

    // Both ports are free again.
    for (const port of [peers[0]!.quorumPort, peers[0]!.electionPort]) {
      const s = createNetServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });
});
