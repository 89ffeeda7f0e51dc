// The lifetime of one blocking recipe call (take, enter, leave, acquire ...): the
// caller's signal, its timeout, the handle closing and the session ending all abort it.
import type { ZabClient } from './client.js';
import { ZabError, zabError } from './errors.js';

export interface WaitOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/**
 * Aborts `signal` with a ZabError reason when the caller's signal aborts
 * (Aborted), `timeoutMs` passes (OperationTimeout), the owning handle closes
 * (Closed), or the session expires / the client closes (SessionExpired / Closed).
 */
export class CallScope {
  private readonly ac = new AbortController();
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly client: ZabClient,
    what: string,
    options: WaitOptions,
    owner?: AbortSignal,
  ) {
    const abort = (err: ZabError): void => {
      if (!this.ac.signal.aborted) this.ac.abort(err);
    };
    const user = options.signal;
    const onUser = (): void => abort(zabError('Aborted', `${what} aborted`, { cause: user?.reason }));
    const onOwner = (): void => abort(zabError('Closed', `${what}: the handle was closed`));
    const onExpired = (): void => abort(zabError('SessionExpired', `${what}: the session expired`));
    const onClosed = (): void => abort(zabError('Closed', `${what}: the client was closed`));
    if (user) this.listen(user, onUser);
    if (owner) this.listen(owner, onOwner);
    this.client.on('expired', onExpired);
    this.client.on('closed', onClosed);
    this.cleanups.push(() => {
      this.client.off('expired', onExpired);
      this.client.off('closed', onClosed);
    });
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      const t = setTimeout(() => abort(zabError('OperationTimeout', `${what} timed out after ${ms} ms`)), ms);
      this.cleanups.push(() => clearTimeout(t));
    }
    if (client.state === 'expired') onExpired();
    else if (client.state === 'closed') onClosed();
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** The error to report for `err` thrown inside the scope: the abort reason wins. */
  error(err: unknown): unknown {
    return this.ac.signal.aborted ? this.ac.signal.reason : err;
  }

  /** Throws the abort reason, if any. */
  check(): void {
    if (this.ac.signal.aborted) throw this.ac.signal.reason;
  }

  /** Resolves when `fired` resolves or the client reconnects; rejects with the reason when the scope aborts. */
  until(fired: Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.ac.signal.aborted) return reject(this.ac.signal.reason);
      const done = (): void => {
        this.ac.signal.removeEventListener('abort', onAbort);
        this.client.off('reconnected', done);
        resolve();
      };
      const onAbort = (): void => {
        this.client.off('reconnected', done);
        reject(this.ac.signal.reason);
      };
      this.ac.signal.addEventListener('abort', onAbort, { once: true });
      this.client.on('reconnected', done);
      void fired.then(done);
    });
  }

  /** A short pause (after a retryable error); rejects with the reason when the scope aborts. */
  pause(ms: number): Promise<void> {
    const t = new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      this.ac.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    });
    return this.until(t);
  }

  dispose(): void {
    for (const c of this.cleanups.splice(0)) c();
  }

  private listen(signal: AbortSignal, fn: () => void): void {
    if (signal.aborted) return fn();
    signal.addEventListener('abort', fn, { once: true });
    this.cleanups.push(() => signal.removeEventListener('abort', fn));
  }
}

/** A one-shot trigger to hand to a watch: `fired` resolves on the first `fire()`. */
export function trigger(): { fired: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const fired = new Promise<void>((r) => (fire = () => r()));
  return { fired, fire };
}
