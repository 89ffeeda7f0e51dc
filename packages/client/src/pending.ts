import type { Request, ResponseBody } from '@zabkit/protocol';
import { zabError, type ZabError } from './errors.js';
import type { CallOptions } from './options.js';

/** One request waiting for its reply (queued while not connected, or in flight under an xid). */
export interface Pending {
  req: Request;
  /** Path as the caller gave it (for error messages), if any. */
  path: string | undefined;
  resolve(body: ResponseBody): void;
  reject(err: ZabError): void;
  /** Runs synchronously when the reply arrives, before any later frame (watch registration). */
  onReply: ((body: ResponseBody) => void) | undefined;
  /** Clears the request's timer and abort listener. */
  cleanup(): void;
}

export interface SubmitOptions extends CallOptions {
  path?: string;
  onReply?: (body: ResponseBody) => void;
}

export function pathOpt(path: string | undefined): { path?: string } {
  return path === undefined ? {} : { path };
}

/** Queued and in-flight requests, in order; xids are assigned when a request is sent. */
export class RequestTable {
  private readonly queued: Pending[] = [];
  private readonly inflight = new Map<number, Pending>();
  private nextXid = 1;

  /**
   * Creates a pending request bounded by its timeout and signal; when either
   * fires it is dropped from the table (a late reply is then ignored).
   */
  create(req: Request, o: SubmitOptions, defaultTimeoutMs: number, place: (p: Pending) => void): Promise<ResponseBody> {
    return new Promise<ResponseBody>((resolve, reject) => {
      const timeoutMs = o.timeoutMs ?? defaultTimeoutMs;
      const drop = (err: ZabError): void => {
        this.forget(p);
        p.cleanup();
        reject(err);
      };
      const onAbort = (): void => drop(zabError('Aborted', 'request aborted', { ...pathOpt(o.path), cause: o.signal?.reason }));
      const timer = setTimeout(
        () => drop(zabError('OperationTimeout', `request timed out after ${timeoutMs} ms`, pathOpt(o.path))),
        timeoutMs,
      );
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const p: Pending = {
        req,
        path: o.path,
        resolve,
        reject,
        onReply: o.onReply,
        cleanup: () => {
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
        },
      };
      place(p);
    });
  }

  queue(p: Pending): void {
    this.queued.push(p);
  }

  takeQueued(): Pending[] {
    return this.queued.splice(0);
  }

  /** Records `p` as in flight and returns its xid. */
  assign(p: Pending): number {
    const xid = this.nextXid++;
    this.inflight.set(xid, p);
    return xid;
  }

  /** Removes and returns the request answered by `xid`, if it is still waiting. */
  take(xid: number): Pending | undefined {
    const p = this.inflight.get(xid);
    if (p) this.inflight.delete(xid);
    return p;
  }

  takeInflight(): Pending[] {
    const all = [...this.inflight.values()];
    this.inflight.clear();
    return all;
  }

  takeAll(): Pending[] {
    return [...this.takeQueued(), ...this.takeInflight()];
  }

  private forget(p: Pending): void {
    const i = this.queued.indexOf(p);
    if (i !== -1) this.queued.splice(i, 1);
    for (const [xid, q] of this.inflight) {
      if (q === p) {
        this.inflight.delete(xid);
        break;
      }
    }
  }
}
