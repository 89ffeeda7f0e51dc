import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocketType from 'ws';
import { TooManyWatchesError, type ZabClient } from '@zabkit/client';
import { FrameKind, OpCode, PROTOCOL_VERSION, decodeFrames, encodeFrame, packArray, type ClientFrame, type ResponseFrame } from '@zabkit/protocol';
import { ClusterHarness, withTimeout } from '../cluster/harness.js';

// ws is the client package's dependency, not the workspace root's
const WebSocket = createRequire(new URL('../../packages/client/package.json', import.meta.url))('ws') as typeof WebSocketType;

/**
 * Hostile clients against a real 3-node cluster (tickTime 200, so a stall of about a second
 * would cost the leader its followers): each attack from the issue, scaled down, while a
 * legitimate client keeps being served. Bounds asserted are loose on purpose (seconds, hundreds
 * of MB): they tell a bounded server from an unbounded one, not a fast one from a slow one.
 */
const WIDE = 20_000;
const NAME = 'n'.repeat(120); // 20,000 children of ~124 bytes: a child list over the 2 MiB frame limit
const WATCH_CAP = 2000;
const MAX_CNXNS = 50;

let h: ClusterHarness;
let leader: number;
let legit: ZabClient;
let epoch: number;

beforeAll(async () => {
  h = await ClusterHarness.start({
    nodes: 3,
    extraConfig: { maxClientCnxns: MAX_CNXNS, clientHandshakeTimeoutMs: 1500, maxWatchesPerSession: WATCH_CAP },
  });
  leader = (await h.cluster.leaderId()) as number;
  legit = await h.clientOn(leader);
  await legit.create('/wide', null);
  for (let i = 0; i < WIDE; i += 500) {
    const txn = legit.transaction();
    for (let j = i; j < i + 500; j++) txn.create(`/wide/${NAME}${j}`, null);
    await txn.commit();
  }
  epoch = (await h.cluster.status(leader)).epoch;
}, 120_000);

afterAll(async () => {
  await h?.dispose();
});

const connectFrame: ClientFrame = { k: FrameKind.connect, protocolVersion: PROTOCOL_VERSION, lastZxidSeen: 0n, timeoutMs: 10_000, sessionId: 0n, passwd: new Uint8Array(0), frameArrays: true };

/** A raw WebSocket with a session on the leader, offering frame arrays; replies are counted. */
async function attacker(): Promise<{ ws: WebSocketType; responses: ResponseFrame[]; closed: Promise<[number, Buffer]> }> {
  const ws = new WebSocket(`ws://${h.cluster.address(leader)}`);
  ws.on('error', () => {});
  const closed = once(ws, 'close') as Promise<[number, Buffer]>;
  await once(ws, 'open');
  const responses: ResponseFrame[] = [];
  let connected!: () => void;
  const ready = new Promise<void>((r) => (connected = r));
  ws.on('message', (data) => {
    for (const f of decodeFrames(data as Buffer)) {
      if (f.k === FrameKind.connected) connected();
      else if (f.k === FrameKind.response) responses.push(f);
    }
  });
  ws.send(encodeFrame(connectFrame));
  await withTimeout(ready, 10_000, 'the attacker session');
  return { ws, responses, closed };
}

const batch = (reqs: ClientFrame[]) => packArray(reqs.map((f) => encodeFrame(f)));
const request = (xid: number, req: Record<string, unknown>): ClientFrame => ({ k: FrameKind.request, xid, req }) as unknown as ClientFrame;

/** The legitimate client's longest round trip while `attack` runs (exists every 20 ms). */
async function longestPingDuring(attack: Promise<unknown>): Promise<number> {
  let done = false;
  let longest = 0;
  void attack.finally(() => (done = true));
  for (let i = 0; i < 1000 && !done; i++) {
    const t0 = performance.now();
    await legit.exists('/wide');
    longest = Math.max(longest, performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  await attack;
  return longest;
}

async function leaderUnchanged(): Promise<void> {
  const s = await h.cluster.status(leader);
  expect(s.role).toBe('leader');
  expect(s.epoch).toBe(epoch);
}

describe('hostile clients against a real cluster', () => {
  it('300 getAllChildrenNumber in one message over 20,000 znodes: answered, the loop never stalls, the leader keeps leading', async () => {
    const a = await attacker();
    const reqs = Array.from({ length: 300 }, (_, i) => request(i + 1, { op: OpCode.getAllChildrenNumber, path: '/' }));
    const answered = (async () => {
      a.ws.send(batch(reqs));
      for (let i = 0; i < 3000 && a.responses.length < 300; i++) await new Promise((r) => setTimeout(r, 10));
    })();
    const longest = await longestPingDuring(answered);
    expect(a.responses).toHaveLength(300);
    expect(a.responses.every((r) => (r.body as { count: number }).count > WIDE)).toBe(true);
    expect(longest).toBeLessThan(2000);
    await leaderUnchanged();
    a.ws.terminate();
  });

  it('getChildren of a node with 20,000 long names fails with ResponseTooLarge; the connection keeps working', async () => {
    await expect(legit.getChildren('/wide')).rejects.toMatchObject({ code: 'ResponseTooLarge' });
    expect(legit.state).toBe('connected');
    expect(await legit.getAllChildrenNumber('/wide')).toBe(WIDE);
  });

  it('600 getData of a 1 MB node from a client that never reads: throttled, the server stays small and serves others', async () => {
    await legit.create('/big', new Uint8Array(1_000_000).fill(1));
    const a = await attacker();
    (a.ws as unknown as { _socket: Socket })._socket.pause(); // never reads again
    a.ws.send(batch(Array.from({ length: 600 }, (_, i) => request(i + 1, { op: OpCode.getData, path: '/big', watch: false }))));
    // no event marks the peak: sample the leader's RSS for a while (600 MB of replies would be buffered unbounded)
    let peak = 0;
    for (let i = 0; i < 15; i++) {
      peak = Math.max(peak, (await h.cluster.status(leader)).memory?.rss ?? 0);
      expect((await legit.getData('/big')).data?.byteLength).toBe(1_000_000);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(450 * 1024 * 1024);
    await leaderUnchanged();
    a.ws.terminate();
    await legit.delete('/big');
  });

  it(`watches per session stop at maxWatchesPerSession (${WATCH_CAP}) with TooManyWatches; other sessions still watch`, async () => {
    const greedy = await h.clientOn(leader);
    const watcher = () => {};
    for (let i = 0; i < WATCH_CAP; i += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, j) => greedy.exists(`/missing-${i + j}`, { watch: watcher })));
    }
    const err = await greedy.exists('/missing-one-more', { watch: watcher }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyWatchesError);
    expect((err as Error).message).toMatch(/maxWatchesPerSession/);
    expect(await greedy.exists('/missing-one-more')).toBeNull(); // reads without a watch still work
    const fired = new Promise((r) => legit.exists('/watched', { watch: r }));
    await greedy.create('/watched', null);
    await withTimeout(fired, 10_000, 'the legit watch');
    await greedy.close();
  });

  it(`2,000 half-open sockets from one address: at most maxClientCnxns (${MAX_CNXNS}) held, closed at the handshake deadline; others connect`, async () => {
    const pid = h.cluster.node(leader).process?.pid as number;
    const fdsBefore = (await readdir(`/proc/${pid}/fd`)).length;
    const sockets: Socket[] = [];
    const refused: Promise<unknown>[] = [];
    let maxFds = 0;
    try {
      for (let i = 0; i < 2000; i += 200) {
        await Promise.all(
          Array.from({ length: 200 }, () => {
            // from 127.0.0.2, so the cap on that address is not the legitimate client's
            const s = tcpConnect({ host: '127.0.0.1', port: h.cluster.node(leader).clientPort, localAddress: '127.0.0.2' });
            s.on('error', () => {});
            s.on('data', () => {});
            sockets.push(s);
            // (events.once would reject on the resets of sockets refused at once)
            refused.push(new Promise((r) => s.once('close', r)));
            return new Promise<void>((r) => {
              s.once('connect', () => {
                s.write('GET / HTTP/1.1\r\nHost: x\r\n'); // never finished
                r();
              });
              s.once('close', () => r());
            });
          }),
        );
        maxFds = Math.max(maxFds, (await readdir(`/proc/${pid}/fd`)).length);
      }
      // a legitimate client (another address) is served meanwhile
      const fresh = await h.clientOn(leader);
      expect(await fresh.exists('/wide')).not.toBeNull();
      await fresh.close();
      expect(maxFds - fdsBefore).toBeLessThan(MAX_CNXNS + 100);
      // every one is closed by the server: refused at once, or at the handshake deadline
      await withTimeout(Promise.all(refused), 15_000, 'the server to close every half-open socket');
      await leaderUnchanged();
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('a WebSocket that never sends its connect frame is closed at the deadline with 1008', async () => {
    const ws = new WebSocket(`ws://${h.cluster.address(leader)}`);
    ws.on('error', () => {});
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    await once(ws, 'open');
    const [code, reason] = await withTimeout(closed, 10_000, 'the close');
    expect(code).toBe(1008);
    expect(reason.toString()).toMatch(/no connect frame within 1500 ms/);
  });

  it('malformed frames still close only their own connection, with 1007', async () => {
    const a = await attacker();
    a.ws.send(Buffer.from([0xc1, 0xc1, 0xc1]));
    const [code] = await withTimeout(a.closed, 10_000, 'the close');
    expect(code).toBe(1007);
    expect(await legit.exists('/wide')).not.toBeNull();
    await leaderUnchanged();
  });
});
