import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { ZabClient } from '@zabkit/client';
import { BIN_PATH } from 'zabkit';
import { ClusterHarness, pollUntil, text } from './harness.js';

const run = promisify(execFile);

/**
 * A create that is retried while the ensemble is electing (bounded by `timeoutMs`). NodeExists
 * on a retry means an earlier attempt landed. Resolves with the number of attempts.
 */
async function createEventually(client: ZabClient, path: string, data: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await client.create(path, data, { timeoutMs: Math.max(500, deadline - Date.now()) });
      return attempt;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NodeExists' && attempt > 1) return attempt;
      if (Date.now() >= deadline || attempt >= 50 || !(err as { retryable?: boolean }).retryable) throw err;
      await new Promise((r) => setTimeout(r, 100)); // back off between attempts; not synchronisation
    }
  }
}

describe('quorums with 5 voters and an observer (real processes)', () => {
  let h: ClusterHarness | null = null;

  afterEach(async () => {
    await h?.dispose();
    h = null;
  });

  it('survives 2 voter crashes; the observer reads and forwards writes but never makes a quorum', async () => {
    h = await ClusterHarness.start({ nodes: 5, observers: 1 });
    const { cluster } = h;
    const OBS = 6;
    const leader = await cluster.waitForLeader({ minFollowers: 5, timeoutMs: 30_000 });
    expect((await cluster.status(OBS)).role).toBe('observer');
    const voters = [1, 2, 3, 4, 5];

    // Two voters crash, the leader among them.
    const firstFollower = voters.find((id) => id !== leader)!;
    await Promise.all([cluster.kill(leader), cluster.kill(firstFollower)]);
    const alive = voters.filter((id) => id !== leader && id !== firstFollower);
    const newLeader = await cluster.waitForLeader({ exclude: [leader, firstFollower], minFollowers: 2, timeoutMs: 20_000 });
    expect(alive).toContain(newLeader);

    const onVoters = await h.client(alive.map((id) => cluster.address(id)).join(','));
    await createEventually(onVoters, '/obs', 'root', 15_000);
    await onVoters.create('/obs/from-voter', 'written on a voter');

    // The observer serves reads of data written elsewhere (after sync) ...
    const onObserver = await h.clientOn(OBS, { requestTimeoutMs: 10_000 });
    await onObserver.sync('/');
    expect(text((await onObserver.getData('/obs/from-voter')).data)).toBe('written on a voter');
    // ... and forwards writes to the leader.
    await onObserver.create('/obs/via-observer', 'written through the observer');
    await onVoters.sync('/');
    expect(text((await onVoters.getData('/obs/via-observer')).data)).toBe('written through the observer');

    // A third voter down: 2 voters + the observer are not a quorum of 5 voters.
    const thirdDown = alive.find((id) => id !== newLeader)!;
    await cluster.kill(thirdDown);
    const refused = await onObserver.create('/obs/no-quorum', 'x', { timeoutMs: 4_000 }).then(
      () => null,
      (err: unknown) => err as { code?: string },
    );
    expect(refused, 'a write without a voter quorum must not be acknowledged').not.toBeNull();
    expect(['OperationTimeout', 'ConnectionLoss', 'NotServing']).toContain(refused!.code);
    // Nobody leads, although the observer is up and answers.
    await pollUntil('the leader to step down without a quorum', 10_000, async () => ((await cluster.leaderId()) === null ? true : undefined));
    const obsStatus = await cluster.status(OBS);
    expect(obsStatus.role).not.toBe('leader');
    // Give a (wrong) election that counted the observer ample time to finish: still no leader, no write.
    const attempts = await Promise.all(
      [onVoters, onObserver].map((c, i) =>
        c.create(`/obs/no-quorum-${i}`, 'x', { timeoutMs: 3_000 }).then(
          () => null,
          (err: unknown) => err as { code?: string },
        ),
      ),
    );
    expect(attempts.map((e) => e?.code ?? 'acknowledged')).not.toContain('acknowledged');
    expect(await cluster.leaderId()).toBeNull();
    expect(cluster.isRunning(OBS)).toBe(true);

    // One voter back: 3 of 5 voters, writes work again (through the observer, same session).
    await cluster.startNode(thirdDown);
    await cluster.waitForLeader({ minFollowers: 2, timeoutMs: 20_000 });
    await createEventually(onObserver, '/obs/after-recovery', 'back', 20_000);
    await onVoters.sync('/');
    expect(text((await onVoters.getData('/obs/after-recovery')).data)).toBe('back');
  }, 60_000);

  it('zabkit status shows one leader listing its followers, the rest following or observing', async () => {
    h = await ClusterHarness.start({ nodes: 3, observers: 1 });
    const { cluster } = h;
    const leader = await cluster.waitForLeader({ minFollowers: 3, timeoutMs: 30_000 });
    const c = await h.client();
    await c.create('/status', 'x');
    await c.sync('/');

    const statuses = await Promise.all([1, 2, 3, 4].map((id) => cluster.status(id)));
    expect(statuses.map((s) => s.serverId)).toEqual([1, 2, 3, 4]);
    expect(statuses.filter((s) => s.role === 'leader').map((s) => s.serverId)).toEqual([leader]);
    const expectedRoles: string[] = [...[1, 2, 3].map((id) => (id === leader ? 'leader' : 'follower')), 'observer'];
    expect(statuses.map((s) => s.role)).toEqual(expectedRoles);
    const lead = statuses[leader - 1]!;
    expect(lead.followers).toEqual([1, 2, 3, 4].filter((id) => id !== leader));
    expect(statuses.filter((s) => s.role !== 'leader').every((s) => s.followers === undefined)).toBe(true);
    expect(new Set(statuses.map((s) => s.epoch)).size).toBe(1);

    // The CLI prints one line per server with the same facts.
    const { stdout } = await run(process.execPath, [BIN_PATH, 'status', cluster.connectString], { timeout: 20_000 });
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    const leaderLines = lines.filter((l) => / leader /.test(l));
    expect(leaderLines).toHaveLength(1);
    expect(leaderLines[0]).toContain(`server ${leader} `);
    expect(leaderLines[0]).toContain(`followers ${lead.followers!.join(',')}`);
    expect(lines.filter((l) => / follower /.test(l))).toHaveLength(2);
    expect(lines.filter((l) => / observer /.test(l))).toHaveLength(1);

    // With a server down the command still reports the others and exits 1.
    const down = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.kill(down);
    const failed = await run(process.execPath, [BIN_PATH, 'status', cluster.connectString], { timeout: 20_000 }).then(
      () => null,
      (err: { code?: number; stdout?: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toContain(`${cluster.address(down)}  unreachable`);
    expect(failed?.stdout).toMatch(/ leader /);
  }, 60_000);

  it('an observer that missed writes is DIFFed (or SNAPped past the window) on restart and serves them', async () => {
    h = await ClusterHarness.start({ nodes: 3, observers: 1 });
    const { cluster } = h;
    const OBS = 4;
    const leader = await cluster.waitForLeader({ minFollowers: 3, timeoutMs: 30_000 });
    const writer = await h.client([1, 2, 3].map((id) => cluster.address(id)).join(','));
    await writer.create('/o');

    await cluster.kill(OBS);
    for (let i = 0; i < 50; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => writer.create(`/o/a${i + k}`, 'a')));
    let since = Date.now();
    await cluster.startNode(OBS);
    const plan = await pollUntil('the leader to sync the observer', 10_000, async () => h!.linesMatching(new RegExp(`sync ${OBS}: (DIFF|TRUNC|SNAP)`), leader, since)[0]);
    expect(plan).toMatch(/DIFF of (5\d|6\d) txn/);
    expect((await cluster.status(OBS)).role).toBe('observer');
    const onObs = await h.clientOn(OBS);
    expect((await onObs.getChildren('/o')).length).toBe(50);
    await onObs.close();

    await cluster.kill(OBS);
    for (let i = 0; i < 600; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => writer.create(`/o/b${i + k}`, 'b')));
    since = Date.now();
    await cluster.startNode(OBS);
    const snap = await pollUntil('the leader to sync the observer', 10_000, async () => h!.linesMatching(new RegExp(`sync ${OBS}: (DIFF|TRUNC|SNAP)`), leader, since)[0]);
    expect(snap).toMatch(/SNAP at 0x/);
    const again = await h.clientOn(OBS);
    expect((await again.getChildren('/o')).length).toBe(650);
    // It keeps learning new commits as an observer.
    await writer.create('/o/live', 'live');
    await again.sync('/');
    expect(text((await again.getData('/o/live')).data)).toBe('live');
  }, 60_000);
});
