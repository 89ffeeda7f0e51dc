// Shared by the PeerNetwork test files: in-process networks on 127.0.0.1, fakes and raw-socket helpers.
import { randomBytes } from 'node:crypto';

import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';

import { decode, encode, HandshakeKind, PeerKind, PROTOCOL_VERSION, type CommitMsg, type PeerMessage, type ProposalMsg, type VoteMsg } from '@zabkit/protocol';
import { PeerNetwork, type PeerAddress, type PeerAuth } from '../../src/net/peer-network.js';
import { EvilPeer, frameOf, mac } from '../../../../test/support/evil-peer.js';

import type { Logger } from '../../src/runtime/logger.js';

export const WAIT_MS = 10_000;

/** Records what a network reports and lets a test await a condition on it (checked on every event). */
export class Recorder {
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

export const cleanups: (() => Promise<void>)[] = [];

export async function freePorts(n: number): Promise<number[]> {
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

export async function addresses(n: number): Promise<PeerAddress[]> {
  const ports = await freePorts(2 * n);
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    host: '127.0.0.1',
    quorumPort: ports[2 * i]!,
    electionPort: ports[2 * i + 1]!,
  }));
}

export interface Node {
  id: number;
  net: PeerNetwork;
  rec: Recorder;
}

/** The cluster secret the tests' networks share (unless a test gives one its own). */
export const SECRET = new Uint8Array(randomBytes(32));
export const withSecret: PeerAuth = { secret: SECRET, tls: null };

export interface NodeOptions {
  maxFrameBytes?: number;
  auth?: PeerAuth;
  validate?: (from: number, msg: PeerMessage) => string | null;
}

export function makeNode(id: number, peers: PeerAddress[], o: NodeOptions = {}): Node {
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

export async function startNodes(peers: PeerAddress[], o: NodeOptions = {}): Promise<Node[]> {
  const nodes = peers.map((p) => makeNode(p.id, peers, o));
  await Promise.all(nodes.map((n) => n.net.start()));
  return nodes;
}

export const proposal = (n: number): ProposalMsg => ({
  k: PeerKind.proposal,
  zxid: (7n << 32n) + BigInt(n),
  txn: Uint8Array.of(n & 0xff, (n >> 8) & 0xff, 0xab),
});
export const vote = (n: number): VoteMsg => ({
  k: PeerKind.vote,
  leader: n,
  zxid: (3n << 32n) + 5n,
  peerEpoch: 3,
  electionEpoch: n,
  state: 'LOOKING',
});
export const commit = (n: number): CommitMsg => ({ k: PeerKind.commit, zxid: (7n << 32n) + BigInt(n) });
export const tagOf = (m: PeerMessage): string =>
  m.k === PeerKind.vote ? `vote ${m.electionEpoch}` : m.k === PeerKind.proposal ? `proposal ${m.zxid & 0xffffffffn}` : `kind ${m.k}`;

/** A message as it arrives (bytes come back as Buffers). */
export const wire = (m: PeerMessage): PeerMessage => (m.k === PeerKind.proposal ? { ...m, txn: Buffer.from(m.txn) } : m);

/** Dials `port`, sends `frames` (each framed; raw Buffers as they are) in order, resolves once the server closed it. */
export async function rawClose(port: number, frames: (Uint8Array | { raw: Uint8Array })[]): Promise<void> {
  const evil = await EvilPeer.connect({ port });
  cleanups.push(() => evil.close());
  for (const f of frames) if ('raw' in f) evil.sendRaw(f.raw); else evil.sendEncoded(f);
  await within(evil.closed, 'the server to close the connection');
}

/** An evil peer that completed the handshake with `acceptor` as `sid` (with the shared secret unless given another). */
export async function authed(port: number, sid: number, acceptor: number, channel: 'quorum' | 'election', secret: Uint8Array | null = SECRET): Promise<EvilPeer> {
  const evil = await EvilPeer.connect({ port });
  cleanups.push(() => evil.close());
  await evil.handshake({ sid, acceptorSid: acceptor, channel, secret });
  return evil;
}

/** For state with no event to wait on (connection counts): polls every 10 ms until `check`, up to WAIT_MS. */
export async function poll(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

export const hello = (sid: number, channel: 'quorum' | 'election', protocolVersion = PROTOCOL_VERSION) =>
  encode({ k: PeerKind.hello, sid, channel, protocolVersion, nonce: randomBytes(32) });

/** A peer port that answers one handshake per connection as `sid` and records every frame after the hello. */
export class FakeAcceptor {
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

/** Runs what the tests registered in `cleanups` (each test file calls it from afterEach). */
export async function runCleanups(): Promise<void> {
  await Promise.all(cleanups.splice(0).map((c) => c()));
}
