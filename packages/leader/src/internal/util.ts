import { hasCode, isRetryable, zabError, type CallOptions, type ZabClient } from '@zabkit/client';

export interface Deadline {
  /** Aborts on the caller's signal (reason: Aborted) or after timeoutMs (reason: OperationTimeout). */
  signal: AbortSignal;
  dispose(): void;
}

export function deadline(opts: CallOptions, what: string): Deadline {
  const ctl = new AbortController();
  const onAbort = (): void => ctl.abort(zabError('Aborted', `${what} aborted`, { cause: opts.signal?.reason }));
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => ctl.abort(zabError('OperationTimeout', `${what} timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
  return {
    signal: ctl.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    },
  };
}

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
