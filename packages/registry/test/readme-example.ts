// The README's usage example, run by registry.test.ts. Keep the two in sync (the test checks).
// #region readme
import { connect } from '@zabkit/client';
import { Provider, ServiceCache, ServiceRegistry } from '@zabkit/registry';

export async function registryExample(connectString: string): Promise<string[]> {
  // --- in the billing service ---
  await using client = await connect(connectString);
  await using registry = new ServiceRegistry(client, {
    basePath: '/services',
    // after a session expiry: a new session, and every instance back with its current data
    clientFactory: () => connect(connectString),
  });
  const me = await registry.register({ name: 'billing', id: 'billing-1', address: '10.0.0.7', port: 8080, metadata: { zone: 'eu-1' } });
  await registry.register({ name: 'billing', id: 'billing-2', address: '10.0.0.8', port: 8080, metadata: { zone: 'eu-2' } });
  await me.update({ metadata: { zone: 'eu-1', draining: false } });

  // --- in a caller (usually another process) ---
  await using caller = await connect(connectString);
  await using cache = new ServiceCache(caller, { basePath: '/services', name: 'billing' });
  cache.on('removed', (instance) => console.log(`${instance.id} left`));
  await cache.start();
  await using provider = new Provider(cache, {
    strategy: 'round-robin',
    downInstancePolicy: { errorThreshold: 3, windowMs: 10_000, cooldownMs: 30_000 },
  });
  const targets: string[] = [];
  for (let i = 0; i < 3; i++) {
    const target = provider.getInstance();
    if (!target) break; // nothing registered (or everything is down)
    targets.push(`http://${target.address}:${target.port}`);
    // on a failed call: provider.noteError(target)
  }
  return targets;
}
// #endregion readme
