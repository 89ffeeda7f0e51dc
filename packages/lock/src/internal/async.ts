/** The scope's own reason when it aborted (so callers see Aborted / OperationTimeout / Closed), else `err`. */
export function reasonOr(signal: AbortSignal, err: unknown): unknown {
  return signal.aborted ? signal.reason : err;
}

export { sleep } from '@zabkit/client';

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
