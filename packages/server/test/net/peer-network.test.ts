import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  encodeBatch,
  HandshakeKind,
  PeerKind,
  PROTOCOL_VERSION,
  type CommitMsg,
  type PeerMessage,
  type ProposalMsg,
  type SnapMsg,
  type VoteMsg,
} from '@zabkit/protocol';
import { MAX_QUEUED_MSGS, PeerNetwork, type PeerAddress, type PeerAuth } from '../../src/net/peer-network.js';
import { EvilPeer, frameOf, mac } from '../../../../test/support/evil-peer.js';
import { makeCa, makeCert } from '../../../../test/support/certs.js';
import type { Logger } from '../../src/runtime/logger.js';

const WAIT_MS = 10_000;

/** Records what a network reports and lets a test await a condition on it (checked on every event). */
class Recorder {
  readonly messages: { from: number; msg: PeerMessage }[] = [];
  readonly disconnects: number[] = [];
  readonly logs: string[] = [];
  /** Set to make any further callback a test failure. */
  forbidCallbacks = false;
  lateCallbacks = 0;
  private waiters: { check: () => boolean; done: () => void }[] = [];

  readonly logger: Logger = {
    debug: (m) => this.log('debug', m),
    info: (m) => this.log('info', m),
    warn: (m) => this.log('warn', m),
    error: (m) => this.log('error', m),
  };

  onMessage(from: number, msg: PeerMessage): void {
    if (this.forbidCallbacks) this.lateCallbacks++;
    this.messages.push({ from, msg });
    this.notify();
  }

  onDisconnect(peer: number): void {
    if (this.forbidCallbacks) this.lateCallbacks++;
    this.disconnects.push(peer);
    this.notify();
  }

  from(peer: number): PeerMessage[] {
    return this.messages.filter((m) => m.from === peer).map((m) => m.msg);
  }

  logCount(re: RegExp): number {
    return this.logs.filter((l) => re.test(l)).length;
  }

  until(check: () => boolean, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = {
        check,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`));
      }, WAIT_MS);
      this.waiters.push(w);
    });
  }

  private log(level: string, msg: string): void {
    this.logs.push(`${level} ${msg}`);
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.done();
      }
    }
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<NetServer>((resolve, reject) => {
          const s = createNetServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

async function addresses(n: number): Promise<PeerAddress[]> {
  const ports = await freePorts(2 * n);
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    host: '127.0.0.1',
    quorumPort: ports[2 * i]!,
    electionPort: ports[2 * i + 1]!,
  }));
}

interface Node {
  id: number;
  net: PeerNetwork;
  rec: Recorder;
}

/** The cluster secret the tests' networks share (unless a test gives one its own). */
export const SECRET = new Uint8Array(randomBytes(32));
const withSecret: PeerAuth = { secret: SECRET, tls: null };

interface NodeOptions {
  maxFrameBytes?: number;
  auth?: PeerAuth;
  validate?: (from: number, msg: PeerMessage) => string | null;
}

function makeNode(id: number, peers: PeerAddress[], o: NodeOptions = {}): Node {
  const rec = new Recorder();
  const net = new PeerNetwork({
    myId: id,
    peers,
    auth: o.auth ?? withSecret,
    ...(o.validate ? { validate: o.validate } : {}),
    logger: rec.logger,
    maxFrameBytes: o.maxFrameBytes ?? 64 * 1024 * 1024,
    onMessage: (from, msg) => rec.onMessage(from, msg),
    onDisconnect: (peer) => rec.onDisconnect(peer),
    reconnect: { minMs: 10, maxMs: 200 },
  });
  cleanups.push(() => net.stop());
  return { id, net, rec };
}

async function startNodes(peers: PeerAddress[], o: NodeOptions = {}): Promise<Node[]> {
  const nodes = peers.map((p) => makeNode(p.id, peers, o));
  await Promise.all(nodes.map((n) => n.net.start()));
  return nodes;
}

const proposal = (n: number): ProposalMsg => ({
  k: PeerKind.proposal,
  zxid: (7n << 32n) + BigInt(n),
  txn: Uint8Array.of(n & 0xff, (n >> 8) & 0xff, 0xab),
});
const vote = (n: number): VoteMsg => ({
  k: PeerKind.vote,
  leader: n,
  zxid: (3n << 32n) + 5n,
  peerEpoch: 3,
  electionEpoch: n,
  state: 'LOOKING',
});
const commit = (n: number): CommitMsg => ({ k: PeerKind.commit, zxid: (7n << 32n) + BigInt(n) });
const tagOf = (m: PeerMessage): string =>
  m.k === PeerKind.vote ? `vote ${m.electionEpoch}` : m.k === PeerKind.proposal ? `proposal ${m.zxid & 0xffffffffn}` : `kind ${m.k}`;

/** A message as it arrives (bytes come back as Buffers). */
const wire = (m: PeerMessage): PeerMessage => (m.k === PeerKind.proposal ? { ...m, txn: Buffer.from(m.txn) } : m);

/** Dials `port`, sends `frames` (each framed; raw Buffers as they are) in order, resolves once the server closed it. */
async function rawClose(port: number, frames: (Uint8Array | { raw: Uint8Array })[]): Promise<void> {
  const evil = await EvilPeer.connect({ port });
  cleanups.push(() => evil.close());
  for (const f of frames) if ('raw' in f) evil.sendRaw(f.raw); else evil.sendEncoded(f);
  await within(evil.closed, 'the server to close the connection');
}

/** An evil peer that completed the handshake with `acceptor` as `sid` (with the shared secret unless given another). */
async function authed(port: number, sid: number, acceptor: number, channel: 'quorum' | 'election', secret: Uint8Array | null = SECRET): Promise<EvilPeer> {
  const evil = await EvilPeer.connect({ port });
  cleanups.push(() => evil.close());
  await evil.handshake({ sid, acceptorSid: acceptor, channel, secret });
  return evil;
}

/** For state with no event to wait on (connection counts): polls every 10 ms until `check`, up to WAIT_MS. */
async function poll(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

const hello = (sid: number, channel: 'quorum' | 'election', protocolVersion = PROTOCOL_VERSION) =>
  encode({ k: PeerKind.hello, sid, channel, protocolVersion, nonce: randomBytes(32) });


/** A peer port that answers one handshake per connection as `sid` and records every frame after the hello. */
class FakeAcceptor {
  onFrame: (frame: unknown) => void = () => {};
  private constructor(private readonly server: NetServer) {}

  static async listen(port: number, o: { sid: number; channel: 'quorum' | 'election'; secret: Uint8Array | null; macSecret?: Uint8Array | null }): Promise<FakeAcceptor> {
    const server = createNetServer();
    const fake = new FakeAcceptor(server);
    const sockets = new Set<import('node:net').Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.byteLength >= 4 && buf.byteLength >= 4 + buf.readUInt32BE(0)) {
          const frame = decode(buf.subarray(4, 4 + buf.readUInt32BE(0))) as { k: number; sid: number; nonce: Uint8Array };
          buf = buf.subarray(4 + buf.readUInt32BE(0));
          if (frame.k === PeerKind.hello) {
            const nonce = randomBytes(32);
            const fields = { direction: 'acceptor', channel: o.channel, dialerSid: frame.sid, acceptorSid: o.sid, dialerNonce: frame.nonce, acceptorNonce: nonce } as const;
            socket.write(frameOf(encode({ k: HandshakeKind.challenge, sid: o.sid, nonce, mac: mac(o.macSecret === undefined ? o.secret : o.macSecret, fields) })));
          }
          fake.onFrame(frame);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return fake;
  }
}

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
