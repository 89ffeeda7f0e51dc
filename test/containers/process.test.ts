import { describe, expect } from 'vitest';
import { startCluster } from '@zabkit/testing';
import { clusterScenario } from './scenario.js';

// The same scenario on the Docker-free runtime: child processes, pause = SIGSTOP.
describe('process runtime: a 3-node cluster of child processes', () => {
  clusterScenario({
    start: () => startCluster({ nodes: 3, runtime: 'process' }),
    async assertGone(_cluster, handles) {
      expect(handles.length).toBeGreaterThanOrEqual(5);
      for (const pid of handles) {
        expect(() => process.kill(Number(pid), 0), `pid ${pid} still alive`).toThrow();
      }
    },
  });
});
