// Measures how long a hostile client can stall a server: a 3-node cluster (tickTime 2000) with
// ZNODES znodes, one WebSocket message holding 300 getAllChildrenNumber('/') requests sent to the
// leader, and a legitimate client pinging the leader (exists) every 20 ms meanwhile. Prints the
// longest ping round trip and whether the leader changed.
//   node scripts/hostile-stall.mjs [checkout root, default: this one] [znodes, default 60000]
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..'));
const ZNODES = Number(process.argv[3] ?? 60_000);
const { LocalCluster } = await import(join(root, 'packages/cli/dist/index.js'));
const { connect, getServerStatus } = await import(join(root, 'packages/client/dist/index.js'));
const { FrameKind, OpCode, PROTOCOL_VERSION, encodeFrame, packArray, decodeFrames } = await import(join(root, 'packages/protocol/dist/index.js'));
const WebSocket = createRequire(join(root, 'packages/client/package.json'))('ws');

const dir = await mkdtemp(join(tmpdir(), 'zabkit-stall-'));
const cluster = new LocalCluster({ nodes: 3, dataDir: dir, tickTime: 2000 });
await cluster.start();
try {
  let leader;
  for (const n of cluster.nodes) {
    const s = await getServerStatus(`127.0.0.1:${n.clientPort}`);
    if (s.role === 'leader') leader = n;
  }
  const at = `127.0.0.1:${leader.clientPort}`;
  const writer = await connect(at, { sessionTimeoutMs: 20_000 });
  await writer.create('/t', null);
  for (let i = 0; i < ZNODES; i += 500) {
    const txn = writer.transaction();
    for (let j = i; j < Math.min(ZNODES, i + 500); j++) txn.create(`/t/n${j}`, null);
    await txn.commit();
  }
  const epoch = (await getServerStatus(at)).epoch;
  const pinger = await connect(at, { sessionTimeoutMs: 20_000 });

  const ws = new WebSocket(`ws://${at}`);
  await new Promise((r) => ws.once('open', r));
  ws.send(encodeFrame({ k: FrameKind.connect, protocolVersion: PROTOCOL_VERSION, lastZxidSeen: 0n, timeoutMs: 20_000, sessionId: 0n, passwd: new Uint8Array(0), frameArrays: true }));
  let answered = 0;
  const allAnswered = new Promise((resolveAll) => {
    ws.on('message', (data) => {
      for (const f of decodeFrames(data)) if (f.k === FrameKind.response && ++answered === 300) resolveAll();
    });
  });
  await new Promise((r) => setTimeout(r, 200)); // the connected frame
  let maxPing = 0;
  let pinging = true;
  const pings = (async () => {
    while (pinging) {
      const t0 = performance.now();
      await pinger.exists('/t');
      maxPing = Math.max(maxPing, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  const reqs = Array.from({ length: 300 }, (_, i) => encodeFrame({ k: FrameKind.request, xid: i + 1, req: { op: OpCode.getAllChildrenNumber, path: '/' } }));
  ws.send(packArray(reqs));
  await allAnswered;
  const attackMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 500));
  pinging = false;
  await pings;
  const after = await getServerStatus(at).catch(() => null);
  console.log(JSON.stringify({
    root, znodes: ZNODES, attackMs: Math.round(attackMs), longestPingMs: Math.round(maxPing),
    leaderStillLeads: after?.role === 'leader' && after.epoch === epoch,
  }));
  ws.terminate();
  await pinger.close();
  await writer.close();
} finally {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
