import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryTxnLog } from '../../src/storage/index.js';
import { rec, recs, zxids } from './helpers.js';

describe('MemoryTxnLog', () => {
  it('a crash loses only unflushed appends', async () => {
    const s = MemoryStorage.create();
    s.log.append(recs(1, 3));
    await s.log.flush();
    s.log.append(recs(4, 5));
    await s.epochs.setAcceptedEpoch(2);
    const w = await s.snapshots.begin(3n);
    await w.write(new Uint8Array([1, 2]));
    await w.commit();
    const w2 = await s.snapshots.begin(5n);
    await w2.write(new Uint8Array([9]));

    const after = s.crash();
    expect(() => s.log.append([rec(6n)])).toThrow(/crashed/);
    expect(zxids((await after.log.open(0n)).records)).toEqual([1n, 2n, 3n]);
    expect(after.log.lastZxid()).toBe(3n);
    expect((await after.epochs.load()).acceptedEpoch).toBe(2);
    expect(await after.snapshots.list()).toEqual([3n]);
    expect((await after.snapshots.loadLatest()).snapshot?.chunks).toEqual([new Uint8Array([1, 2])]);
    after.log.append([rec(4n, 'redo')]);
    await after.log.flush();
    expect(zxids(await after.log.readFrom(0n))).toEqual([1n, 2n, 3n, 4n]);
  });

  it('a crash during a sync loses that batch, and keepUnflushed keeps a prefix', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const log = new MemoryTxnLog({ beforeSync: () => gate });
    log.append(recs(1, 2));
    const flushing = log.flush();
    await Promise.resolve();
    await Promise.resolve();
    log.append([rec(3n)]);
    const restarted = log.crash({ keepUnflushed: 1 });
    release();
    await expect(flushing).rejects.toThrow(/crashed/);
    expect(zxids(await restarted.readFrom(0n))).toEqual([1n]);
    expect(restarted.lastZxid()).toBe(1n);
  });

  it('group commit, ordering, truncate and purge behave like the file log', async () => {
    const log = new MemoryTxnLog({ maxSegmentRecords: 3 });
    const flushes = [];
    for (let i = 1; i <= 9; i++) {
      log.append([rec(BigInt(i))]);
      flushes.push(log.flush());
    }
    await Promise.all(flushes);
    expect(log.stats()).toMatchObject({ flushCalls: 9, segments: 3 });
    expect(log.stats().syncs).toBeLessThanOrEqual(2);
    expect(() => log.append([rec(9n)])).toThrow(RangeError);
    expect(await log.purgeThrough(5n)).toBe(1);
    expect(zxids(await log.readFrom(0n))).toEqual([4n, 5n, 6n, 7n, 8n, 9n]);
    expect(await log.purgeThrough(100n)).toBe(1);
    log.append([rec(10n)]);
    await log.truncateAfter(8n);
    expect(log.lastZxid()).toBe(8n);
    expect(zxids(await log.readFrom(0n))).toEqual([7n, 8n]);
    await log.roll();
    log.append([rec(20n)]);
    await log.flush();
    expect(log.stats().segments).toBe(2);
    expect(zxids(await log.crash().readFrom(0n))).toEqual([7n, 8n, 20n]);
  });

  it('snapshot store skips an invalid newest and purges like the file store', async () => {
    const s = MemoryStorage.create();
    for (const z of [1n, 2n, 3n]) await (await s.snapshots.begin(z)).commit();
    s.snapshots.corrupt(3n);
    const { snapshot, warnings } = await s.snapshots.loadLatest();
    expect(snapshot?.zxid).toBe(2n);
    expect(warnings).toHaveLength(1);
    expect(await s.snapshots.purge(1)).toBe(2n);
    expect(await s.snapshots.list()).toEqual([3n, 2n]);
  });
});
