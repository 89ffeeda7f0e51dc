import { connect, type ZabClient } from '@zabkit/client';
import { publish } from '@zabkit/config';
import { FifoQueue } from '@zabkit/queue';
import { start as startConfigReload } from '@zabkit-examples/config-reload';
import { start as startJobRunner, type JobResult } from '@zabkit-examples/job-runner';
import { start as startScheduler, type Scheduler } from '@zabkit-examples/scheduler';
import { startCaller, startService } from '@zabkit-examples/service-discovery';

interface Closable {
  close(): Promise<void>;
}

/**
 * A short tour of the recipes, run by the example services in `examples/`:
 * config reload, a lock per job with fenced writes, a scheduler that runs only
 * on the leader, service discovery, and a FIFO queue. Everything lives under
 * one fresh root node, deleted at the end with every client and server.
 */
export async function runDemo(connectString: string, print: (line: string) => void): Promise<void> {
  const root = `/demo-${Date.now().toString(36)}`;
  const log = (line: string) => print(`   ${line}`);
  const admin = await connect(connectString, { sessionTimeoutMs: 10_000 });
  const open: Closable[] = [];
  const track = <T extends Closable>(handle: T): T => (open.push(handle), handle);
  const stop = async (handle: Closable): Promise<void> => {
    open.splice(open.indexOf(handle), 1);
    await handle.close();
  };
  try {
    print(`demo root ${root}`);

    // 1. Config: the service answers from its ConfigWatcher; a publish changes the next answer.
    print('1. config: an HTTP service reloads when its config is published');
    const configPath = `${root}/config/greeting`;
    const web = track(await startConfigReload(connectString, { configPath, log }));
    print(`   GET / -> ${await get(`${web.url}/`)}`);
    const reloaded = web.watcher.waitFor((c) => c?.greeting === 'bonjour', { timeoutMs: 5_000 });
    print(`   publish ${configPath} = {"greeting":"bonjour","audience":"zabkit"}`);
    await publish(admin, configPath, { greeting: 'bonjour', audience: 'zabkit' });
    await reloaded;
    print(`   GET / -> ${await get(`${web.url}/`)}`);
    const refused = new Promise((resolve) => web.watcher.once('invalid', resolve));
    print(`   publish ${configPath} = {"greeting":42}`);
    await publish(admin, configPath, { greeting: 42 });
    await refused;
    print(`   GET / -> ${await get(`${web.url}/`)}`);
    await stop(web);

    // 2. Lock: two runners want the same job; the lock serialises them, the store fences writes.
    print('2. lock: two job runners contend for the lock of one job, every write carries its fencing token');
    const runners = [
      track(await startJobRunner(connectString, { id: 'runner-a', root: `${root}/jobs`, workMs: 300, log })),
      track(await startJobRunner(connectString, { id: 'runner-b', root: `${root}/jobs`, workMs: 300, log })),
    ];
    print('   runner-a and runner-b: POST /jobs/nightly-report at the same time');
    const results = await Promise.all(runners.map(async (r) => JSON.parse(await post(`${r.url}/jobs/nightly-report`)) as JobResult));
    const [first, last] = results.sort((x, y) => (BigInt(x.token) < BigInt(y.token) ? -1 : 1));
    const store = runners[0]!.store;
    print(`   store: nightly-report = ${JSON.stringify(await store.read('nightly-report'))}`);
    try {
      await store.write('nightly-report', BigInt(first!.token), { runner: first!.runner, late: true });
      throw new Error('the stale write was accepted');
    } catch (err) {
      if ((err as Error).name !== 'StaleTokenError') throw err;
      print(`   a late write by ${first!.runner} with its old token ${first!.token} is refused: ${(err as Error).message}`);
    }
    print(`   the result stays ${last!.runner}'s (token ${last!.token})`);
    for (const r of runners) await stop(r);

    // 3. Leader: three schedulers, only the leader ticks; closing its latch moves leadership.
    print('3. leader: three schedulers, the task runs only on the leader');
    const schedulers: Scheduler[] = [];
    for (const id of ['scheduler-1', 'scheduler-2', 'scheduler-3']) {
      schedulers.push(track(await startScheduler(connectString, { id, latchPath: `${root}/scheduler`, intervalMs: 200, task: () => {}, log })));
    }
    const leader = await firstLeader(schedulers);
    for (const s of schedulers) print(`   GET ${s.id}/status -> ${await get(`${s.url}/status`)}`);
    print(`   ${leader.id} steps down: latch.close({ handOn: true })`);
    const rest = schedulers.filter((s) => s !== leader);
    await stop(leader);
    await firstLeader(rest);
    for (const s of rest) print(`   GET ${s.id}/status -> ${await get(`${s.url}/status`)}`);
    for (const s of rest) await stop(s);

    // 4. Discovery: the caller follows the registry; the service leaves, the caller stops routing to it.
    print('4. discovery: a service registers itself, a caller finds it through ServiceCache + Provider');
    const basePath = `${root}/services`;
    const caller = track(await startCaller(connectString, { basePath, log }));
    print(`   GET caller/call -> ${await get(`${caller.url}/call`)}`);
    const appeared = caller.cache.waitFor((list) => list.some((i) => i.id === 'hello-1'), { timeoutMs: 5_000 });
    const hello = track(await startService(connectString, { id: 'hello-1', basePath, log }));
    await appeared;
    print(`   GET caller/call -> ${await get(`${caller.url}/call`)}`);
    const gone = caller.cache.waitFor((list) => list.length === 0, { timeoutMs: 10_000 });
    await stop(hello);
    await gone;
    print(`   GET caller/call -> ${await get(`${caller.url}/call`)}`);
    await stop(caller);

    // 5. Queue: a producer puts, a consumer in another session takes in FIFO order.
    print('5. queue: a producer puts three items, a consumer in another session takes them in order');
    const worker = track(await connect(connectString, { sessionTimeoutMs: 10_000 }));
    const producer = new FifoQueue<{ email: string }>(admin, `${root}/queue`);
    const consumer = new FifoQueue<{ email: string }>(worker, `${root}/queue`);
    for (const email of ['ada@example.com', 'bob@example.com', 'cy@example.com']) {
      const node = await producer.put({ email });
      print(`   put ${email} -> ${/item-\d+$/.exec(node)?.[0] ?? node}`);
    }
    const taken: string[] = [];
    for (let i = 0; i < 3; i++) taken.push((await consumer.take({ timeoutMs: 5_000 })).email);
    await admin.sync(`${root}/queue`); // the takes went through the worker's server
    print(`   took ${taken.join(', ')}; queue size now ${await producer.size()}`);
    await producer.close();
    await consumer.close();
    await stop(worker);
  } finally {
    for (const handle of open.reverse()) await handle.close().catch(() => {});
    // (a sync first: the demo's other sessions wrote through other servers)
    await admin
      .sync(root)
      .then(() => deleteTree(admin, root))
      .catch(() => {});
    await admin.close().catch(() => {});
  }
  print(`cleaned up: ${root} deleted, every session and HTTP server closed. demo done.`);
}

/** The first of `schedulers` to lead (the latch makes sure there is exactly one). */
async function firstLeader(schedulers: Scheduler[]): Promise<Scheduler> {
  const ac = new AbortController();
  try {
    return await Promise.any(schedulers.map((s) => s.waitForLeadership({ timeoutMs: 10_000, signal: ac.signal }).then(() => s)));
  } finally {
    ac.abort();
  }
}

async function get(url: string): Promise<string> {
  const res = await fetch(url);
  return `${res.status} ${await res.text()}`;
}

async function post(url: string): Promise<string> {
  const res = await fetch(url, { method: 'POST' });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return res.text();
}

/** Deletes `path` and everything under it, as this client's server sees it (sync first to see all). */
async function deleteTree(client: ZabClient, path: string): Promise<void> {
  for (const child of await client.getChildren(path)) await deleteTree(client, `${path}/${child}`);
  await client.delete(path);
}
