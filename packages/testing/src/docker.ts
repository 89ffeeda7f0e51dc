import { getContainerRuntimeClient, type ContainerRuntimeClient } from 'testcontainers';
import { RUN_LABEL } from './types.js';

export interface DockerCheck {
  available: boolean;
  /** Why not, when it is not (the runtime lookup's or the ping's error). */
  reason?: string;
}

let checked: Promise<DockerCheck> | undefined;

/**
 * Whether testcontainers finds a working container runtime (DOCKER_HOST, ~/.testcontainers.properties,
 * /var/run/docker.sock, rootless socket...) that answers a ping. Cached for the process.
 */
export function checkDocker(timeoutMs = 15_000): Promise<DockerCheck> {
  checked ??= (async (): Promise<DockerCheck> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      });
      const client = await Promise.race([getContainerRuntimeClient(), timeout]);
      await Promise.race([client.container.dockerode.ping(), timeout]);
      return { available: true };
    } catch (err) {
      return { available: false, reason: (err as Error)?.message ?? String(err) };
    } finally {
      clearTimeout(timer);
    }
  })();
  return checked;
}

/** `true` when a Docker engine is reachable for testcontainers (see `checkDocker`). */
export async function dockerAvailable(): Promise<boolean> {
  return (await checkDocker()).available;
}

/** Container ids (running or not) carrying `label=value`. */
export async function containersByLabel(label: string, value: string, client?: ContainerRuntimeClient): Promise<string[]> {
  const c = client ?? (await getContainerRuntimeClient());
  const list = await c.container.dockerode.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
  return list.map((i) => i.Id);
}

/** Force-removes every container of a run (also those a failed start left behind). */
export async function removeRun(runId: string, client?: ContainerRuntimeClient): Promise<number> {
  const c = client ?? (await getContainerRuntimeClient());
  const ids = await containersByLabel(RUN_LABEL, runId, c);
  await Promise.all(
    ids.map(async (id) => {
      try {
        await c.container.dockerode.getContainer(id).remove({ force: true, v: true });
      } catch (err) {
        // already gone (404) or being removed (409) by another path: fine
        const status = (err as { statusCode?: number }).statusCode;
        if (status !== 404 && status !== 409) throw err;
      }
    }),
  );
  return ids.length;
}
