import { once } from '../../../test/support/once.js';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionLossError, connect, type Op, type ZabClient } from '@zabkit/client';
import { FifoQueue, bytesCodec, type Lease } from '@zabkit/queue';
import { startTestCluster, type TestCluster } from '../../../test/support/cluster.js';
import { Proxy } from '../../../test/support/proxy.js';

let tc: TestCluster;
let zk: ZabClient;
let n = 0;
const fresh = (): string => `/queues/q${++n}`;

beforeAll(async () => {
  tc = await startTestCluster();
  zk = await tc.client();
});
afterAll(async () => {
  await tc?.close();
});

describe('FifoQueue', () => {
  it('put / peek / size / take in FIFO order; JSON by default, raw bytes with bytesCodec', async () => {
    const path = fresh();
    const q = new FifoQueue<{ n: number }>(zk, path);
    expect(await q.size()).toBe(0);
    expect(await q.peek()).toBeUndefined();
    expect(await q.tryTake()).toBeUndefined();
    for (let i = 0; i < 5; i++) await q.put({ n: i });
    expect(await q.size()).toBe(5);
    expect(await q.peek()).toEqual({ n: 0 });
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push((await q.take({ timeoutMs: 5_000 })).n);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(await q.size()).toBe(0);
    expect(await zk.getChildren(path)).toEqual([]);

    const raw = new FifoQueue(zk, fresh(), { codec: bytesCodec, prefix: 'blob-' });
    const itemPath = await raw.put(new Uint8Array([0, 255, 7]));
    expect(itemPath).toMatch(/blob-\d{10}$/);
    expect(await raw.take()).toEqual(new Uint8Array([0, 255, 7]));
  });

  it('an undecodable item makes take reject with MarshallingError and stays at the head', async () => {
    const path = fresh();
    const q = new FifoQueue<number>(zk, path);
    await q.put(1);
    await zk.create(`${path}/item-`, '{not json', { mode: 'persistent-sequential' });
    expect(await q.take()).toBe(1);
    await expect(q.take({ timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'MarshallingError' });
    expect(await q.size()).toBe(1);
    const raw = new FifoQueue(zk, path, { codec: bytesCodec });
    expect(new TextDecoder().decode(await raw.take())).toBe('{not json');
  });

  it('a blocked take wakes up on a put from another session', async () => {
    const path = fresh();
    const producer = await tc.client();
    const consumerQ = new FifoQueue<string>(zk, path);
    const taking = consumerQ.take({ timeoutMs: 10_000 });
    // still blocked a while later: the queue is empty
    expect(await Promise.race([taking, delay(300).then(() => 'pending')])).toBe('pending');
    await new FifoQueue<string>(producer, path).put('hello');
    expect(await taking).toBe('hello');
    expect(await consumerQ.size()).toBe(0);
  });

  it('take rejects on timeout, abort and close, and leaves later items alone', async () => {
    const q = new FifoQueue<number>(zk, fresh());
    const t0 = Date.now();
    await expect(q.take({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'OperationTimeout' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);

    const ac = new AbortController();
    const aborted = q.take({ signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'Aborted' });
    await expect(q.take({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'Aborted' });

    const pending = q.take();
    await q.close();
    await expect(pending).rejects.toMatchObject({ code: 'Closed' });
    await expect(q.put(1)).rejects.toMatchObject({ code: 'Closed' });

    // nothing was consumed by the aborted takes
    const q2 = new FifoQueue<number>(zk, q.path);
    await q2.put(42);
    expect(await q2.take({ timeoutMs: 5_000 })).toBe(42);
  });

  it('4 producers and 4 consumers on separate sessions: no item lost, none delivered twice, per-producer order kept', async () => {
    const path = fresh();
    const PER_PRODUCER = 40;
    const TOTAL = 4 * PER_PRODUCER;
    const producers = await Promise.all([0, 1, 2, 3].map(() => tc.client()));
    const consumers = await Promise.all([0, 1, 2, 3].map(() => tc.client()));
    type Item = { p: number; i: number };
    const received: Item[][] = [[], [], [], []];
    let total = 0;
    const done = new AbortController();

    const consuming = consumers.map(async (c, ci) => {
      const q = new FifoQueue<Item>(c, path);
      for (;;) {
        let item: Item;
        try {
          item = await q.take({ signal: done.signal, timeoutMs: 20_000 });
        } catch (err) {
          if (done.signal.aborted) return;
          throw err;
        }
        received[ci]!.push(item);
        if (++total === TOTAL) done.abort();
      }
    });
    await Promise.all(
      producers.map(async (c, p) => {
        const q = new FifoQueue<Item>(c, path);
        for (let i = 0; i < PER_PRODUCER; i++) await q.put({ p, i });
      }),
    );
    await Promise.all(consuming);

    const all = received.flat();
    expect(all).toHaveLength(TOTAL);
    const keys = new Set(all.map((x) => `${x.p}/${x.i}`));
    expect(keys.size).toBe(TOTAL);
    // each consumer sees each producer's items in the order they were put
    for (const mine of received) {
      for (let p = 0; p < 4; p++) {
        const seq = mine.filter((x) => x.p === p).map((x) => x.i);
        expect(seq).toEqual([...seq].sort((a, b) => a - b));
      }
    }
    expect(received.filter((r) => r.length > 0).length).toBeGreaterThan(1);
    await zk.sync(path); // the takes were made by other sessions, maybe through other servers
    expect(await zk.getChildren(path)).toEqual([]);
  });

  it('a put whose reply is lost after a consumer already took the item is not created again (no duplicate)', async () => {
    const path = fresh();
    const producer = await tc.client();
    const consumer = new FifoQueue<string>(await tc.client(), path);
    const q = new FifoQueue<string>(producer, path);
    await q.put('warm-up');
    expect(await consumer.take({ timeoutMs: 5_000 })).toBe('warm-up');
    // fault injection: the create is applied, a consumer takes the item, and only then the producer sees ConnectionLoss
    const create = producer.create.bind(producer);
    let injected = 0;
    producer.create = async (...args: Parameters<ZabClient['create']>) => {
      const made = await create(...args);
      if (injected++ === 0) {
        expect(await consumer.take({ timeoutMs: 5_000 })).toBe('once');
        throw new ConnectionLossError('reply lost (injected)');
      }
      return made;
    };
    const put = await q.put('once');
    expect(injected).toBe(1); // the retry found the tombstone instead of creating the item again
    expect(put.startsWith(`${path}/`)).toBe(true);
    expect(await consumer.tryTake()).toBeUndefined();
    expect(await q.size()).toBe(0);
  });

  it('lost replies of the claim and of the final delete: the item is delivered once, no lock is left behind', async () => {
    const path = fresh();
    const c = await tc.client();
    const q = new FifoQueue<string>(c, path);
    await q.put('x');
    await q.put('y');
    // fault injection: the multi is applied by the ensemble, but the caller sees ConnectionLoss (a lost reply)
    const lost: string[] = [];
    const multi = c.multi.bind(c);
    c.multi = async (ops: readonly Op[], options) => {
      const kind = ops.some((o) => o.type === 'check') ? 'claim' : 'remove';
      const result = await multi(ops, options);
      if (!lost.includes(kind)) {
        lost.push(kind);
        throw new ConnectionLossError('reply lost (injected)');
      }
      return result;
    };
    expect(await q.take({ timeoutMs: 5_000 })).toBe('x');
    expect(lost).toEqual(['claim', 'remove']);
    expect(await q.take({ timeoutMs: 5_000 })).toBe('y');
    await zk.sync(path);
    expect(await zk.getChildren(path)).toEqual([]);
  });

  it('takes that time out while their claim is in flight leave no claim behind: every item stays takeable', async () => {
    const path = fresh();
    const ITEMS = 150;
    const producer = new FifoQueue<number>(zk, path);
    for (let i = 0; i < ITEMS; i++) await producer.put(i);
    // One consumer session, many takes with timeouts of 1-25 ms: some time out before the claim, some
    // while its multi is on the wire (the orphan case), some succeed. Bounded: 400 attempts.
    const c = await tc.client();
    const q = new FifoQueue<number>(c, path);
    const taken: number[] = [];
    let timedOut = 0;
    for (let attempt = 0; attempt < 400 && taken.length < ITEMS; attempt++) {
      try {
        taken.push(await q.take({ timeoutMs: 1 + (attempt % 25) }));
      } catch (err) {
        expect((err as { code?: string }).code).toBe('OperationTimeout');
        timedOut++;
      }
    }
    expect(timedOut).toBeGreaterThan(0);
    // The consumer's session is still alive: an orphaned claim would hide its item from everyone else.
    await c.sync(path);
    const children = await c.getChildren(path);
    expect(children.filter((name) => name.endsWith('.lock'))).toEqual([]);
    const rest: number[] = [];
    for (let v = await producer.tryTake(); v !== undefined; v = await producer.tryTake()) rest.push(v);
    expect([...taken, ...rest].sort((a, b) => a - b)).toEqual([...Array(ITEMS).keys()]);
  });

  describe('leases (at-least-once)', () => {
    it('a leased item is hidden from others until acked; release puts it back at the head', async () => {
      const path = fresh();
      const other = await tc.client();
      const q = new FifoQueue<string>(zk, path);
      const q2 = new FifoQueue<string>(other, path);
      await q.put('a');
      await q.put('b');
      const lease = await q.take({ lease: true, timeoutMs: 5_000 });
      expect(lease.value).toBe('a');
      expect(lease.state).toBe('held');
      expect(await q.size()).toBe(2); // not done until acked
      await other.sync(path); // the puts and the lease were made through zk
      expect(await q2.peek()).toBe('b');
      {
        await using lb = await q2.take({ lease: true, timeoutMs: 5_000 });
        expect(lb.value).toBe('b');
        expect(await q2.tryTake()).toBeUndefined();
      } // disposed without ack: released
      await lease.release();
      expect(lease.state).toBe('released');
      // take syncs first, so the release made through zk's server is seen and 'a' comes before 'b'
      expect(await q2.take({ timeoutMs: 5_000 })).toBe('a');
      expect(await q2.take({ timeoutMs: 5_000 })).toBe('b');
      await zk.sync(path);
      expect(await zk.getChildren(path)).toEqual([]);

      // closing a queue handle gives its unacked leases back and tells their holders
      await q.put('c');
      const lc = await q2.take({ lease: true, timeoutMs: 5_000 });
      await q2.close();
      expect(lc.signal.aborted).toBe(true);
      expect(lc.state).toBe('lost');
      expect(await q.take({ timeoutMs: 5_000 })).toBe('c');
    });

    it("a dead consumer's unacked item is redelivered; an acked one never is", async () => {
      const path = fresh();
      const proxy = await Proxy.start(tc.cluster.node(1).clientPort);
      const dying = await connect(proxy.address, { sessionTimeoutMs: 1_500, shuffle: false });
      try {
        const qDying = new FifoQueue<string>(dying, path);
        const q = new FifoQueue<string>(zk, path);
        await q.put('acked');
        await q.put('unacked');
        const first = await qDying.take({ lease: true, timeoutMs: 5_000 });
        expect(first.value).toBe('acked');
        await first.ack();
        expect(first.state).toBe('acked');
        const second = await qDying.take({ lease: true, timeoutMs: 5_000 });
        expect(second.value).toBe('unacked');

        // a live consumer waits: the only item is leased
        const redelivered: Promise<Lease<string>> = q.take({ lease: true, timeoutMs: 20_000 });
        const suspended = once(dying, 'suspended');
        proxy.cut(); // the dying consumer's session expires on the servers
        await suspended;
        const lease = await redelivered;
        expect(lease.value).toBe('unacked');

        // the old holder is told once it learns its session is gone
        const expired = once(dying, 'expired');
        proxy.restore();
        await expired;
        expect(second.signal.aborted).toBe(true);
        expect(second.state).toBe('lost');
        await expect(second.ack()).rejects.toMatchObject({ code: 'SessionExpired' });

        await lease.ack();
        expect(await q.tryTake()).toBeUndefined();
        expect(await zk.getChildren(path)).toEqual([]);
      } finally {
        await dying.close().catch(() => {});
        await proxy.close();
      }
    });
  });

  it('the README example is the tested one, and it works', async () => {
    const source = await readFile(new URL('./readme-example.ts', import.meta.url), 'utf8');
    const region = /\/\/ #region readme\n([\s\S]*?)\/\/ #endregion readme/.exec(source)?.[1];
    expect(region).toBeDefined();
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('```ts\n' + region + '```');
    process.env.ZABKIT_SERVERS = tc.connectString;
    const ex = await import('./readme-example.js');
    expect(ex.first).toEqual({ to: 'ada@example.com', subject: 'welcome' });
    expect(ex.lease.value).toEqual({ to: 'bob@example.com', subject: 'welcome' });
    expect(ex.lease.state).toBe('acked');
    await zk.sync('/queues/mail'); // the example used its own session
    expect(await zk.getChildren('/queues/mail')).toEqual([]);
  });

  it("the consumer's server is killed (-9) while it holds a lease and waits in take: both carry over", async () => {
    const path = fresh();
    const c = await tc.client();
    const other = await tc.client();
    const q = new FifoQueue<string>(c, path);
    await q.put('a');
    const lease = await q.take({ lease: true, timeoutMs: 5_000 });
    const waiting = q.take({ timeoutMs: 20_000 });
    const victim = [1, 2, 3].find((id) => tc.cluster.address(id) === c.serverAddress)!;
    expect(victim).toBeDefined();
    const reconnected = once(c, 'reconnected');
    await tc.cluster.kill(victim);
    await reconnected; // same session, another server
    await new FifoQueue<string>(other, path).put('b');
    expect(await waiting).toBe('b'); // the watch was re-registered on the new server
    expect(await new FifoQueue<string>(other, path).tryTake()).toBeUndefined(); // 'a' is still leased
    await lease.ack();
    await zk.sync(path);
    expect(await zk.getChildren(path)).toEqual([]);
    await tc.cluster.startNode(victim);
  });

  // Last: it restarts the whole cluster.
  it('items survive a full cluster restart, in order', async () => {
    const path = fresh();
    const q = new FifoQueue<number>(zk, path);
    for (let i = 0; i < 5; i++) await q.put(i);
    await tc.cluster.stop();
    await Promise.all([1, 2, 3].map((id) => tc.cluster.startNode(id)));
    await tc.cluster.waitForLeader({ timeoutMs: 30_000 });
    const after = await tc.client();
    const q2 = new FifoQueue<number>(after, path);
    expect(await q2.size()).toBe(5);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push(await q2.take({ timeoutMs: 10_000 }));
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
