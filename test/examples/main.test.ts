// Each example's main.ts (built: examples/<name>/dist/main.js) as a reader runs it: env in, URL out, SIGTERM stops it cleanly.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../support/cluster.js';

const running = new Set<ReturnType<typeof spawn>>();
const mainOf = (name: string) => fileURLToPath(new URL(`../../examples/${name}/dist/main.js`, import.meta.url));

/** Starts a main with ZABKIT_CONNECT; resolves with its URL (first `listening on <url>` line) and a stop() giving the exit code. */
async function run(name: string, env: Record<string, string>): Promise<{ url: string; line(re: RegExp): Promise<string>; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [mainOf(name)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    output.push(text);
    for (const w of waiters) if (w.re.test(text)) (waiters.delete(w), w.resolve(text));
  });
  child.stderr!.on('data', (d) => output.push(String(d)));
  /** The first stdout line (already printed or later) matching `re`; rejects if the process exits first. */
  const line = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const seen = output.find((l) => re.test(l));
      if (seen !== undefined) return resolve(seen);
      waiters.add({ re, resolve });
      void exited.then((code) => reject(new Error(`${name} exited (${code}) before printing ${re}:\n${output.join('\n')}`)));
    });
  const url = /listening on (http:\/\/[^\s,]+)/.exec(await line(/listening on http/))![1]!;
  return {
    url,
    line,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('examples/*/main.ts on a 3-node cluster', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await startTestCluster();
  });
  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL'); // only if a test failed before stop()
    await tc?.close();
  });

  it('job-runner: POST runs the job, GET shows the fenced result', async () => {
    const p = await run('job-runner', { ZABKIT_CONNECT: tc.connectString, RUNNER_ID: 'main-runner' });
    const res = await fetch(`${p.url}/jobs/j1`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await (await fetch(`${p.url}/jobs/j1`)).json()).toMatchObject({ key: 'j1', value: { runner: 'main-runner' } });
    expect(await p.stop()).toBe(0);
  });

  it('scheduler: the only scheduler leads', async () => {
    const p = await run('scheduler', { ZABKIT_CONNECT: tc.connectString, SCHEDULER_ID: 'main-s' });
    await p.line(/main-s: became leader/);
    expect(await (await fetch(`${p.url}/status`)).json()).toMatchObject({ id: 'main-s', leader: true, leaderId: 'main-s' });
    expect(await p.stop()).toBe(0);
  });

  it('service-discovery: the caller reaches the instance running next to it', async () => {
    const p = await run('service-discovery', { ZABKIT_CONNECT: tc.connectString });
    const res = await fetch(`${p.url}/call`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ response: { message: expect.stringMatching(/^hello from hello-\d+$/) } });
    expect(await p.stop()).toBe(0);
  });

  it('config-reload: answers from the config node', async () => {
    const p = await run('config-reload', { ZABKIT_CONNECT: tc.connectString, CONFIG_PATH: '/t/main/greeting' });
    expect(await (await fetch(`${p.url}/`)).json()).toEqual({ message: 'hello, world!', configVersion: -1 });
    expect(await p.stop()).toBe(0);
  });
});
