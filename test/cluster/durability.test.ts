import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type ZabClient } from '@zabkit/client';
import { LocalCluster } from 'zabkit';

// A real server process with real fsync: every write the server acknowledged
// must be there after kill -9 and a restart.
describe('durability of a real server process', () => {
  let cluster: LocalCluster | null = null;
  let dir = '';
  const clients: ZabClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    await cluster?.stop();
    cluster = null;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged write through kill -9 during concurrent writes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'zabkit-durability-'));
    cluster = new LocalCluster({ nodes: 1, dataDir: dir, tickTime: 500 });
    await cluster.start();
    const setup = await connect(cluster.connectString);
    clients.push(setup);
    await setup.create('/durable');

    const WRITERS = 4;
    const IN_FLIGHT = 8;
    const KILL_AFTER = 400; // acknowledged writes before the kill
    const MAX_WRITES = 5000; // bound on the loop if the kill were slow
    const acked: string[] = [];
    let issued = 0;
    let killed: Promise<void> | null = null;

    const writer = async (w: number): Promise<void> => {
      const client = await connect(cluster!.connectString, { requestTimeoutMs: 5000 });
      clients.push(client);
      const lane = async (l: number): Promise<void> => {
        for (let j = 0; issued < MAX_WRITES; j++) {
          issued++;
          const path = `/durable/w${w}-l${l}-${j}`;
          try {
            await client.create(path, path);
          } catch {
            return; // the server died under us: this write may or may not have landed
          }
          acked.push(path);
          if (acked.length === KILL_AFTER) killed = cluster!.kill(1);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, (_, l) => lane(l)));
    };
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    expect(killed).not.toBeNull();
    await killed;
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));

    await cluster.startNode(1);
    const reader = await connect(cluster.connectString);
    clients.push(reader);
    const present = new Set(await reader.getChildren('/durable'));
    const missing = acked.filter((p) => !present.has(p.slice('/durable/'.length)));
    expect(missing).toEqual([]);
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER);
    // Nothing half-applied: every node that exists holds exactly the data it was created with.
    for (const name of [...present].slice(0, 200)) {
      const { data } = await reader.getData(`/durable/${name}`);
      expect(Buffer.from(data!).toString()).toBe(`/durable/${name}`);
    }
  });
});
