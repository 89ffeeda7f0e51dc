import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN_PATH, LocalCluster } from 'zabkit';

const run = promisify(execFile);

/** Runs the built CLI; resolves with exit code and output instead of throwing. */
async function zabkit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN_PATH, ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('zabkit CLI against a real server', () => {
  let cluster: LocalCluster;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zabkit-cli-'));
    cluster = new LocalCluster({ nodes: 1, dataDir: dir });
    await cluster.start();
  });

  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('shell -c runs one command and exits 0 on success', async () => {
    const cs = cluster.connectString;
    expect((await zabkit('shell', cs, '-c', 'create /cli "hello world"')).stdout).toContain('Created /cli');
    const got = await zabkit('shell', cs, '-c', 'get /cli');
    expect(got).toMatchObject({ code: 0 });
    expect(got.stdout.trim()).toBe('hello world');
    const set = await zabkit('shell', cs, '-c', 'set /cli again -v 0');
    expect(set.stdout).toContain('version 1');
    expect((await zabkit('shell', cs, '-c', 'create -s /cli/item- x')).stdout).toContain('Created /cli/item-0000000000');
    expect((await zabkit('shell', cs, '-c', 'ls /cli')).stdout.trim()).toBe('[item-0000000000]');
    const stat = await zabkit('shell', cs, '-c', 'stat /cli');
    expect(stat.stdout).toMatch(/dataVersion = 1/);
    expect(stat.stdout).toMatch(/numChildren = 1/);
    expect((await zabkit('shell', cs, '-c', 'deleteall /cli')).stdout).toContain('deleted 2 node(s)');
  });

  it('shell -c exits non-zero with the error code name on failure', async () => {
    const cs = cluster.connectString;
    const missing = await zabkit('shell', cs, '-c', 'get /does/not/exist');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('NoNode');
    await zabkit('shell', cs, '-c', 'create /versioned v');
    const badVersion = await zabkit('shell', cs, '-c', 'set /versioned w -v 7');
    expect(badVersion.code).not.toBe(0);
    expect(badVersion.stderr).toContain('BadVersion');
    const badPath = await zabkit('shell', cs, '-c', 'create /a//b');
    expect(badPath.code).not.toBe(0);
    expect(badPath.stderr).toContain('BadArguments');
    const unknown = await zabkit('shell', cs, '-c', 'frobnicate /x');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown command');
  });

  it('an ephemeral made by shell -c goes away with its session', async () => {
    const cs = cluster.connectString;
    expect((await zabkit('shell', cs, '-c', 'create -e /eph x')).code).toBe(0);
    // The one-shot shell closed its session on exit, which deletes its ephemerals.
    expect((await zabkit('shell', cs, '-c', 'stat /eph')).stderr).toContain('NoNode');
  });

  it('status reports role, zxid and counts without a session', async () => {
    const out = await zabkit('status', cluster.connectString);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/server 1 +standalone +epoch \d+ +zxid 0x[0-9a-f]+ +sessions \d+/);
    // the server process's memory: a live RSS, and a heap in use no larger than the heap
    const m = /rss (\d+\.\d) MB +heap (\d+\.\d)\/(\d+\.\d) MB/.exec(out.stdout);
    expect(m).not.toBeNull();
    const [rss, used, total] = m!.slice(1).map(Number) as [number, number, number];
    expect(rss).toBeGreaterThan(10);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(total);
  });

  it('status exits 1 and says so when a server is unreachable', async () => {
    const out = await zabkit('status', '127.0.0.1:1');
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('unreachable');
  });

  it('server refuses an invalid config, naming the key', async () => {
    const cfg = join(dir, 'bad.cfg');
    await writeFile(cfg, `dataDir=${join(dir, 'bad')}\ntickTime=fast\n`);
    const out = await zabkit('server', '--config', cfg);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('tickTime');
  });
});
