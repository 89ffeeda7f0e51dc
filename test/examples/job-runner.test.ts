import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaleTokenError, start, type JobResult, type JobRunner } from '../../examples/job-runner/src/index.js';
import { startTestCluster, type TestCluster } from '../support/cluster.js';

/** Collects a runner's log lines; `next(re)` resolves on the first line (already seen or later) matching `re`. */
function logSink() {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  return {
    lines,
    log: (line: string) => {
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.re.test(line)) w.resolve(line);
        else waiters.push(w);
      }
    },
    next: (re: RegExp) =>
      new Promise<string>((resolve) => {
        const seen = lines.find((l) => re.test(l));
        if (seen) resolve(seen);
        else waiters.push({ re, resolve });
      }),
  };
}

async function post(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('examples/job-runner on a 3-node cluster', () => {
  let tc: TestCluster;
  const runners: JobRunner[] = [];
  beforeAll(async () => {
    tc = await startTestCluster();
  });
  afterAll(async () => {
    await Promise.all(runners.map((r) => r.close()));
    await tc?.close();
  });

  it('two runners contend for one job: never both inside, every write fenced with a larger token', async () => {
    const root = '/t/job-runner/contend';
    let inside = 0;
    let maxInside = 0;
    const log = (line: string) => {
      if (/holds the lock/.test(line)) maxInside = Math.max(maxInside, ++inside);
      if (/wrote the result/.test(line)) inside--;
    };
    const a = await start(tc.connectString, { id: 'runner-a', root, workMs: 30, log });
    const b = await start(tc.connectString, { id: 'runner-b', root, workMs: 30, log });
    runners.push(a, b);

    const results: JobResult[] = [];
    await Promise.all(
      [a, b].map(async (r) => {
        for (let i = 0; i < 3; i++) {
          const { status, body } = await post(`${r.url}/jobs/report`);
          expect(status).toBe(200);
          results.push(body as unknown as JobResult);
        }
      }),
    );
    expect(maxInside).toBe(1);
    expect(results).toHaveLength(6);
    const tokens = results.map((r) => BigInt(r.token));
    expect(new Set(tokens).size).toBe(6);
    // the store holds the write of the last holder: the largest token
    const max = tokens.reduce((x, y) => (y > x ? y : x));
    await a.client.sync(`${root}/results`); // the last write may have been b's, through another server
    const stored = (await (await fetch(`${a.url}/jobs/report`)).json()) as { token: string };
    expect(BigInt(stored.token)).toBe(max);
  });

  it('the store refuses a write with a stale token and keeps the later result', async () => {
    const root = '/t/job-runner/stale';
    const a = await start(tc.connectString, { id: 'runner-a', root, workMs: 0, log: () => {} });
    const b = await start(tc.connectString, { id: 'runner-b', root, workMs: 0, log: () => {} });
    runners.push(a, b);
    const first = (await post(`${a.url}/jobs/invoice-7`)).body as unknown as JobResult;
    const second = (await post(`${b.url}/jobs/invoice-7`)).body as unknown as JobResult;
    expect(BigInt(second.token)).toBeGreaterThan(BigInt(first.token));

    // runner-a, paused past its lease, comes back and writes with its old token
    await expect(a.store.write('invoice-7', BigInt(first.token), { runner: 'runner-a', late: true })).rejects.toBeInstanceOf(StaleTokenError);
    const res = await fetch(`${a.url}/jobs/invoice-7`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ token: second.token, value: { runner: 'runner-b' } });
    // an equal or larger token is accepted (the holder may write several times)
    await b.store.write('invoice-7', BigInt(second.token), { runner: 'runner-b', again: true });
  });

  it('lease.signal: a runner whose lock node disappears mid-job stops and writes nothing (409)', async () => {
    const root = '/t/job-runner/lost';
    const sink = logSink();
    const a = await start(tc.connectString, { id: 'runner-a', root, workMs: 20_000, log: sink.log });
    runners.push(a);
    const admin = await tc.client();
    const reply = post(`${a.url}/jobs/migrate`);
    await sink.next(/runner-a: holds the lock of migrate/);
    // what an expired session does to the lock: its node is gone
    await admin.sync(`${root}/locks/migrate`); // admin connected before runner-a took the lock
    const [node] = await admin.getChildren(`${root}/locks/migrate`);
    await admin.delete(`${root}/locks/migrate/${node}`);
    const { status, body } = await reply;
    expect(status).toBe(409);
    expect(String(body.error)).toMatch(/lost the lock of migrate/);
    expect((await fetch(`${a.url}/jobs/migrate`)).status).toBe(404);
    expect(sink.lines.some((l) => /wrote the result of migrate/.test(l))).toBe(false);
  });

  it('answers 404 for an unknown route or job', async () => {
    const a = await start(tc.connectString, { id: 'runner-a', root: '/t/job-runner/404', log: () => {} });
    runners.push(a);
    expect((await fetch(`${a.url}/jobs/nothing`)).status).toBe(404);
    expect((await fetch(`${a.url}/elsewhere`)).status).toBe(404);
  });
});
