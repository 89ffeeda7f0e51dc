// The standalone server end to end: real sockets, real files in a temp dir.
// Bad frames, connection limits, snapshots with purge, log corruption at startup,
// sessions across a restart and the status frame.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readdir, readFile, readlink, truncate, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { dirname, join } from 'node:path';
import WebSocket from 'ws';
import {
  FrameKind,
  OpCode,
  PROTOCOL_VERSION,
  decodeFrame,
  decodeFrames,
  packArray,
  encodeFrame,
  frameLimitFor,
  type ClientFrame,
  type ServerFrame,
  type Stat,
} from '@zabkit/protocol';
import { RequestTooLargeError, connect, getServerStatus, type ConnectOptions, type ZabClient } from '@zabkit/client';
import { startServer, type StartServerOptions } from '../../src/runtime/start-server.js';
import type { StartedServer } from '../../src/runtime/cluster-server.js';
import type { Logger } from '../../src/runtime/logger.js';
import { recoverLog } from '../../src/storage/segment-recovery.js';
import { afterTest, tempDir } from './helpers.js';

// ---- harness ------------------------------------------------------------------

async function start(dataDir: string, opts: Partial<StartServerOptions> = {}): Promise<StartedServer> {
  const server = await startServer({ dataDir, clientPort: 0, clientPortAddress: '127.0.0.1', logger: false, ...opts });
  afterTest(() => server.close());
  return server;
}

async function client(address: string, opts: ConnectOptions = {}): Promise<ZabClient> {
  const c = await connect(address, { retry: { retries: 2, minTimeout: 10, maxTimeout: 50 }, shuffle: false, ...opts });
  afterTest(() => c.close({ timeoutMs: 200 }));
  return c;
}

/** A connect frame asking for a new session. */
const CONNECT: ClientFrame = { k: FrameKind.connect, protocolVersion: PROTOCOL_VERSION, lastZxidSeen: 0n, timeoutMs: 10_000, sessionId: 0n, passwd: new Uint8Array(0) };

/** A bare WebSocket speaking (or abusing) the wire protocol. */
class Raw {
  readonly ws: WebSocket;
  /** Resolves with the close code and reason whenever the socket closes, from either side. */
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  private readonly queue: ServerFrame[] = [];
  private readonly waiters: { resolve(f: ServerFrame): void; reject(e: Error): void }[] = [];
  private xid = 0;

  constructor(port: number) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    this.ws.on('error', () => {}); // the close event reports the outcome
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed (${code}) while waiting for a frame`));
      });
    });
    this.opened = once(this.ws, 'open').then(() => undefined);
    this.ws.on('message', (data: Buffer) => {
      // one frame, or an array of them for a connection that offered frameArrays
      for (const frame of decodeFrames(new Uint8Array(data)) as ServerFrame[]) {
        const w = this.waiters.shift();
        if (w) w.resolve(frame);
        else this.queue.push(frame);
      }
    });
    afterTest(async () => {
      this.ws.terminate();
    });
  }

  static async open(port: number): Promise<Raw> {
    const raw = new Raw(port);
    await raw.opened;
    return raw;
  }

  send(frame: ClientFrame): void {
    this.ws.send(encodeFrame(frame), { binary: true });
  }

  next(): Promise<ServerFrame> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Starts a new session; resolves with the connected frame. */
  async handshake(): Promise<ServerFrame> {
    this.send(CONNECT);
    const f = await this.next();
    expect(f.k).toBe(FrameKind.connected);
    return f;
  }

  /** Sends one request and returns its response (requests here are answered in order). */
  async call(req: Extract<ClientFrame, { k: 4 }>['req']): Promise<Extract<ServerFrame, { k: 5 }>> {
    const xid = ++this.xid;
    this.send({ k: FrameKind.request, xid, req });
    const f = await this.next();
    if (f.k !== FrameKind.response) throw new Error(`expected a response, got frame kind ${f.k}`);
    expect(f.xid).toBe(xid);
    return f;
  }
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Every znode under (and including) `root`: data as text and the full Stat. */
async function dumpTree(c: ZabClient, root = '/'): Promise<Map<string, { data: string | null; stat: Stat; children: string[] }>> {
  const out = new Map<string, { data: string | null; stat: Stat; children: string[] }>();
  const visit = async (path: string): Promise<void> => {
    const [{ data, stat }, children] = await Promise.all([c.getString(path), c.getChildren(path)]);
    children.sort();
    out.set(path, { data, stat, children });
    await Promise.all(children.map((ch) => visit(path === '/' ? `/${ch}` : `${path}/${ch}`)));
  };
  await visit(root);
  return out;
}

/** The txn log segments, oldest first. The log lives in dataLogDir, which defaults to dataDir. */
async function logSegments(dataDir: string): Promise<string[]> {
  const names = (await readdir(dataDir)).filter((n) => /^log\.[0-9a-f]+$/.test(n)).sort();
  return names.map((n) => join(dataDir, n));
}

async function snapshotFiles(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'snap'))).filter((n) => n.startsWith('snapshot.')).sort();
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Resolves on the client's next `name` event. */
function nextEvent(c: ZabClient, name: 'suspended' | 'reconnected' | 'expired'): Promise<void> {
  return new Promise((resolve) => c.once(name, () => resolve()));
}

function capturingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
}

// ---- tests ----------------------------------------------------------------------

describe('bad frames', () => {
  it('garbage bytes close that connection with 1007; other clients keep working', async () => {
    const server = await start(await tempDir());
    const bystander = await client(server.connectString);
    await bystander.create('/before', 'x');

    const raw = await Raw.open(server.port);
    raw.ws.send(Buffer.from([0xc1, 0xff, 0x00, 0x13, 0x37]), { binary: true });
    expect((await raw.closed).code).toBe(1007);

    // A valid msgpack value that is not a frame is just as fatal.
    const raw2 = await Raw.open(server.port);
    raw2.ws.send(encodeFrame({ k: 99 } as unknown as ClientFrame), { binary: true });
    expect((await raw2.closed).code).toBe(1007);

    // So is a frame kind only a server sends.
    const raw3 = await Raw.open(server.port);
    raw3.ws.send(encodeFrame({ k: FrameKind.connected } as unknown as ClientFrame), { binary: true });
    expect((await raw3.closed).code).toBe(1002);

    expect(bystander.state).toBe('connected');
    await bystander.create('/after', 'y');
    expect((await bystander.getString('/after')).data).toBe('y');
    // and new connections are still accepted
    const late = await client(server.connectString);
    expect((await late.getString('/before')).data).toBe('x');
  });

  it('several requests in one message (an array) are answered in order for a client that offered frameArrays; without the offer an array closes the connection', async () => {
    const server = await start(await tempDir());
    const raw = await Raw.open(server.port);
    raw.send({ ...CONNECT, frameArrays: true });
    const connected = await raw.next();
    expect(connected.k === FrameKind.connected && connected.frameArrays).toBe(true);
    const reqs = [
      { op: OpCode.create, path: '/arr', data: text('a'), mode: 'persistent' },
      { op: OpCode.setData, path: '/arr', data: text('b'), version: -1 },
      { op: OpCode.getData, path: '/arr', watch: false },
    ] as const;
    raw.ws.send(packArray(reqs.map((req, i) => encodeFrame({ k: FrameKind.request, xid: i + 1, req } as ClientFrame))), { binary: true });
    const replies = [await raw.next(), await raw.next(), await raw.next()];
    expect(replies.map((r) => (r.k === FrameKind.response ? [r.xid, r.err ?? 'ok'] : r.k))).toEqual([[1, 'ok'], [2, 'ok'], [3, 'ok']]);
    const last = replies[2]!;
    expect(last.k === FrameKind.response && new TextDecoder().decode((last.body as { data: Uint8Array }).data)).toBe('b');

    const plain = await Raw.open(server.port);
    await plain.handshake();
    plain.ws.send(packArray([encodeFrame({ k: FrameKind.request, xid: 1, req: { op: OpCode.exists, path: '/arr', watch: false } } as ClientFrame)]), { binary: true });
    expect((await plain.closed).code).toBe(1007);
  });

  it('a text frame closes the connection', async () => {
    const server = await start(await tempDir());
    const raw = await Raw.open(server.port);
    await raw.handshake();
    raw.ws.send('{"k":4,"xid":1}');
    const { code } = await raw.closed;
    expect(code).toBe(1003);
    const c = await client(server.connectString);
    expect(await c.exists('/')).not.toBeNull();
  });

  it('a frame above frameLimitFor(maxDataBytes) closes the connection with 1009; the server still serves', async () => {
    const maxDataBytes = 1024;
    const server = await start(await tempDir(), { maxDataBytes });
    const bystander = await client(server.connectString);
    const raw = await Raw.open(server.port);
    await raw.handshake();
    raw.ws.send(Buffer.alloc(frameLimitFor(maxDataBytes) + 1, 0x90), { binary: true });
    expect((await raw.closed).code).toBe(1009);

    await bystander.create('/still', 'serving');
    const fresh = await client(server.connectString);
    expect((await fresh.getString('/still')).data).toBe('serving');
  });

  it('data over maxDataBytes in a frame under the limit gets RequestTooLarge and the connection stays usable', async () => {
    const maxDataBytes = 1024;
    const server = await start(await tempDir(), { maxDataBytes });
    const raw = await Raw.open(server.port);
    const connected = await raw.handshake();
    expect(connected.k === FrameKind.connected && connected.maxDataBytes).toBe(maxDataBytes);

    const big = new Uint8Array(maxDataBytes + 500);
    expect(encodeFrame({ k: FrameKind.request, xid: 1, req: { op: OpCode.create, path: '/big', data: big, mode: 'persistent' } }).length)
      .toBeLessThan(frameLimitFor(maxDataBytes));
    const tooLarge = await raw.call({ op: OpCode.create, path: '/big', data: big, mode: 'persistent' });
    expect(tooLarge.err).toBe('RequestTooLarge');

    // the same connection goes on: a write at the limit succeeds, the big one left nothing behind
    const ok = await raw.call({ op: OpCode.create, path: '/fits', data: new Uint8Array(maxDataBytes), mode: 'persistent' });
    expect(ok.err).toBeUndefined();
    const gone = await raw.call({ op: OpCode.exists, path: '/big', watch: false });
    expect(gone.err).toBeUndefined();
    expect(gone.body).toEqual({ stat: null });
    // setData and multi are measured the same way
    const set = await raw.call({ op: OpCode.setData, path: '/fits', data: big, version: -1 });
    expect(set.err).toBe('RequestTooLarge');
    const multi = await raw.call({
      op: OpCode.multi,
      ops: [
        { op: OpCode.create, path: '/m1', data: new Uint8Array(700), mode: 'persistent' },
        { op: OpCode.create, path: '/m2', data: new Uint8Array(700), mode: 'persistent' },
      ],
    });
    expect(multi.err).toBe('RequestTooLarge');
    const read = await raw.call({ op: OpCode.getData, path: '/fits', watch: false });
    expect(read.err).toBeUndefined();
    expect((read.body as { data: Uint8Array }).data.length).toBe(maxDataBytes);
    expect(raw.ws.readyState).toBe(WebSocket.OPEN);

    // the client learns the limit from the server and refuses locally, staying connected
    const c = await client(server.connectString);
    await expect(c.create('/big2', big)).rejects.toBeInstanceOf(RequestTooLargeError);
    expect(c.state).toBe('connected');
    expect(await c.exists('/fits')).not.toBeNull();
  });

  it('a request before the connect frame closes the connection; the server keeps serving', async () => {
    const server = await start(await tempDir());
    const raw = await Raw.open(server.port);
    raw.send({ k: FrameKind.request, xid: 1, req: { op: OpCode.create, path: '/sneaky', data: null, mode: 'persistent' } });
    await raw.closed;
    // no response was sent for it
    await expect(raw.next()).rejects.toThrow(/closed/);

    const c = await client(server.connectString);
    expect(await c.exists('/sneaky')).toBeNull();
    await c.create('/legit', null);
    expect(await c.getChildren('/')).toContain('legit');
  });
});

describe('connection limit', () => {
  it('maxClientCnxns: 2 refuses a third connection from 127.0.0.1 while the first two work', async () => {
    const server = await start(await tempDir(), { maxClientCnxns: 2 });
    const a = await client(server.connectString);
    const b = await client(server.connectString);

    // Refused at TCP accept (before any byte is parsed) with an HTTP 503 that says why.
    const third = new WebSocket(`ws://127.0.0.1:${server.port}`);
    const [, res] = (await once(third, 'unexpected-response')) as [unknown, { statusCode: number; on(e: 'data', f: (b: Buffer) => void): void }];
    expect(res.statusCode).toBe(503);
    let body = '';
    res.on('data', (b) => (body += b.toString()));
    await once(res as unknown as NodeJS.EventEmitter, 'end');
    expect(body).toMatch(/too many connections from 127\.0\.0\.1 \(maxClientCnxns=2\)/);
    await expect(connect(server.connectString, { retry: { retries: 0 }, connectTimeoutMs: 2_000 })).rejects.toThrow();

    await a.create('/a', 'from a');
    expect((await b.getString('/a')).data).toBe('from a');
    expect(server.status().connections).toBe(2);

    // a slot freed by a closing client is available again
    await b.close();
    const c = await client(server.connectString);
    expect((await c.getString('/a')).data).toBe('from a');
  });
});

describe('snapshots, purge and restart', () => {
  it('snapCount 50 / snapRetainCount 3: ~400 nodes survive restarts with data and Stat; at most 3 snapshots kept', async () => {
    const dir = await tempDir();
    let server = await start(dir, { snapCount: 50, snapRetainCount: 3 });
    let c = await client(server.connectString);

    await c.create('/s', 'root');
    const N = 400;
    const name = (i: number): string => `/s/n${String(i).padStart(3, '0')}`;
    for (let from = 0; from < N; from += 25) {
      await Promise.all(Array.from({ length: 25 }, (_, j) => c.create(name(from + j), `v${from + j}`)));
    }
    // some versions above 0, some deletions
    for (let i = 0; i < N; i += 5) {
      await c.setData(name(i), `v${i}-b`);
      if (i % 10 === 0) await c.setData(name(i), `v${i}-c`);
    }
    for (let i = 3; i < N; i += 50) await c.delete(name(i));

    const expectData = (i: number): string => (i % 10 === 0 ? `v${i}-c` : i % 5 === 0 ? `v${i}-b` : `v${i}`);
    const expectVersion = (i: number): number => (i % 10 === 0 ? 2 : i % 5 === 0 ? 1 : 0);
    const deleted = (i: number): boolean => i % 50 === 3;

    const before = await dumpTree(c);
    await c.close();
    await server.close();

    const snaps = await snapshotFiles(dir);
    expect(snaps.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(snaps.length).toBeGreaterThanOrEqual(1);
    expect(snaps.length).toBeLessThanOrEqual(3);

    server = await start(dir, { snapCount: 50, snapRetainCount: 3 });
    c = await client(server.connectString);
    const after = await dumpTree(c);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [path, node] of before) expect(after.get(path), path).toEqual(node);

    const children = after.get('/s')!.children;
    expect(children.length).toBe(N - N / 50);
    for (let i = 0; i < N; i++) {
      const node = after.get(name(i));
      if (deleted(i)) {
        expect(node, name(i)).toBeUndefined();
        continue;
      }
      expect(node?.data, name(i)).toBe(expectData(i));
      expect(node?.stat.version, name(i)).toBe(expectVersion(i));
      expect(node?.stat.dataLength).toBe(text(expectData(i)).length);
    }
    expect(after.get('/s')!.stat.cversion).toBe(N + N / 50); // creates + deletes

    // more writes on the recovered state, then a second restart shows the same tree again
    for (let i = 0; i < 120; i++) await c.setData('/s', `root-${i}`);
    const before2 = await dumpTree(c);
    expect(before2.get('/s')!.stat.version).toBe(120);
    await c.close();
    await server.close();
    const snaps2 = await snapshotFiles(dir);
    expect(snaps2.length).toBeGreaterThanOrEqual(1);
    expect(snaps2.length).toBeLessThanOrEqual(3);
    // the newest snapshot is newer than any from the first run
    expect(snaps2.at(-1)! > snaps.at(-1)!).toBe(true);

    server = await start(dir, { snapCount: 50, snapRetainCount: 3 });
    c = await client(server.connectString);
    const after2 = await dumpTree(c);
    expect(after2).toEqual(before2);
  });
});

describe('txn log damage at startup', () => {
  /** Writes /c/n0 .. /c/n{count-1} one at a time, then stops the server with the client still attached. */
  async function populate(dir: string, count: number): Promise<void> {
    const server = await start(dir);
    const c = await client(server.connectString);
    await c.create('/c', null);
    for (let i = 0; i < count; i++) await c.create(`/c/n${i}`, `data-${i}`);
    await server.close(); // no closeSession: the last record in the log is the last create
    await c.close({ timeoutMs: 100 });
  }

  it('a flipped byte mid-segment refuses to start with a CorruptLogError naming the file, and leaves it as it was', async () => {
    const dir = await tempDir();
    await populate(dir, 30);
    const segments = await logSegments(dir);
    expect(segments.length).toBeGreaterThanOrEqual(1);
    const first = segments[0]!;
    const original = await readFile(first);
    const damaged = Buffer.from(original);
    // mid-records: the file goes on past them with preallocated zero fill
    const end = (await recoverLog(dirname(first), 0n)).segments[0]!.size;
    const at = Math.floor(end / 2);
    damaged[at] = damaged[at]! ^ 0xff;
    await writeFile(first, damaged);

    const failed = startServer({ dataDir: dir, clientPort: 0, clientPortAddress: '127.0.0.1', logger: false });
    failed.then((s) => afterTest(() => s.close()), () => {});
    await expect(failed).rejects.toMatchObject({ name: 'CorruptLogError', file: first });
    await expect(failed).rejects.toThrow(first);
    // refusing must not "repair" the log by cutting it
    expect(Buffer.compare(await readFile(first), damaged)).toBe(0);

    // with the byte restored everything is there
    await writeFile(first, original);
    const server = await start(dir);
    const c = await client(server.connectString);
    expect((await c.getChildren('/c')).length).toBe(30);
    expect((await c.getString('/c/n15')).data).toBe('data-15');
  });

  it('a torn tail is cut: the server starts and every node but the torn last one is present', async () => {
    const dir = await tempDir();
    await populate(dir, 20);
    const last = (await logSegments(dir)).at(-1)!;
    // the file is preallocated (zero fill after the records): cut 3 bytes off the last record itself
    const end = (await recoverLog(dirname(last), 0n)).segments.at(-1)!.size;
    await truncate(last, end - 3);

    const logger = capturingLogger();
    const server = await start(dir, { logger });
    expect(logger.warnings.some((w) => w.includes('torn tail') && w.includes(last))).toBe(true);
    const c = await client(server.connectString);
    for (let i = 0; i < 19; i++) expect((await c.getString(`/c/n${i}`)).data).toBe(`data-${i}`);
    expect(await c.exists('/c/n19')).toBeNull();
    // the log is writable again after the cut, and the new write survives a restart
    await c.create('/c/n19', 'again');
    await c.close();
    await server.close();
    const server2 = await start(dir);
    const c2 = await client(server2.connectString);
    expect((await c2.getString('/c/n19')).data).toBe('again');
    expect((await c2.getChildren('/c')).length).toBe(20);
  });
});

describe('sessions across a restart', () => {
  it('a clean server restart keeps the session: same sessionId on reconnect, ephemeral still there', async () => {
    const dir = await tempDir();
    const port = await freePort();
    let server = await start(dir, { clientPort: port });
    const c = await client(server.connectString, { sessionTimeoutMs: 20_000 });
    const sessionId = c.sessionId;
    await c.create('/eph', 'mine', { mode: 'ephemeral' });

    const suspended = nextEvent(c, 'suspended');
    await server.close();
    await suspended;

    const outcome = Promise.race([
      nextEvent(c, 'reconnected').then(() => 'reconnected'),
      nextEvent(c, 'expired').then(() => 'expired'),
    ]);
    server = await start(dir, { clientPort: port });
    expect(await outcome).toBe('reconnected');
    expect(c.state).toBe('connected');
    expect(c.sessionId).toBe(sessionId);

    // seen by another session too, owned by the original one
    const other = await client(server.connectString);
    const stat = await other.exists('/eph');
    expect(stat?.ephemeralOwner).toBe(sessionId);
    expect((await other.getString('/eph')).data).toBe('mine');
    expect(await c.getEphemerals('/')).toEqual(['/eph']);

    // and it is still a live ephemeral: closing the session removes it
    await c.close();
    expect(await other.exists('/eph')).toBeNull();
  });
});

describe('startup failure', () => {
  /** Paths under `dir` this process holds open (Linux /proc; empty where there is none). */
  async function openFilesUnder(dir: string): Promise<string[]> {
    let fds: string[];
    try {
      fds = await readdir('/proc/self/fd');
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const fd of fds) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target.startsWith(dir)) out.push(target);
    }
    return out;
  }

  it('a client port in use rejects with EADDRINUSE, holds no file of the dataDir open, and the dataDir starts afterwards', async () => {
    const busy = await start(await tempDir());
    const dir = await tempDir();
    const first = await start(dir);
    const c = await client(first.connectString);
    await c.create('/kept', 'yes');
    await c.close();
    await first.close();
    expect(await openFilesUnder(dir)).toEqual([]);

    for (let i = 0; i < 3; i++) {
      const attempt = startServer({ dataDir: dir, clientPort: busy.port, clientPortAddress: '127.0.0.1', logger: false });
      attempt.then((s) => afterTest(() => s.close()), () => {});
      await expect(attempt).rejects.toMatchObject({ code: 'EADDRINUSE' });
    }
    expect(await openFilesUnder(dir)).toEqual([]);

    const server = await start(dir);
    const c2 = await client(server.connectString);
    expect((await c2.getString('/kept')).data).toBe('yes');
    await c2.create('/more', null);
    expect(await c2.getChildren('/')).toEqual(expect.arrayContaining(['kept', 'more']));
  });
});

describe('status frame', () => {
  it('getServerStatus reports role standalone, the znode count and the session count', async () => {
    const server = await start(await tempDir());
    const initial = await getServerStatus(server.connectString);
    expect(initial.role).toBe('standalone');
    expect(initial.sessions).toBe(0);

    const a = await client(server.connectString);
    const b = await client(server.connectString);
    // the initial count is exactly the nodes a client can see (the root and anything built in)
    expect((await dumpTree(a)).size).toBe(initial.znodes);

    await a.create('/st', null);
    for (let i = 0; i < 7; i++) await a.create(`/st/x${i}`, 'x');
    await b.create('/st/eph', null, { mode: 'ephemeral' });

    const s = await getServerStatus(server.connectString);
    expect(s.role).toBe('standalone');
    expect(s.serverId).toBe(1);
    expect(s.znodes).toBe(initial.znodes + 9);
    expect((await dumpTree(a)).size).toBe(s.znodes);
    expect(s.sessions).toBe(2);
    expect(s.ephemerals).toBe(1);
    expect(s.zxid).toBe(a.lastZxidSeen > b.lastZxidSeen ? a.lastZxidSeen : b.lastZxidSeen);

    await b.close(); // closeSession deletes its ephemeral
    const s2 = await getServerStatus(server.connectString);
    expect(s2.sessions).toBe(1);
    expect(s2.znodes).toBe(initial.znodes + 8);
    expect(s2.ephemerals).toBe(0);
  });
});

describe('reply size limits', () => {
  it('a client with the default limit reads a reply as large as a server with a larger maxDataBytes sends, on its first connection', async () => {
    const server = await start(await tempDir(), { maxDataBytes: 4 * 1024 * 1024 });
    const c = await client(server.connectString);
    const big = new Uint8Array(3 * 1024 * 1024).fill(7); // over frameLimitFor(1 MiB), the client's own default
    await c.create('/big', big);
    const got = await c.getData('/big');
    expect(got.data?.byteLength).toBe(big.byteLength);
    expect(c.state).toBe('connected');
  });

  it('getChildren of a node whose child list is over the frame limit fails with ResponseTooLarge; the connection stays up', async () => {
    const server = await start(await tempDir(), { maxDataBytes: 16 * 1024 });
    const c = await client(server.connectString);
    await c.create('/wide', null);
    const name = 'n'.repeat(200);
    // 500 x 200-byte names: ~100 KB, over frameLimitFor(16 KiB) = 96 KiB
    await Promise.all(Array.from({ length: 500 }, (_, i) => c.create(`/wide/${name}${i}`, null)));
    await expect(c.getChildren('/wide')).rejects.toMatchObject({ code: 'ResponseTooLarge' });
    expect(c.state).toBe('connected');
    expect(await c.getAllChildrenNumber('/wide')).toBe(500);
  });
});
