/**
 * @zabkit/testing: a real zabkit cluster inside your integration tests, in containers
 * (testcontainers, one container per server) or as local child processes.
 */
import { checkDocker } from './docker.js';
import { startDockerCluster } from './container-cluster.js';
import { startLocalCluster } from './process-cluster.js';
import type { Cluster, ClusterOptions } from './types.js';

export type { Cluster, ClusterNode, ClusterOptions, NodeRole } from './types.js';
export { RUN_LABEL, NODE_LABEL, CONTAINER_DATA_DIR } from './types.js';
export { dockerAvailable, checkDocker, containersByLabel, removeRun, type DockerCheck } from './docker.js';
export { planThinImage, ensureThinImage, projectRootOf, type ThinImagePlan } from './image.js';
export { renderZooCfg } from './config.js';
export { tarball, type TarEntry } from './tar.js';
export { startLocalCluster };
/** testcontainers' runtime client (dockerode inside), e.g. to inspect containers by label. */
export { getContainerRuntimeClient } from 'testcontainers';

/**
 * Starts a zabkit cluster and waits until a leader serves. `runtime: 'docker'` (default) runs one
 * container per server; `'process'` runs child processes; `'auto'` picks docker when available.
 * Always `close()` it (or `await using`): that removes every container and the data.
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  let runtime = opts.runtime ?? 'docker';
  if (runtime === 'auto') runtime = (await checkDocker()).available ? 'docker' : 'process';
  if (runtime === 'process') {
    const { runtime: _r, image: _i, mounts: _m, labels: _l, ...rest } = opts;
    return startLocalCluster(rest);
  }
  return startDockerCluster(opts);
}
