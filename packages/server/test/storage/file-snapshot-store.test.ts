import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSnapshotStore } from '../../src/storage/index.js';
import { tempDir } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c));

async function write(store: FileSnapshotStore, zxid: bigint, chunks: string[]): Promise<void> {
  const w = await store.begin(zxid);
  for (const c of chunks) await w.write(enc(c));
  await w.commit();
}

describe('FileSnapshotStore', () => {
  it('writes and loads the newest snapshot, chunks intact', async () => {
    const dir = await tempDir();
    const store = new FileSnapshotStore({ dir, writeBufferBytes: 8 }); // forces several writes
    expect(await store.loadLatest()).toEqual({ snapshot: null, warnings: [] });
    await write(store, 0x100000005n, ['alpha', '', 'gamma'.repeat(100)]);
    await write(store, 0x100000009n, ['newer']);
    expect(await readdir(dir)).toEqual(['snapshot.0000000100000005', 'snapshot.0000000100000009']);
    expect(await store.list()).toEqual([0x100000009n, 0x100000005n]);
    const fresh = new FileSnapshotStore(dir);
    const { snapshot, warnings } = await fresh.loadLatest();
    expect(warnings).toEqual([]);
    expect(snapshot?.zxid).toBe(0x100000009n);
    expect(dec(snapshot!.chunks)).toEqual(['newer']);
  });

  it('an uncommitted or aborted snapshot is never listed', async () => {
    const dir = await tempDir();
    const store = new FileSnapshotStore(dir);
    await write(store, 1n, ['one']);
    const w = await store.begin(2n);
    await w.write(enc('half'));
    expect(await store.list()).toEqual([1n]);
    expect((await store.loadLatest()).snapshot?.zxid).toBe(1n);
    await w.abort();
    expect(await readdir(dir)).toEqual(['snapshot.0000000000000001']);
    await expect(w.write(enc('late'))).rejects.toThrow(/aborted/);
  });

  it('skips an invalid newer snapshot with a warning (truncated, bit flip, no trailer)', async () => {
    const dir = await tempDir();
    const store = new FileSnapshotStore(dir);
    await write(store, 1n, ['good', 'data']);
    await write(store, 2n, ['torn']);
    await write(store, 3n, ['flipped']);
    await write(store, 4n, ['short']);
    await truncate(join(dir, 'snapshot.0000000000000002'), 30); // lost the trailer
    const p3 = join(dir, 'snapshot.0000000000000003');
    const b3 = await readFile(p3);
    b3[26]! ^= 0x20; // inside the chunk bytes
    await writeFile(p3, b3);
    const p4 = join(dir, 'snapshot.0000000000000004');
    await writeFile(p4, (await readFile(p4)).subarray(0, 16));
    const { snapshot, warnings } = await store.loadLatest();
    expect(snapshot?.zxid).toBe(1n);
    expect(dec(snapshot!.chunks)).toEqual(['good', 'data']);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain('snapshot.0000000000000004');
    expect(warnings[1]).toMatch(/crc32c/);
    expect(warnings[2]).toContain('snapshot.0000000000000002');
  });

  it('rejects a file whose header zxid does not match its name', async () => {
    const dir = await tempDir();
    const store = new FileSnapshotStore(dir);
    await write(store, 7n, ['x']);
    await writeFile(join(dir, 'snapshot.0000000000000008'), await readFile(join(dir, 'snapshot.0000000000000007')));
    const { snapshot, warnings } = await store.loadLatest();
    expect(snapshot?.zxid).toBe(7n);
    expect(warnings[0]).toMatch(/does not match/);
  });

  it('purge keeps the newest N valid snapshots and returns the oldest kept', async () => {
    const dir = await tempDir();
    const store = new FileSnapshotStore(dir);
    for (const z of [1n, 2n, 3n, 4n]) await write(store, z, [`s${z}`]);
    await writeFile(join(dir, 'snapshot.0000000000000001.123.1.tmp'), 'abandoned');
    await expect(store.purge(0)).rejects.toThrow(RangeError);
    expect(await store.purge(2)).toBe(3n);
    expect((await readdir(dir)).sort()).toEqual(['snapshot.0000000000000003', 'snapshot.0000000000000004']);
    // an invalid newest does not count towards the retained ones
    await truncate(join(dir, 'snapshot.0000000000000004'), 20);
    expect(await store.purge(1)).toBe(3n);
    expect(await store.list()).toEqual([4n, 3n]);
    expect(dec((await store.loadLatest()).snapshot!.chunks)).toEqual(['s3']);
    expect(await new FileSnapshotStore(join(dir, 'none')).purge(1)).toBeNull();
  });
});
