// Client mechanics against a scriptable fake server (see fake-server.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { once } from '../../../test/support/once.js';
import { clientFrames } from '../../../test/support/ws-frames.js';
import { encode, encodeFrame, FrameKind, OpCode, packArray, type Request, type RequestFrame, type ServerFrame, type Stat } from '@zabkit/protocol';
import {
  AbortedError,
  BadArgumentsError,
  ClosedError,
  ConnectionLossError,
  NodeExistsError,
  OperationTimeoutError,
  RequestTooLargeError,
  SessionExpiredError,
  ZabError,
  connect,
  createProtected,
  type WatchEvent,
  type ZabClient,
} from '../src/index.js';
import { FakeServer, type FakeConn, type FakeOptions } from './fake-server.js';

const STAT: Stat = {
  czxid: 1n, mzxid: 1n, pzxid: 1n, ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0,
  ephemeralOwner: 0n, dataLength: 0, numChildren: 0,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fake(o: FakeOptions = {}): Promise<FakeServer> {
  const s = await FakeServer.start(o);
  cleanups.push(() => s.close());
  return s;
}
async function client(cs: string, o: Parameters<typeof connect>[1] = {}): Promise<ZabClient> {
  const c = await connect(cs, { shuffle: false, retry: { minTimeout: 5, maxTimeout: 20 }, ...o });
  cleanups.push(() => c.close({ timeoutMs: 200 }));
  return c;
}
const requests = (conn: FakeConn): Request[] =>
  conn.frames.filter((f): f is RequestFrame => (f as RequestFrame).k === FrameKind.request).map((f) => f.req);
const waitForRequest = async (s: FakeServer, op: number): Promise<[RequestFrame, FakeConn]> => {
  for (;;) {
    const [f, conn] = (await once(s, 'frame')) as [RequestFrame, FakeConn];
    if (f.k === FrameKind.request && f.req.op === op) return [f, conn];
  }
};

describe('client mechanics (fake server)', () => {
  it('reconnects with its session, re-arms watches before queued requests, and fires a watch after the move', async () => {
    const s = await fake({
      zxid: 7n,
      onRequest: (req) => (req.op === OpCode.getData ? { body: { data: null, stat: STAT } } : { body: { stat: null } }),
    });
    const c = await client(s.address);
    expect(c.sessionId).toBe(0x42n);
    expect(c.lastZxidSeen).toBe(7n);
    const events: WatchEvent[] = [];
    await c.getData('/w', { watch: (e) => events.push(e) });

    const states: string[] = [];
    c.on('state', (st) => states.push(st));
    const suspended = once(c, 'suspended');
    s.last.drop();
    await suspended;
    const queued = c.exists('/q');
    await once(c, 'reconnected');
    await expect(queued).resolves.toBeNull();
    expect(states).toEqual(['suspended', 'connected']);
    expect(c.sessionId).toBe(0x42n);

    const second = s.conns[1]!;
    const hello = second.frames[0] as { k: number; sessionId: bigint; passwd: Uint8Array; lastZxidSeen: bigint };
    expect(hello.k).toBe(FrameKind.connect);
    expect(hello.sessionId).toBe(0x42n);
    expect([...hello.passwd]).toEqual([1, 2, 3]);
    expect(hello.lastZxidSeen).toBe(7n);
    expect(requests(second).map((r) => r.op)).toEqual([OpCode.setWatches, OpCode.exists]);
    // relative to the last zxid seen on replies (1), not the handshake's 7: a handshake says nothing
    // about which events this client has received
    expect(requests(second)[0]).toMatchObject({ relativeZxid: 1n, dataWatches: ['/w'], existWatches: [], childWatches: [] });

    second.send({ k: FrameKind.event, zxid: 9n, type: 'NodeDataChanged', path: '/w' });
    second.send({ k: FrameKind.event, zxid: 10n, type: 'NodeDataChanged', path: '/w' });
    await c.sync('/'); // replies come after the events on the same socket
    expect(events).toEqual([{ type: 'NodeDataChanged', path: '/w' }]);
    expect(c.lastZxidSeen).toBe(10n);
  });

  it('announces frameArrays and accepts several frames in one message (an array), in order: the event before the replies', async () => {
    let held: RequestFrame | undefined;
    const s = await fake({
      onRequest: (req, conn, frame) => {
        const path = (req as { path?: string }).path;
        if (req.op !== OpCode.getData || path === '/w') return { body: { data: null, stat: STAT } };
        if (path === '/a') {
          held = frame;
          return 'hang';
        }
        const frames: ServerFrame[] = [
          { k: FrameKind.event, zxid: 5n, type: 'NodeDataChanged', path: '/w' },
          { k: FrameKind.response, xid: held!.xid, zxid: 5n, op: OpCode.getData, body: { data: Uint8Array.of(1), stat: STAT } },
          { k: FrameKind.response, xid: frame.xid, zxid: 6n, op: OpCode.getData, body: { data: Uint8Array.of(2), stat: STAT } },
        ];
        conn.sendRaw(packArray(frames.map(encodeFrame)));
        return 'hang';
      },
    });
    const c = await client(s.address);
    expect((s.last.frames[0] as { frameArrays?: unknown }).frameArrays).toBe(true);
    const order: string[] = [];
    await c.getData('/w', { watch: (e) => order.push(`event ${e.path}`) });
    const a = c.getData('/a').then((r) => order.push(`a ${r.data?.[0]}`));
    await vi.waitFor(() => expect(held).toBeDefined());
    const b = c.getData('/b').then((r) => order.push(`b ${r.data?.[0]}`));
    await Promise.all([a, b]);
    expect(order).toEqual(['event /w', 'a 1', 'b 2']);
    expect(c.lastZxidSeen).toBe(6n);
  });

  it('masks its frames with an all-zero key (ws then neither copies nor XORs them)', async () => {
    const s = await fake({ onRequest: () => ({ body: { data: null, stat: STAT } }) });
    const c = await client(s.address);
    await c.getData('/x');
    const frames = clientFrames(Buffer.concat(s.last.wire));
    expect(frames.length).toBeGreaterThanOrEqual(2); // connect, getData
    for (const f of frames) expect([f.masked, f.maskKey]).toEqual([true, [0, 0, 0, 0]]);
  });

  it('sends the requests of one turn as one message (an array, in order) only to a server that accepts arrays', async () => {
    for (const acceptArrays of [true, false]) {
      const s = await fake({
        acceptArrays,
        onRequest: (req) => (req.op === OpCode.getData ? { body: { data: Uint8Array.of(Number(req.path.slice(2))), stat: STAT } } : { body: {} }),
      });
      const c = await client(s.address);
      const before = s.last.messages;
      const got = await Promise.all(Array.from({ length: 10 }, (_, i) => c.getData(`/n${i}`)));
      expect(got.map((r) => r.data?.[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const paths = s.last.frames.slice(-10).map((f) => (f as RequestFrame).req).map((r) => (r as { path: string }).path);
      expect(paths).toEqual(Array.from({ length: 10 }, (_, i) => `/n${i}`));
      expect(s.last.messages - before).toBe(acceptArrays ? 1 : 10);
    }
  });

  it('an array message with one malformed element is rejected whole: nothing in it is delivered, the socket closes', async () => {
    const s = await fake({
      onRequest: (req, conn, frame) => {
        const path = (req as { path?: string }).path;
        if (req.op === OpCode.getData && path === '/x') {
          conn.sendRaw(
            packArray([
              encodeFrame({ k: FrameKind.event, zxid: 5n, type: 'NodeDataChanged', path: '/w' }),
              encodeFrame({ k: FrameKind.response, xid: frame.xid, zxid: 5n, op: OpCode.getData, body: { data: null, stat: STAT } }),
              encode({ k: 999 }),
            ]),
          );
          return 'hang';
        }
        return { body: { data: null, stat: STAT } };
      },
    });
    const warn = vi.fn();
    const c = await client(s.address, { logger: { warn } });
    const events: WatchEvent[] = [];
    await c.getData('/w', { watch: (e) => events.push(e) });
    const reconnected = once(c, 'reconnected');
    const err = await c.getData('/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLossError);
    await reconnected;
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/closing connection.*unknown frame kind 999/);
    expect(events.filter((e) => e.type === 'NodeDataChanged')).toEqual([]);
  });

  it('an undecodable frame closes that socket: in-flight requests fail with ConnectionLoss, it is logged, the client reconnects', async () => {
    const s = await fake({
      onRequest: (req, conn) => {
        if (req.op === OpCode.getData) {
          conn.sendRaw(new Uint8Array([0xc1, 0xc1, 0xc1]));
          return 'hang';
        }
        return { body: {} };
      },
    });
    const warn = vi.fn();
    const c = await client(s.address, { logger: { warn } });
    const reconnected = once(c, 'reconnected');
    const err = await c.getData('/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionLossError);
    expect((err as ZabError).retryable).toBe(true);
    await reconnected;
    expect(warn).toHaveBeenCalled();
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/closing connection/);
    await expect(c.sync('/')).resolves.toBeUndefined();
  });

  it('times a request out with OperationTimeout and ignores its late reply', async () => {
    let slow: RequestFrame | undefined;
    const s = await fake({
      onRequest: (req, _conn, f) => {
        if (req.op === OpCode.getData) {
          slow = f;
          return 'hang';
        }
        return { body: { stat: STAT } };
      },
    });
    const c = await client(s.address);
    const err = await c.getData('/slow', { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationTimeoutError);
    expect((err as ZabError).path).toBe('/slow');
    s.last.reply(slow!.xid, OpCode.getData, { body: { data: new Uint8Array([9]), stat: STAT } });
    await expect(c.exists('/other')).resolves.toEqual(STAT);
    expect(c.state).toBe('connected');
  });

  it('an AbortSignal rejects with Aborted; an already aborted signal sends nothing', async () => {
    const s = await fake({ onRequest: () => 'hang' });
    const c = await client(s.address);
    const ac = new AbortController();
    const p = c.exists('/a', { signal: ac.signal });
    await waitForRequest(s, OpCode.exists);
    ac.abort(new Error('user'));
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as ZabError).code).toBe('Aborted');

    const before = requests(s.last).length;
    await expect(c.exists('/b', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    expect(requests(s.last).length).toBe(before);
  });

  it('rejects bad paths and oversized data without a round trip', async () => {
    const s = await fake();
    const c = await client(s.address);
    await expect(c.getData('no-slash')).rejects.toBeInstanceOf(BadArgumentsError);
    await expect(c.create('/a/')).rejects.toBeInstanceOf(BadArgumentsError);
    await expect(c.create('/a/../b')).rejects.toBeInstanceOf(BadArgumentsError);
    await expect(c.delete('/a', { version: -5 })).rejects.toBeInstanceOf(BadArgumentsError);
    // the fake advertises maxDataBytes 1024
    const err = await c.setData('/a', new Uint8Array(1025)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTooLargeError);
    expect((err as ZabError).path).toBe('/a');
    await expect(
      c.multi([
        { type: 'create', path: '/x', data: new Uint8Array(600) },
        { type: 'create', path: '/y', data: new Uint8Array(600) },
      ]),
    ).rejects.toBeInstanceOf(RequestTooLargeError);
    expect(requests(s.last)).toEqual([]);
  });

  it('pings when idle and treats a silent server as lost', async () => {
    let silent = false;
    const s = await fake({ onConnect: () => ({ timeoutMs: 300 }), onRequest: () => (silent ? 'hang' : { body: {} }) });
    const c = await client(s.address, { sessionTimeoutMs: 300 });
    expect(c.sessionTimeoutMs).toBe(300);
    await waitForRequest(s, OpCode.ping);
    silent = true;
    const [info] = (await once(c, 'suspended')) as [{ reason: string }];
    expect(info.reason).toMatch(/no traffic/);
  });

  it('expires when a server refuses the session as expired: fails requests, fires no watch, opens no new session', async () => {
    const s = await fake({
      onConnect: (f) => (f.sessionId !== 0n ? { refuse: 'SessionExpired' } : undefined),
      onRequest: () => ({ body: { stat: null } }),
    });
    const c = await client(s.address);
    const watch = vi.fn();
    await c.exists('/n', { watch });
    const expired = once(c, 'expired');
    s.last.drop();
    await once(c, 'suspended');
    const queued = c.getData('/n');
    const [err] = (await expired) as [ZabError];
    expect(err).toBeInstanceOf(SessionExpiredError);
    expect(c.state).toBe('expired');
    await expect(queued).rejects.toBeInstanceOf(SessionExpiredError);
    await expect(c.exists('/n')).rejects.toBeInstanceOf(SessionExpiredError);
    expect(watch).not.toHaveBeenCalled();
    const newSessions = s.conns.filter((conn) => (conn.frames[0] as { sessionId: bigint }).sessionId === 0n);
    expect(newSessions.length).toBe(1);
  });

  it('moves on to the next server when one is not serving', async () => {
    const a = await fake({ onConnect: () => ({ refuse: 'NotServing' }) });
    const b = await fake();
    const c = await client(`${a.address},${b.address}`);
    expect(c.serverAddress).toBe(b.address);
    expect(a.conns.length).toBe(1);
  });

  it('the initial connect gives up after its retries, or when its signal aborts', async () => {
    const s = await fake();
    const port = s.port;
    await s.close();
    await expect(connect(`127.0.0.1:${port}`, { retry: { retries: 1, minTimeout: 1 } })).rejects.toBeInstanceOf(ConnectionLossError);
    const ac = new AbortController();
    const p = connect(`127.0.0.1:${port}`, { retry: { retries: 100, minTimeout: 20 }, signal: ac.signal });
    setImmediate(() => ac.abort());
    await expect(p).rejects.toBeInstanceOf(AbortedError);
  });

  it('close() sends closeSession, waits for its reply, then rejects later calls with Closed', async () => {
    const s = await fake();
    const c = await client(s.address);
    const closed = once(c, 'closed');
    await c.close();
    await closed;
    expect(requests(s.last).map((r) => r.op)).toEqual([OpCode.closeSession]);
    expect(c.state).toBe('closed');
    await expect(c.exists('/a')).rejects.toBeInstanceOf(ClosedError);
    await c.close(); // idempotent
  });

  it('maps a failed multi to the failing op code with per-op results', async () => {
    const s = await fake({
      onRequest: (req) =>
        req.op === OpCode.multi
          ? { err: 'NodeExists', body: { results: [{ op: 'error', err: 'Ok' }, { op: 'error', err: 'NodeExists' }, { op: 'error', err: 'RuntimeInconsistency' }] } }
          : { body: {} },
    });
    const c = await client(s.address);
    const err = (await c
      .transaction()
      .create('/a')
      .create('/b')
      .setData('/a', 'x')
      .commit()
      .catch((e: unknown) => e)) as ZabError;
    expect(err).toBeInstanceOf(NodeExistsError);
    expect(err.failedOpIndex).toBe(1);
    expect(err.results).toEqual([
      { type: 'error', code: 'Ok' },
      { type: 'error', code: 'NodeExists' },
      { type: 'error', code: 'RuntimeInconsistency' },
    ]);
  });

  it('createProtected finds its node again after a lost reply instead of creating a second one', async () => {
    const creates: string[] = [];
    let made: string | undefined;
    const s = await fake({
      onRequest: (req, conn) => {
        if (req.op === OpCode.create) {
          creates.push(req.path);
          made = `${req.path.slice('/locks/'.length)}0000000007`; // "applied", but the reply is lost
          conn.drop();
          return 'hang';
        }
        if (req.op === OpCode.getChildren) return { body: { children: ['lock-0000000003', ...(made ? [made] : [])] } };
        return { body: {} };
      },
    });
    const c = await client(s.address);
    const path = await createProtected(c, '/locks/lock-', 'me', 'ephemeral-sequential');
    expect(creates).toHaveLength(1);
    expect(creates[0]).toMatch(/^\/locks\/_c_[0-9a-f-]{36}-lock-$/);
    expect(path).toBe(`/locks/${made}`);
  });
});
