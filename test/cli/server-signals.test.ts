// `zabkit server` asked to stop while it is still recovering a long txn log.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '@zabkit/client';
import { FileEpochStore, FileTxnLog, encodeTxn, type Txn } from '@zabkit/server';
import { BIN_PATH, freePort } from 'zabkit';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const zx = (i: number) => (1n << 32n) | BigInt(i);

/**
 * A data dir whose log holds /big and `children` nodes under it (epoch 1), in 1 MiB segments so that
 * recovery reads many of them, written through the storage layer (a client would take minutes).
 */
async function dataDirWithLog(children: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'zabkit-sigterm-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const epochs = new FileEpochStore(join(dir, 'snap'));
  await epochs.setAcceptedEpoch(1);
  await epochs.setCurrentEpoch(1);
  const log = new FileTxnLog({ dir, maxSegmentBytes: 1024 * 1024 });
  await log.open(0n);
  const txn = (i: number, body: Txn['body']): Txn => ({ hdr: { sessionId: 0n, cxid: i, zxid: zx(i), time: 1_000 }, body });
  log.append([{ zxid: zx(1), bytes: encodeTxn(txn(1, { type: 'create', path: '/big', data: null, ephemeralOwner: 0n, kind: 'normal', parentCVersion: 1, parentSeq: 1 })) }]);
  for (let k = 0; k < children; k += 10_000) {
    const batch = [];
    for (let c = k; c < Math.min(children, k + 10_000); c++) {
      const body: Txn['body'] = { type: 'create', path: `/big/n${c}`, data: new TextEncoder().encode(`v${c}`), ephemeralOwner: 0n, kind: 'normal', parentCVersion: c + 1, parentSeq: c + 1 };
      batch.push({ zxid: zx(c + 2), bytes: encodeTxn(txn(c + 2, body)) });
    }
    log.append(batch);
    await log.flush();
  }
  await log.close();
  return dir;
}

/** A `zabkit server` process with its log lines (stderr) collected as they come. */
class ServerProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private readonly waiters: { re: RegExp; resolve(line: string): void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(configFile: string) {
    this.child = spawn(process.execPath, [BIN_PATH, 'server', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    cleanups.push(async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      await this.exited;
    });
    let buffered = '';
    this.child.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.lines.push(line);
        for (const w of this.waiters.filter((x) => x.re.test(line))) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }

  /** The first log line matching `re` (already printed or still to come); rejects if the process exits first. */
  line(re: RegExp): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return Promise.race([
      new Promise<string>((resolve) => this.waiters.push({ re, resolve })),
      this.exited.then((e) => Promise.reject(new Error(`server exited (${JSON.stringify(e)}) before logging ${re}:\n${this.lines.join('\n')}`))),
    ]);
  }

  has(re: RegExp): boolean {
    return this.lines.some((l) => re.test(l));
  }
}

describe('zabkit server and SIGTERM during startup', () => {
  it('a SIGTERM while the log is being recovered stops it cleanly with exit code 0; a restart recovers every txn', async () => {
    const children = 200_000;
    const dir = await dataDirWithLog(children);
    const configFile = join(dir, 'zoo.cfg');
    const port = await freePort();
    await writeFile(configFile, `dataDir=${dir}\nclientPort=${port}\ntickTime=200\n`);

    const first = new ServerProcess(configFile);
    await first.line(/recovering the txn log in /);
    first.child.kill('SIGTERM');
    expect(await first.exited, first.lines.join('\n')).toEqual({ code: 0, signal: null });
    expect(first.has(/SIGTERM received, shutting down/)).toBe(true);
    expect(first.has(/server stopped before it started serving/)).toBe(true);
    // stopped within recovery: it never finished it, let alone served
    expect(first.has(/recovered \d+ txn/), first.lines.join('\n')).toBe(false);
    expect(first.has(/listening on/)).toBe(false);

    const second = new ServerProcess(configFile);
    await second.line(/ ready on /);
    expect(await second.line(/recovered \d+ txn/)).toMatch(new RegExp(`recovered ${children + 1} txn\\(s\\) after no snapshot; last zxid 0x${zx(children + 1).toString(16)}`));
    const client = await connect(`127.0.0.1:${port}`);
    cleanups.push(() => client.close({ timeoutMs: 200 }));
    expect((await client.exists('/big'))!.numChildren).toBe(children);
    for (const c of [0, 12_345, children - 1]) expect((await client.getString(`/big/n${c}`)).data).toBe(`v${c}`);
    await client.close();
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});
