import { zabError, type CallOptions } from '@zabkit/client';

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

/** The deadline's own reason when it fired (so callers see Aborted / OperationTimeout), else `err`. */
export function reasonOr(signal: AbortSignal, err: unknown): unknown {
  return signal.aborted ? signal.reason : err;
}

/** Resolves after `ms`, or rejects with the signal's reason. */
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

/** Races `p` against the signal (the promise itself keeps running). */
export function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
