// The README's usage example, run by config.test.ts. Keep the two in sync (the test checks).
// #region readme
import type { ZabClient } from '@zabkit/client';
import { ConfigDirectoryWatcher, ConfigWatcher, publish } from '@zabkit/config';

interface Limits {
  rps: number;
  burst: number;
}

function parseLimits(v: unknown): Limits {
  const { rps, burst } = (v ?? {}) as Partial<Limits>;
  if (typeof rps !== 'number' || typeof burst !== 'number') throw new TypeError('rps and burst must be numbers');
  return { rps, burst };
}

export async function configExample(client: ZabClient, apply: (limits: Limits) => void): Promise<Map<string, Limits>> {
  // publish creates the node (and its parents) when it is missing
  await publish(client, '/config/limits', { rps: 100, burst: 20 });

  await using watcher = new ConfigWatcher(client, '/config/limits', { validate: parseLimits });
  watcher.on('invalid', (err) => console.warn(err.message)); // a bad value never replaces the last good one
  apply((await watcher.start())!);
  watcher.subscribe(({ value }) => value && apply(value));

  // compare-and-set: rejects with BadVersionError if someone changed it since we read it
  await publish(client, '/config/limits', { ...watcher.get()!, rps: 200 }, { expectedVersion: watcher.version });
  await watcher.waitFor((limits) => limits?.rps === 200, { timeoutMs: 5_000 });

  // a directory of keys: /config/tenants/<tenant>
  await using tenants = new ConfigDirectoryWatcher(client, '/config/tenants', { validate: parseLimits });
  await tenants.start();
  tenants.on('added', (tenant, limits) => console.log(`${tenant} now limited to ${limits.rps} rps`));
  await publish(client, '/config/tenants/acme', { rps: 5, burst: 1 });
  return await tenants.waitFor((snapshot) => snapshot.has('acme'), { timeoutMs: 5_000 }); // `return await`: before `await using` closes it
}
// #endregion readme
