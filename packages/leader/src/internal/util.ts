import { hasCode, isRetryable, type ZabClient } from '@zabkit/client';

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Deletes `path`, retrying retryable errors (bounded); true once gone or gone with the session. */
export async function removeNode(client: ZabClient, path: string, attempts = 20): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (client.state === 'expired' || client.state === 'closed') return true;
    try {
      await client.delete(path);
      return true;
    } catch (err) {
      if (hasCode(err, 'NoNode') || hasCode(err, 'SessionExpired') || hasCode(err, 'Closed')) return true;
      if (!isRetryable(err)) return false;
      await sleep(Math.min(1000, 50 * 2 ** i));
    }
  }
  return false;
}
