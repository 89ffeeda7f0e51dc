import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileEpochStore, openFileStorage } from '../../src/storage/index.js';
import { rec, tempDir } from './helpers.js';

describe('FileEpochStore', () => {
  it('never reads a missing file as 0: load refuses, naming it; initialize writes the missing ones as 0', async () => {
    const dir = await tempDir();
    const store = new FileEpochStore(join(dir, 'snap'));
    expect(await store.readFiles()).toEqual({ acceptedEpoch: null, currentEpoch: null });
    await expect(store.load()).rejects.toThrow(`epoch file ${join(dir, 'snap', 'acceptedEpoch')} is missing`);
    await store.setAcceptedEpoch(4);
    await expect(store.load()).rejects.toThrow(`epoch file ${join(dir, 'snap', 'currentEpoch')} is missing`);
    await store.initialize();
    expect(await new FileEpochStore(join(dir, 'snap')).load()).toEqual({ acceptedEpoch: 4, currentEpoch: 0 });
  });

  it('persists both epochs across instances', async () => {
    const dir = await tempDir();
    const store = new FileEpochStore(join(dir, 'snap'));
    await store.setAcceptedEpoch(3);
    await Promise.all([store.setCurrentEpoch(2), store.setCurrentEpoch(3)]);
    expect(await new FileEpochStore(join(dir, 'snap')).load()).toEqual({ acceptedEpoch: 3, currentEpoch: 3 });
    expect((await readFile(join(dir, 'snap', 'acceptedEpoch'), 'utf8')).trim()).toBe('3');
    await expect(store.setAcceptedEpoch(-1)).rejects.toThrow(RangeError);
    await expect(store.setAcceptedEpoch(1.5)).rejects.toThrow(RangeError);
  });

  it('never writes an epoch above 2^32-1 (the top 32 bits of a zxid), and refuses to load one with a clear message', async () => {
    const dir = await tempDir();
    const store = new FileEpochStore(dir);
    await store.setAcceptedEpoch(0xffff_ffff);
    await store.setCurrentEpoch(0);
    await expect(store.setAcceptedEpoch(0x1_0000_0000)).rejects.toThrow(/invalid epoch 4294967296/);
    await expect(store.setCurrentEpoch(2 ** 53)).rejects.toThrow(RangeError);
    expect(await new FileEpochStore(dir).load()).toEqual({ acceptedEpoch: 0xffff_ffff, currentEpoch: 0 });
    await writeFile(join(dir, 'acceptedEpoch'), '4294967296\n');
    await expect(new FileEpochStore(dir).load()).rejects.toThrow(/holds 4294967296, above the largest epoch 4294967295.*rejoin this server empty/);
  });

  it('refuses a corrupt epoch file instead of reading it as 0', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'currentEpoch'), 'x7');
    await expect(new FileEpochStore(dir).load()).rejects.toThrow(/corrupt/);
  });
});

describe('openFileStorage', () => {
  it('puts snapshots and epochs in dataDir/snap and the log in dataDir/log or dataLogDir', async () => {
    const dir = await tempDir();
    const s = await openFileStorage({ dataDir: dir });
    expect(s.snapDir).toBe(join(dir, 'snap'));
    expect(s.logDir).toBe(join(dir, 'log'));
    await s.log.open(0n);
    s.log.append([rec(1n)]);
    await s.log.flush();
    await s.log.close();
    await s.epochs.setCurrentEpoch(1);
    await s.epochs.setAcceptedEpoch(1);
    const w = await s.snapshots.begin(1n);
    await w.commit();
    const again = await openFileStorage({ dataDir: dir });
    expect((await again.log.open(0n)).records).toHaveLength(1);
    expect((await again.epochs.load()).currentEpoch).toBe(1);
    expect((await again.snapshots.loadLatest()).snapshot?.zxid).toBe(1n);
    await again.log.close();

    const other = await openFileStorage({ dataDir: dir, dataLogDir: join(dir, 'elsewhere') });
    expect(other.logDir).toBe(join(dir, 'elsewhere'));
    expect((await other.log.open(0n)).records).toEqual([]);
    await other.log.close();
  });
});
