// The quick-start demo (`pnpm demo` = `zabkit dev --nodes 3 --demo`) against a 3-node cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from 'zabkit';
import { startTestCluster, type TestCluster } from '../support/cluster.js';

describe('runDemo on a 3-node cluster', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await startTestCluster();
  });
  afterAll(async () => {
    await tc?.close();
  });

  it('walks through every recipe, prints what happens, and leaves nothing behind', async () => {
    const admin = await tc.client();
    const before = await admin.getChildren('/');
    const lines: string[] = [];
    await runDemo(tc.connectString, (line) => lines.push(line));
    const out = lines.join('\n');
    expect(out).toMatch(/GET \/ -> 200 \{"message":"hello, world!"/);
    expect(out).toMatch(/config-reload: reloaded config v0/);
    expect(out).toMatch(/GET \/ -> 200 \{"message":"bonjour, zabkit!"/);
    expect(out).toMatch(/runner-a: holds the lock of nightly-report/);
    expect(out).toMatch(/runner-b: holds the lock of nightly-report/);
    expect(out).toMatch(/is refused: stale fencing token/);
    expect(out.match(/"leader":true/g)).toHaveLength(2); // one leader before the step-down, one after
    expect(out).toMatch(/scheduler-1: no longer leader \(Closed\)/);
    expect(out).toMatch(/GET caller\/call -> 200 \{"via":"hello-1"/);
    expect(out).toMatch(/hello instance hello-1 is gone/);
    expect(out).toMatch(/took ada@example.com, bob@example.com, cy@example.com; queue size now 0/);
    expect(lines.at(-1)).toMatch(/demo done/);
    await admin.sync('/'); // the demo cleaned up through its own session
    expect(await admin.getChildren('/')).toEqual(before);
    expect(await admin.getEphemerals('/')).toEqual([]);
  });
});
