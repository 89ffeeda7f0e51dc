import { zabError } from '@zabkit/client';
import type { WaitOptions } from './options.js';

/**
 * A conflating async iterator: a slow consumer skips values that were
 * replaced before it asked, but always gets the latest one. Ends on `end()`,
 * throws after `fail()`.
 * @internal
 */
export class LatestChannel<T> implements AsyncIterableIterator<T> {
  private slot: { value: T } | null = null;
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiter: ((err: unknown) => void) | null = null;
  private finished = false;
  private error: unknown = undefined;

  constructor(private readonly onDone: (ch: LatestChannel<T>) => void) {}

  push(value: T): void {
    if (this.finished) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failWaiter = null;
      w({ value, done: false });
    } else this.slot = { value };
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone(this);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failWaiter = null;
      w({ value: undefined, done: true });
    }
  }

  fail(err: unknown): void {
    if (this.finished) return;
    const f = this.failWaiter;
    this.waiter = this.failWaiter = null;
    this.finished = true;
    this.onDone(this);
    if (f) f(err);
    else this.error = err;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.slot) {
      const { value } = this.slot;
      this.slot = null;
      return Promise.resolve({ value, done: false });
    }
    if (this.finished) {
      if (this.error !== undefined) {
        const e = this.error;
        this.error = undefined;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.slot = null;
    this.error = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/**
 * Resolves when `check()` is true, re-checking whenever `subscribe`'s callback
 * fires; rejects with Aborted / OperationTimeout per `options`, or with the
 * error `subscribe`'s `fail` callback gets.
 * @internal
 */
export function waitUntil(
  check: () => boolean,
  subscribe: (onChange: () => void, fail: (err: unknown) => void) => () => void,
  options: WaitOptions,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let unsubscribe = (): void => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (err?: unknown): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(zabError('Aborted', `${what}: aborted`, { cause: options.signal?.reason }));
    if (options.signal?.aborted) return onAbort();
    if (check()) return resolve();
    unsubscribe = subscribe(() => {
      if (check()) finish();
    }, finish);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => finish(zabError('OperationTimeout', `${what}: not done after ${options.timeoutMs} ms`)), options.timeoutMs);
    }
  });
}

/** Races `promise` against `options` (signal, timeoutMs). @internal */
export function bounded<T>(promise: Promise<T>, options: WaitOptions, what: string): Promise<T> {
  if (!options.signal && options.timeoutMs === undefined) return promise;
  let result: { ok: true; value: T } | { ok: false; err: unknown } | undefined;
  let wake: () => void = () => {};
  promise.then(
    (value) => {
      result = { ok: true, value };
      wake();
    },
    (err: unknown) => {
      result = { ok: false, err };
      wake();
    },
  );
  return waitUntil(
    () => result !== undefined,
    (onChange) => {
      wake = onChange;
      return () => {
        wake = () => {};
      };
    },
    options,
    what,
  ).then(() => {
    if (!result!.ok) throw result!.err;
    return result!.value;
  });
}
