import { describe, expect, it } from 'vitest';
import { checkDocker, containersByLabel, getContainerRuntimeClient, RUN_LABEL, startCluster } from '@zabkit/testing';
import { clusterScenario } from './scenario.js';

// Real containers (testcontainers, host networking). CI starts a private Docker engine
// (.ci/run via scripts/docker-up.sh); on a developer machine without one it says so and
// checks the fallback users get instead, rather than passing silently.
const docker = await checkDocker();
const inCI = !!process.env.CI;

if (docker.available) {
  describe('containers: a 3-node cluster, one container per server', () => {
    clusterScenario({
      start: () => startCluster({ nodes: 3 }),
      async assertGone(cluster, handles) {
        expect(await containersByLabel(RUN_LABEL, cluster.runId)).toEqual([]);
        const client = await getContainerRuntimeClient();
        const all = (await client.container.list()).map((c) => c.Id);
        for (const id of handles) expect(all).not.toContain(id);
        expect(handles.length).toBeGreaterThanOrEqual(5); // 3 first starts + the killed node's + the restarted node's
      },
    });
  });

  describe('containers: a failed start', () => {
    it('removes what it started and says why', async () => {
      // a zoo.cfg the servers reject: every container exits before it is ready
      const err = await startCluster({
        nodes: 3,
        startupTimeoutMs: 5_000,
        extraConfig: { syncLimit: 'not-a-number' },
        labels: { 'zabkit.testing.case': 'failed-start' },
      }).then(
        (c) => c.close().then(() => null),
        (e: unknown) => e as Error,
      );
      expect(err, 'the start should fail').toBeInstanceOf(Error);
      expect(String(err)).toMatch(/node 1 did not start/);
      const client = await getContainerRuntimeClient();
      const left = await client.container.dockerode.listContainers({ all: true, filters: { label: ['zabkit.testing.case=failed-start'] } });
      expect(left).toEqual([]);
    }, 30_000);
  });
} else if (inCI) {
  describe('containers', () => {
    it('need Docker in CI', () => {
      expect.fail(`Docker unavailable in CI (${docker.reason}): .ci/run should have started one (scripts/docker-up.sh)`);
    });
  });
} else {
  console.warn(
    `\n*** Docker unavailable: container suites not run (${docker.reason}).\n` +
      '*** Start a private engine with: eval "$(sudo scripts/docker-up.sh)" (stop it with scripts/docker-down.sh), or set DOCKER_HOST.\n',
  );
  // What a user without Docker gets instead: runtime 'auto' falls back to child processes.
  describe('containers unavailable: runtime auto', () => {
    it('falls back to child processes and serves', async () => {
      const cluster = await startCluster({ nodes: 3, runtime: 'auto' });
      try {
        expect(cluster.runtime).toBe('process');
        expect((await cluster.waitForLeader()).id).toBeGreaterThan(0);
      } finally {
        await cluster.close();
      }
    }, 60_000);
  });
}
