import { connect, type ZabClient } from '@zabkit/client';

const text = (data: Uint8Array | null): string => (data ? Buffer.from(data).toString('utf8') : '<null>');

/**
 * A short tour of what microservices do with zabkit: watch config, take a
 * lock by ephemeral-sequential nodes (watching only the predecessor), and
 * register in a service directory that cleans itself when a session ends.
 */
export async function runDemo(connectString: string, print: (line: string) => void): Promise<void> {
  const alice = await connect(connectString, { sessionTimeoutMs: 10_000 });
  const bob = await connect(connectString, { sessionTimeoutMs: 10_000 });
  try {
    print(`alice session 0x${alice.sessionId.toString(16)}, bob session 0x${bob.sessionId.toString(16)}`);
    const root = `/demo-${Date.now().toString(36)}`;
    await alice.create(root);

    // 1. Config: bob watches, alice publishes, bob's one-shot watch fires and he re-reads.
    await alice.create(`${root}/config`, JSON.stringify({ featureX: false }));
    const changed = new Promise<string>((resolve) => {
      void bob.getData(`${root}/config`, { watch: (e) => resolve(`${e.type} ${e.path}`) });
    });
    await alice.setData(`${root}/config`, JSON.stringify({ featureX: true }));
    print(`config: bob saw ${await changed}; now ${text((await bob.getData(`${root}/config`)).data)}`);

    // 2. Lock: lowest sequence holds it; the next waiter watches only its predecessor.
    await alice.create(`${root}/lock`);
    const a = await alice.create(`${root}/lock/n-`, '', { mode: 'ephemeral-sequential' });
    const b = await bob.create(`${root}/lock/n-`, '', { mode: 'ephemeral-sequential' });
    print(`lock: alice holds ${a} (fencing token = its czxid ${(await alice.exists(a))!.czxid}), bob waits as ${b}`);
    const bobTurn = new Promise<string>((resolve) => {
      void bob.exists(a, { watch: (e) => resolve(e.type) });
    });
    await alice.delete(a);
    print(`lock: bob saw ${await bobTurn} on his predecessor and now holds ${b}`);

    // 3. Registry: ephemeral instances vanish when their session ends.
    await alice.create(`${root}/services`);
    await bob.create(`${root}/services/api-`, JSON.stringify({ host: '127.0.0.1', port: 8080 }), {
      mode: 'ephemeral-sequential',
    });
    const gone = new Promise<string>((resolve) => {
      void alice.getChildren(`${root}/services`, { watch: (e) => resolve(e.type) });
    });
    print(`registry: instances ${JSON.stringify(await alice.getChildren(`${root}/services`))}`);
    await bob.close();
    print(`registry: bob closed his session -> ${await gone}; instances now ${JSON.stringify(await alice.getChildren(`${root}/services`))}`);

    // 4. Atomic multi: all or nothing.
    const results = await alice
      .transaction()
      .create(`${root}/jobs`)
      .create(`${root}/jobs/1`, 'payload')
      .setData(`${root}/config`, JSON.stringify({ featureX: true, jobs: 1 }))
      .commit();
    print(`multi: ${results.length} ops applied atomically`);
    await deleteTree(alice, root);
    print('demo done.');
  } finally {
    await alice.close().catch(() => {});
    await bob.close().catch(() => {});
  }
}

async function deleteTree(client: ZabClient, path: string): Promise<void> {
  for (const child of await client.getChildren(path)) await deleteTree(client, `${path}/${child}`);
  await client.delete(path);
}
