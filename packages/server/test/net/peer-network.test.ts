import { randomBytes } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  decode,
  encode,
  encodeBatch,
  PeerKind,
  PROTOCOL_VERSION,
  type CommitMsg,
  type PeerMessage,
  type ProposalMsg,
  type SnapMsg,
  type VoteMsg,
} from '@zabkit/protocol';
import { MAX_QUEUED_MSGS, PeerNetwork, type PeerAddress } from '../../src/net/peer-network.js';
import { clientFrames } from '../../../../test/support/ws-frames.js';
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

function makeNode(
  id: number,
  peers: PeerAddress[],
  maxFrameBytes = 64 * 1024 * 1024,
  validate?: (from: number, msg: PeerMessage) => string | null,
): Node {
  const rec = new Recorder();
  const net = new PeerNetwork({
    myId: id,
    peers,
    logger: rec.logger,
    maxFrameBytes,
    ...(validate ? { validate } : {}),
    onMessage: (from, msg) => rec.onMessage(from, msg),
    onDisconnect: (peer) => rec.onDisconnect(peer),
    reconnect: { minMs: 10, maxMs: 200 },
  });
  cleanups.push(() => net.stop());
  return { id, net, rec };
}

async function startNodes(peers: PeerAddress[], maxFrameBytes?: number): Promise<Node[]> {
  const nodes = peers.map((p) => makeNode(p.id, peers, maxFrameBytes));
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

/** Opens a raw WebSocket, sends `frames` in order, resolves with the close code the server chose. */
function rawClose(port: number, frames: (Uint8Array | string)[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('the server did not close the raw connection'));
    }, WAIT_MS);
    ws.on('open', () => {
      for (const f of frames) ws.send(f, { binary: typeof f !== 'string' });
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function rawOpen(port: number): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    cleanups.push(async () => {
      ws.terminate();
    });
  });
}

const closed = (ws: WebSocket): Promise<number> =>
  ws.readyState === WebSocket.CLOSED ? Promise.resolve(-1) : new Promise((resolve) => ws.once('close', (code) => resolve(code)));

const hello = (sid: number, channel: 'quorum' | 'election', protocolVersion = PROTOCOL_VERSION) =>
  encode({ k: PeerKind.hello, sid, channel, protocolVersion });

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

  it('sends votes on the election port and everything else on the quorum port, each after a hello', async () => {
    const peers = await addresses(2);
    const fake = peers[1]!;
    const seen: Record<string, unknown[]> = { quorum: [], election: [] };
    const extensions: (string | undefined)[] = [];
    const wireBytes: Buffer[][] = [];
    let frames = 0;
    let onFrame = (): void => {};
    for (const channel of ['quorum', 'election'] as const) {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: channel === 'quorum' ? fake.quorumPort : fake.electionPort });
      await new Promise<void>((resolve) => wss.once('listening', resolve));
      wss.on('connection', (ws, req) => {
        extensions.push(req.headers['sec-websocket-extensions']);
        const bytes: Buffer[] = [];
        wireBytes.push(bytes);
        req.socket.on('data', (b: Buffer) => bytes.push(b));
        ws.on('message', (data) => {
          seen[channel]!.push(decode(data as Buffer));
          frames++;
          onFrame();
        });
      });
      cleanups.push(async () => {
        for (const c of wss.clients) c.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      });
    }
    const n1 = makeNode(1, peers);
    await n1.net.start();
    n1.net.send(2, proposal(1));
    n1.net.send(2, vote(1));
    n1.net.send(2, commit(1));
    await new Promise<void>((resolve) => {
      onFrame = () => frames === 5 && resolve();
      onFrame();
    });
    expect(seen.election).toEqual([{ k: PeerKind.hello, sid: 1, channel: 'election', protocolVersion: PROTOCOL_VERSION }, vote(1)]);
    expect(seen.quorum).toEqual([
      { k: PeerKind.hello, sid: 1, channel: 'quorum', protocolVersion: PROTOCOL_VERSION },
      { ...proposal(1), txn: Buffer.from(proposal(1).txn) },
      commit(1),
    ]);
    expect(extensions).toEqual([undefined, undefined]); // perMessageDeflate off
    // masked, as a client must, but with an all-zero key: ws then neither copies nor XORs a batch
    const onWire = wireBytes.flatMap((bytes) => clientFrames(Buffer.concat(bytes)));
    expect(onWire.length).toBeGreaterThanOrEqual(4);
    for (const f of onWire) expect([f.masked, f.maskKey]).toEqual([true, [0, 0, 0, 0]]);
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

  it('closes connections whose first frame is bad, and keeps working', async () => {
    const peers = await addresses(2);
    const [n1, n2] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const e = peers[0]!.electionPort;
    const bad: [string, number, (Uint8Array | string)[]][] = [
      ['garbage bytes', q, [Uint8Array.of(0xc1, 0xff, 0x00, 0x13)]],
      ['a text frame', q, ['hello']],
      ['a msgpack number', q, [encode(42)]],
      ['an unknown kind', q, [encode({ k: 999, sid: 2 })]],
      ['a proposal before the hello', q, [encode(proposal(1))]],
      ['a hello with our own id', q, [hello(1, 'quorum')]],
      ['a hello from an unknown id', q, [hello(99, 'quorum')]],
      ['a hello for the other channel', e, [hello(2, 'quorum')]],
      ['a hello with another protocol version', q, [hello(2, 'quorum', PROTOCOL_VERSION + 1)]],
    ];
    for (const [what, port, frames] of bad) {
      const code = await rawClose(port, frames);
      expect([1003, 1007, 1008], what).toContain(code);
    }
    expect(n1.rec.messages).toEqual([]);
    expect(n1.rec.disconnects).toEqual([]);
    expect(n1.rec.logCount(/^warn inbound (quorum|election) connection from .*; closing$/)).toBe(bad.length);

    // A valid hello, then a frame of the wrong channel: delivered up to there, then closed and reported.
    const raw = await rawOpen(e);
    raw.send(hello(2, 'election'));
    raw.send(encode(vote(5)));
    raw.send(encode(proposal(5)));
    raw.send(encode(vote(6)));
    expect(await closed(raw)).toBe(1008);
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
    const raw = await rawOpen(q);
    raw.send(hello(2, 'quorum'));
    raw.send(encodeBatch([encode(proposal(1)), encode(commit(1)), encode(proposal(2))]));
    raw.send(encode(commit(2)));
    await n1.rec.until(() => n1.rec.messages.length === 4, '4 messages');
    expect(n1.rec.from(2)).toEqual([proposal(1), commit(1), proposal(2), commit(2)].map(wire));
    raw.send(encodeBatch([encode(proposal(3)), encode(vote(3))]));
    expect(await closed(raw)).toBe(1008);
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the break reported');
    expect(n1.rec.messages.length).toBe(4);

    const bad: [string, (Uint8Array | string)[], number][] = [
      ['a batch as the first frame', [encodeBatch([hello(2, 'quorum')])], 1008],
      ['a hello inside a batch', [hello(2, 'quorum'), encodeBatch([encode(commit(1)), hello(2, 'quorum')])], 1008],
      ['a number inside a batch', [hello(2, 'quorum'), encodeBatch([encode(commit(1)), encode(7)])], 1007],
      ['a batch inside a batch', [hello(2, 'quorum'), encodeBatch([encodeBatch([encode(commit(1))])])], 1008],
      ['an empty batch', [hello(2, 'quorum'), encodeBatch([])], 1007],
      ['msgs not an array', [hello(2, 'quorum'), encode({ k: PeerKind.batch, msgs: 3 })], 1007],
    ];
    for (const [what, frames, code] of bad) expect(await rawClose(q, frames), what).toBe(code);
    expect(n1.rec.messages.length).toBe(4);
  });

  it('runs the validate hook on every message, a whole batch before any of it is delivered; a refusal closes the link', async () => {
    const peers = await addresses(2);
    const seen: string[] = [];
    const n1 = makeNode(1, peers, undefined, (from, msg) => {
      seen.push(`${from}:${tagOf(msg)}`);
      return msg.k === PeerKind.commit && typeof msg.zxid !== 'bigint' ? 'zxid must be a bigint' : null;
    });
    await n1.net.start();
    const q = peers[0]!.quorumPort;
    const raw = await rawOpen(q);
    raw.send(hello(2, 'quorum'));
    raw.send(encode(proposal(1)));
    await n1.rec.until(() => n1.rec.messages.length === 1, 'the valid message');
    raw.send(encodeBatch([encode(proposal(2)), encode({ k: PeerKind.commit, zxid: 5 }), encode(proposal(3))]));
    expect(await closed(raw)).toBe(1008);
    await n1.rec.until(() => n1.rec.disconnects.length === 1, 'the break reported');
    // proposal 2 came before the bad commit in the batch, and still was not delivered
    expect(n1.rec.messages.map((m) => tagOf(m.msg))).toEqual(['proposal 1']);
    expect(seen).toEqual(['2:proposal 1', '2:proposal 2', '2:kind 20']);
    expect(n1.rec.logCount(/warn link from peer 2 \(quorum\): invalid message: zxid must be a bigint; closing/)).toBe(1);
  });

  it('replaces an older inbound connection from the same peer and channel', async () => {
    const peers = await addresses(2);
    const [n1] = (await startNodes(peers)) as [Node, Node];
    const q = peers[0]!.quorumPort;
    const older = await rawOpen(q);
    older.send(hello(2, 'quorum'));
    older.send(encode(proposal(1)));
    await n1.rec.until(() => n1.rec.messages.length === 1, 'the first proposal');
    const newer = await rawOpen(q);
    newer.send(hello(2, 'quorum'));
    expect(await closed(older)).toBe(1000);
    expect(n1.rec.disconnects).toEqual([2]);
    newer.send(encode(proposal(2)));
    await n1.rec.until(() => n1.rec.messages.length === 2, 'the second proposal');
    expect(n1.rec.messages.map((m) => `${m.from} ${tagOf(m.msg)}`)).toEqual(['2 proposal 1', '2 proposal 2']);
    expect(newer.readyState).toBe(WebSocket.OPEN);
  });

  it('carries an 8 MiB snapshot chunk intact, and closes a link that sends a frame above the limit', async () => {
    const peers = await addresses(3);
    const n1 = makeNode(1, peers);
    const n2 = makeNode(2, peers);
    const n3 = makeNode(3, peers, 1024 * 1024); // a small frame limit
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
