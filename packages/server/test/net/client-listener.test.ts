import { once } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FrameKind, OpCode, PROTOCOL_VERSION, decodeFrames, encodeFrame, packArray, type ClientFrame, type ResponseFrame, type ServerFrame } from '@zabkit/protocol';
import { ClientListener, type ClientListenerOptions } from '../../src/net/client-listener.js';
import type { Logger } from '../../src/runtime/logger.js';

const lines: string[] = [];
const logger: Logger = {
  debug: () => {},
  info: (l: string) => void lines.push(l),
  warn: (l: string) => void lines.push(l),
  error: (l: string) => void lines.push(l),
} as unknown as Logger;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
  lines.length = 0;
});

interface Handed {
  connId: number;
  frame: ClientFrame;
}

/** A listener on a free port whose frames are recorded; `answer` sends a response to a recorded request. */
async function listener(opts: Partial<ClientListenerOptions> = {}, onFrame?: (l: ClientListener, h: Handed) => void) {
  const handed: Handed[] = [];
  const closed: number[] = [];
  const l: ClientListener = new ClientListener({
    host: '127.0.0.1',
    port: 0,
    maxFrameBytes: 4 * 1024 * 1024,
    maxClientCnxns: 0,
    maxHandshakingCnxns: 100,
    handshakeTimeoutMs: 10_000,
    globalOutstandingLimit: 10_000,
    outstandingLimit: 1000,
    outstandingCloseLimit: 10_000,
    unsentBytesLimit: 8 * 1024 * 1024,
    unsentBytesCloseLimit: 64 * 1024 * 1024,
    logger,
    onOpen: () => {},
    onFrame: (connId, frame) => {
      handed.push({ connId, frame });
      onFrame?.(l, { connId, frame });
    },
    onClose: (connId) => void closed.push(connId),
    ...opts,
  });
  const port = await l.listen();
  cleanups.push(() => l.stop());
  return { l, port, handed, closed };
}

function reply(l: ClientListener, h: Handed, body: Record<string, unknown> = {}): void {
  const f = h.frame as { xid: number; req: { op: number } };
  l.send(h.connId, { k: FrameKind.response, xid: f.xid, zxid: 0n, op: f.req.op, body } as ServerFrame);
}

const CONNECT: ClientFrame = { k: FrameKind.connect, protocolVersion: PROTOCOL_VERSION, lastZxidSeen: 0n, timeoutMs: 5000, sessionId: 0n, passwd: new Uint8Array(0), frameArrays: true };
const req = (xid: number, path = '/x'): ClientFrame => ({ k: FrameKind.request, xid, req: { op: OpCode.getData, path, watch: false } });

async function ws(port: number): Promise<WebSocket> {
  const w = new WebSocket(`ws://127.0.0.1:${port}`);
  w.on('error', () => {});
  cleanups.push(() => w.terminate());
  await once(w, 'open');
  return w;
}

/** Sends several frames as one ws message (a connection that offered frame arrays). */
const sendBatch = (w: WebSocket, frames: ClientFrame[]) => w.send(packArray(frames.map((f) => encodeFrame(f))));

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function tcp(port: number): Promise<Socket> {
  const s = tcpConnect(port, '127.0.0.1');
  s.on('error', () => {});
  cleanups.push(() => void s.destroy());
  return once(s, 'connect').then(() => s);
}

/** No event says "nothing more arrived": the negative checks give the listener this long to misbehave. */
const GRACE_MS = 300;
const grace = () => new Promise((r) => setTimeout(r, GRACE_MS));

describe('client listener: outstanding requests', () => {
  it('past clientOutstandingLimit the socket is not read; answering resumes it', async () => {
    const { l, port, handed } = await listener({ outstandingLimit: 10 });
    const w = await ws(port);
    w.send(encodeFrame(CONNECT));
    for (let i = 1; i <= 10; i++) w.send(encodeFrame(req(i)));
    await until('10 requests handed', () => handed.length === 11);
    // one more message, sent after the listener paused: not read while 10 are unanswered
    w.send(encodeFrame(req(11)));
    await grace();
    expect(handed.length).toBe(11);
    expect(l.outstanding).toBe(10);
    reply(l, handed[1]!);
    await until('the 11th request handed after an answer', () => handed.length === 12);
    expect(l.outstanding).toBe(10);
  });

  it('past clientOutstandingCloseLimit (one message of many requests) the connection is closed with 1008 and a reason', async () => {
    const { l, port, handed } = await listener({ outstandingLimit: 5, outstandingCloseLimit: 20 });
    const w = await ws(port);
    w.send(encodeFrame(CONNECT));
    await until('connect handed', () => handed.length === 1);
    sendBatch(w, Array.from({ length: 25 }, (_, i) => req(i + 1)));
    const [code, reason] = (await once(w, 'close')) as [number, Buffer];
    expect(code).toBe(1008);
    expect(reason.toString()).toMatch(/too many outstanding requests \(25, clientOutstandingCloseLimit=20\)/);
    expect(handed.length).toBe(1);
    expect(lines.some((x) => /clientOutstandingCloseLimit=20/.test(x))).toBe(true);
    expect(l.outstanding).toBe(0);
  });

  it('past globalOutstandingLimit other connections are not read until the total drops', async () => {
    const { l, port, handed } = await listener({ globalOutstandingLimit: 5 });
    const a = await ws(port);
    const b = await ws(port);
    for (let i = 1; i <= 5; i++) a.send(encodeFrame(req(i)));
    await until('a: 5 handed', () => handed.length === 5);
    b.send(encodeFrame(req(100)));
    await until('b: its first request (read before the pause) handed', () => handed.length === 6);
    const bId = handed[5]!.connId;
    b.send(encodeFrame(req(101)));
    await grace();
    expect(handed.length).toBe(6);
    for (const h of handed.slice(0, 5)) reply(l, h);
    await until('b read again', () => handed.some((h) => h.connId === bId && (h.frame as { xid: number }).xid === 101));
  });
});

describe('client listener: unsent reply bytes', () => {
  it('a client that does not read stops being served past clientUnsentBytesLimit, and is served again when it reads', async () => {
    const big = new Uint8Array(256 * 1024);
    const { l, port, handed } = await listener({ unsentBytesLimit: 1024 * 1024 }, (li, h) => {
      if (h.frame.k === FrameKind.request) reply(li, h, { data: big });
    });
    const w = await ws(port);
    w.send(encodeFrame(CONNECT));
    await until('connect handed', () => handed.length === 1);
    let replies = 0;
    w.on('message', (data) => (replies += decodeFrames(data as Buffer).length));
    // the client stops reading its socket: replies pile up in the kernel, then in the server
    (w as unknown as { _socket: Socket })._socket.pause();
    const N = 200; // 50 MiB of replies, far more than loopback buffers hold
    sendBatch(w, Array.from({ length: N }, (_, i) => req(i + 1)));
    await until('the listener to stop handing frames', () => handed.length > 1);
    await grace();
    const servedWhilePaused = handed.length - 1;
    expect(servedWhilePaused).toBeLessThan(N);
    (w as unknown as { _socket: Socket })._socket.resume();
    await until('every request answered once the client reads', () => replies === N, 30_000);
    expect(handed.length - 1).toBe(N);
    expect(l.outstanding).toBe(0);
  });

  it('past clientUnsentBytesCloseLimit the connection is closed and its buffers freed', async () => {
    const chunk = new Uint8Array(512 * 1024);
    const { l, port, handed, closed } = await listener({ unsentBytesLimit: 1024 * 1024, unsentBytesCloseLimit: 2 * 1024 * 1024 }, (li, h) => {
      // like reads queued behind a write, answered all at once
      if (h.frame.k === FrameKind.request) for (let i = 0; i < 40; i++) li.send(h.connId, { k: FrameKind.event, zxid: 0n, type: 'NodeDataChanged', path: `/${i}` , data: chunk } as unknown as ServerFrame);
    });
    const w = await ws(port);
    (w as unknown as { _socket: Socket })._socket.pause();
    w.send(encodeFrame(req(1)));
    await until('the connection closed', () => closed.length === 1);
    expect(handed.length).toBe(1);
    expect(lines.some((x) => /client is not reading its replies \(\d+ bytes unsent, clientUnsentBytesCloseLimit=2097152\)/.test(x))).toBe(true);
    expect(l.connectionCount).toBe(0);
  });

  it('a reply over the frame limit becomes a ResponseTooLarge error for that request; the connection stays up', async () => {
    const { port, handed } = await listener({ maxFrameBytes: 64 * 1024 }, (li, h) => {
      if (h.frame.k !== FrameKind.request) return;
      const xid = (h.frame as { xid: number }).xid;
      reply(li, h, xid === 1 ? { children: Array.from({ length: 10_000 }, (_, i) => `child-${i}`) } : { children: [] });
    });
    const w = await ws(port);
    const got: ResponseFrame[] = [];
    w.on('message', (data) => got.push(...(decodeFrames(data as Buffer) as ResponseFrame[])));
    w.send(encodeFrame(req(1)));
    w.send(encodeFrame(req(2)));
    await until('two replies', () => got.length === 2);
    expect(got[0]).toMatchObject({ xid: 1, err: 'ResponseTooLarge' });
    expect(got[0]!.message).toMatch(/over the frame limit of 65536/);
    expect(got[1]).toMatchObject({ xid: 2, body: { children: [] } });
    expect(handed.length).toBe(2);
    expect(w.readyState).toBe(WebSocket.OPEN);
  });
});

describe('client listener: work per event-loop turn', () => {
  it('one message of expensive requests is handled across turns: another connection is served in between', async () => {
    const order: string[] = [];
    const { port, handed } = await listener({}, (_l, h) => {
      if (h.frame.k !== FrameKind.request) return;
      const xid = (h.frame as { xid: number }).xid;
      order.push(xid >= 100 ? 'other' : `heavy${xid}`);
      if (xid < 100) {
        const end = performance.now() + 15; // an expensive read
        while (performance.now() < end);
      }
    });
    const heavy = await ws(port);
    const other = await ws(port);
    heavy.send(encodeFrame(CONNECT));
    await until('connect handed', () => handed.length === 1);
    sendBatch(heavy, Array.from({ length: 20 }, (_, i) => req(i + 1)));
    other.send(encodeFrame(req(100)));
    await until('all handed', () => order.length === 21);
    expect(order.indexOf('other')).toBeLessThan(order.indexOf('heavy20'));
    expect(order.filter((x) => x.startsWith('heavy'))).toEqual(Array.from({ length: 20 }, (_, i) => `heavy${i + 1}`));
  });
});

describe('client listener: handshakes and half-open sockets', () => {
  it('a WebSocket without a connect frame within clientHandshakeTimeoutMs is closed; one that sent it stays', async () => {
    const { port } = await listener({ handshakeTimeoutMs: 300 });
    const good = await ws(port);
    good.send(encodeFrame(CONNECT));
    const silent = await ws(port);
    const [code, reason] = (await once(silent, 'close')) as [number, Buffer];
    expect(code).toBe(1008);
    expect(reason.toString()).toBe('no connect frame within 300 ms');
    expect(good.readyState).toBe(WebSocket.OPEN);
  });

  it('a TCP socket that never completes the HTTP upgrade is closed at the deadline', async () => {
    const { port } = await listener({ handshakeTimeoutMs: 300 });
    const s = await tcp(port);
    s.write('GET / HTTP/1.1\r\nHost: x\r\n'); // headers never finished
    await once(s, 'close');
  });

  it('maxClientCnxns counts sockets from TCP accept; maxHandshakingCnxns caps those mid-handshake; both answer 503 with the reason', async () => {
    const { l, port } = await listener({ maxClientCnxns: 6, maxHandshakingCnxns: 3 });
    const counts = () => l.socketsFrom('127.0.0.1');
    const raws = await Promise.all([tcp(port), tcp(port), tcp(port)]);
    const refusedBody = async (): Promise<string> => {
      const s = await tcp(port);
      let text = '';
      s.on('data', (b) => (text += b.toString()));
      await once(s, 'end');
      return text;
    };
    expect(await refusedBody()).toMatch(/^HTTP\/1\.1 503[\s\S]*still handshaking \(maxHandshakingCnxns=3\)/);
    for (const r of raws) r.destroy();
    await until('the server saw them go', () => counts().open === 0);
    const done: WebSocket[] = [];
    for (let i = 0; i < 6; i++) {
      const d = await ws(port);
      d.send(encodeFrame(CONNECT));
      done.push(d);
      await until('its handshake done', () => counts().handshaking === 0);
    }
    expect(counts()).toEqual({ open: 6, handshaking: 0 });
    expect(await refusedBody()).toMatch(/too many connections from 127\.0\.0\.1 \(maxClientCnxns=6\)/);
    done[0]!.close();
    await until('a slot freed', () => counts().open === 5);
    const again = await ws(port);
    expect(again.readyState).toBe(WebSocket.OPEN);
  });
});
