// The reload after a TRUNC rebuilds the state from the newest valid snapshot and the cut log: it
// refuses when they are not one history, instead of serving part of the tree.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ZabNode, resolveCoreOptions, resolveZabOptions } from '../../src/core/index.js';
import { IncompleteHistoryError } from '../../src/runtime/history-guard.js';
import { reloadLog } from '../../src/runtime/log-replay.js';
import { StorageExecutor } from '../../src/runtime/storage-executor.js';
import { openFileStorage } from '../../src/storage/index.js';
import { snapshotName } from '../../src/storage/format.js';
import { tempDir } from './helpers.js';

const rec = (z: bigint) => ({ zxid: z, bytes: new Uint8Array([1]) });

describe('reloadLog after a TRUNC', () => {
  it('refuses when the snapshot left is invalid and the log was purged past the start of the history', async () => {
    const dir = await tempDir();
    const storage = await openFileStorage({ dataDir: dir, preallocateBytes: 0 });
    await storage.log.open(0n);
    for (const [from, to] of [[1, 5], [6, 10], [11, 15]] as const) {
      await storage.log.roll();
      for (let i = from; i <= to; i++) storage.log.append([rec(BigInt(i))]);
    }
    await storage.log.flush();
    for (const z of [7n, 12n]) {
      const w = await storage.snapshots.begin(z);
      await w.write(new Uint8Array([0]));
      await w.commit();
    }
    await storage.log.purgeThrough(5n);
    await writeFile(join(storage.snapDir, snapshotName(7n)), 'damaged'); // the one the TRUNC falls back to

    const node = new ZabNode(resolveZabOptions(resolveCoreOptions({ serverId: 1 }), {}));
    const executor = new StorageExecutor(storage.log, storage.snapshots, storage.epochs, async () => {
      await reloadLog(storage.log, storage.snapshots, node);
    });
    const err = await executor.submit([{ kind: 'truncate', zxid: 11n }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncompleteHistoryError);
    expect((err as Error).message).toMatch(/after a TRUNC, the log does not continue the snapshot: .*no snapshot/);
    await storage.log.close();
  });
});
