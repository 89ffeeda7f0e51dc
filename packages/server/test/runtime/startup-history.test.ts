// A server starts only from a history it can prove complete: snapshot + gap-free log, epochs present.
import { readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '@zabkit/client';
import { IncompleteHistoryError } from '../../src/runtime/history-guard.js';
import { startServer, type StartServerOptions } from '../../src/runtime/start-server.js';
import type { StartedServer } from '../../src/runtime/cluster-server.js';
import { recoverLog, segmentSpans } from '../../src/storage/segment-recovery.js';
import { afterTest, tempDir } from './helpers.js';

async function start(dataDir: string, opts: Partial<StartServerOptions> = {}): Promise<StartedServer> {
  const server = await startServer({ dataDir, clientPort: 0, clientPortAddress: '127.0.0.1', logger: false, ...opts });
  afterTest(() => server.close());
  return server;
}

/** A start expected to fail: its error (a server that started anyway is closed after the test). */
async function refused(dataDir: string, opts: Partial<StartServerOptions> = {}): Promise<Error> {
  const p = startServer({ dataDir, clientPort: 0, clientPortAddress: '127.0.0.1', logger: false, ...opts });
  p.then((s) => afterTest(() => s.close()), () => {});
  return p.then(
    () => new Error('the server started'),
    (err: Error) => err,
  );
}

const SNAPS = { snapCount: 50, snapRetainCount: 3 };

const names = async (dir: string, prefix: string) => (await readdir(dir)).filter((n) => n.startsWith(prefix) && !n.endsWith('.tmp')).sort();

/**
 * Creates under /h, 25 at a time, with a snapshot every 50 txns, until the snapshotter purged the
 * start of the log (at most 1500), then stops the server cleanly. Returns how many were created.
 */
async function populated(): Promise<{ dir: string; snapDir: string; logDir: string; count: number }> {
  const dir = await tempDir();
  const server = await start(dir, SNAPS);
  const c = await connect(server.connectString);
  await c.create('/h', null);
  let count = 0;
  // (snapshots run beside the writes: how soon the third one purges the log depends on the machine)
  while (count < 1500 && ((await names(dir, 'log.'))[0] === 'log.0000000100000001' || count < 300)) {
    await Promise.all(Array.from({ length: 25 }, (_, j) => c.create(`/h/n${count + j}`, `v${count + j}`)));
    count += 25;
  }
  await c.close();
  await server.close();
  return { dir, snapDir: join(dir, 'snap'), logDir: dir, count }; // (dataLogDir defaults to dataDir)
}


describe('startup refuses a data dir that is not a whole history', () => {
  it('every snapshot deleted after the old log was purged: refused, naming the gap and --rejoin-empty; files left as they were', async () => {
    const { dir, snapDir, logDir } = await populated();
    const segments = await names(logDir, 'log.');
    expect(segments[0]).not.toBe('log.0000000100000001'); // the start of the history was purged
    for (const s of await names(snapDir, 'snapshot.')) await unlink(join(snapDir, s));

    const err = await refused(dir, SNAPS);
    expect(err).toBeInstanceOf(IncompleteHistoryError);
    expect(err.message).toContain('no snapshot');
    expect(err.message).toContain(join(logDir, segments[0]!));
    expect(err.message).toContain('--rejoin-empty');
    expect(await names(logDir, 'log.')).toEqual(segments);

    // a standalone server has no leader to copy from: --rejoin-empty does not make it start empty
    const alone = await refused(dir, { ...SNAPS, rejoinEmpty: true });
    expect(alone.message).toMatch(/needs an ensemble/);
    expect(await names(logDir, 'log.')).toEqual(segments);
  });

  it('a deleted middle segment after the newest valid snapshot: refused, naming the segments on both sides', async () => {
    const { dir, snapDir, logDir } = await populated();
    const snaps = await names(snapDir, 'snapshot.');
    expect(snaps.length).toBeGreaterThanOrEqual(2);
    for (const s of snaps.slice(1)) await unlink(join(snapDir, s)); // the oldest one is the newest left
    const base = BigInt(`0x${snaps[0]!.slice('snapshot.'.length)}`);
    const spans = segmentSpans((await recoverLog(logDir, 0n)).segments);
    const k = spans.findIndex((s) => s.lastZxid > base);
    expect(spans.length).toBeGreaterThanOrEqual(k + 3);
    await unlink(spans[k + 1]!.name);

    const err = await refused(dir, SNAPS);
    expect(err).toBeInstanceOf(IncompleteHistoryError);
    expect(err.message).toContain(`a log segment is missing between ${spans[k]!.name}`);
    expect(err.message).toContain(spans[k + 2]!.name);
    expect(err.message).toContain('--rejoin-empty');
  });

  it('with the history whole (newest snapshots lost, older one and its log kept) the server starts with every znode', async () => {
    const { dir, snapDir, count } = await populated();
    const snaps = await names(snapDir, 'snapshot.');
    for (const s of snaps.slice(1)) await unlink(join(snapDir, s));
    const server = await start(dir, SNAPS);
    const c = await connect(server.connectString);
    expect((await c.getChildren('/h')).length).toBe(count);
    await c.close();
  });
});

describe('startup and the epoch files', () => {
  it('a brand-new data dir gets acceptedEpoch and currentEpoch written (as 0, then as the server moves on) before it serves', async () => {
    const dir = await tempDir();
    await start(dir);
    for (const f of ['acceptedEpoch', 'currentEpoch']) expect((await readFile(join(dir, 'snap', f), 'utf8')).trim()).toMatch(/^\d+$/);
  });

  it('missing, unreadable, or one of two: refused naming the file; the old currentEpoch of the ZAB crash window starts', async () => {
    const { dir, snapDir, count } = await populated();
    const current = join(snapDir, 'currentEpoch');
    const accepted = join(snapDir, 'acceptedEpoch');
    const epoch = Number((await readFile(current, 'utf8')).trim());
    expect(epoch).toBeGreaterThan(0);

    await rm(current);
    let err = await refused(dir);
    expect(err).toBeInstanceOf(IncompleteHistoryError);
    expect(err.message).toContain(`epoch file ${current} is missing`);
    expect(err.message).toContain('--rejoin-empty');

    await rm(accepted);
    err = await refused(dir);
    expect(err.message).toContain(`epoch files ${accepted} and ${current} are missing`);

    await writeFile(accepted, `${epoch}\n`);
    await writeFile(current, 'garbage');
    err = await refused(dir);
    expect(err).toBeInstanceOf(IncompleteHistoryError);
    expect(err.message).toContain(`epoch file ${current} is corrupt`);

    // crashed after logging the new epoch's sync but before writing currentEpoch: the old value is there
    await writeFile(accepted, `${epoch + 1}\n`);
    await writeFile(current, `${epoch}\n`);
    const server = await start(dir);
    const c = await connect(server.connectString);
    expect((await c.getChildren('/h')).length).toBe(count);
    await c.close();
  });
});
