import { randomUUID } from 'node:crypto';
import { basename, joinPath, parentOf, type CreateMode, type Stat } from '@zabkit/protocol';
import type { ZabClient } from './client.js';
import type { DataInput } from './data.js';
import { ZabError, hasCode, isRetryable, zabError } from './errors.js';
import type { CallOptions } from './options.js';

/** Prefix of GUID-protected names: `_c_<uuid>-<name>`. */
export const PROTECTED_PREFIX = '_c_';
const PROTECTED_RE = /^_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-/;

/** The sequence number in the 10-digit suffix of a sequential node name, or undefined. */
export function sequenceOf(name: string): number | undefined {
  const m = /(\d{10})$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Strips the `_c_<uuid>-` protection prefix, if any. */
export function stripProtected(name: string): string {
  return name.replace(PROTECTED_RE, '');
}

export function isProtected(name: string): boolean {
  return PROTECTED_RE.test(name);
}

/**
 * Sorts sequential children by their 10-digit suffix (ties by name), keeping
 * only names with such a suffix and, when `prefix` is given, whose name before
 * the suffix ends with `prefix` (so protected `_c_<uuid>-lock-` names match `lock-`).
 */
export function sortSequential(children: readonly string[], prefix?: string): string[] {
  const keyed: { name: string; seq: number }[] = [];
  for (const name of children) {
    const seq = sequenceOf(name);
    if (seq === undefined) continue;
    if (prefix !== undefined && !name.slice(0, -10).endsWith(prefix)) continue;
    keyed.push({ name, seq });
  }
  keyed.sort((a, b) => a.seq - b.seq || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return keyed.map((k) => k.name);
}

export interface ProtectedCreateOptions extends CallOptions {
  /** For ttl modes. */
  ttlMs?: number;
  /** Attempts after the first one when the outcome is unknown. Default 10. */
  retries?: number;
  /**
   * The GUID to protect the name with, so the caller can find (and clean up)
   * the node itself when this call fails with an unknown outcome (aborted,
   * retries exhausted). Must be a v4-style UUID (e.g. `randomUUID()`) for
   * `isProtected` to recognise the name. Default: a fresh `randomUUID()`.
   */
  guid?: string;
  /**
   * Asked when a create's outcome was unknown and its node is not found: did
   * someone already consume (delete) it? Return the node's path if so (the
   * create is then reported done, not repeated), or null to create again.
   * Queues use this so a lost put reply never duplicates an item.
   */
  alreadyConsumed?: (guid: string) => Promise<string | null>;
}

/**
 * Creates `<parent>/_c_<uuid>-<name>` (with the sequence suffix for sequential
 * modes). When a reply is lost (ConnectionLoss, OperationTimeout ...) it lists
 * the parent to find the node it may already have made before trying again,
 * so a retried create never leaves an orphan behind. Resolves with the path.
 */
export async function createProtected(
  client: ZabClient,
  pathPrefix: string,
  data: DataInput = null,
  mode: CreateMode = 'ephemeral-sequential',
  options: ProtectedCreateOptions = {},
): Promise<string> {
  return (await protectedCreate(client, pathPrefix, data, mode, options, false)).path;
}

/**
 * createProtected, also giving the new node's Stat when this call's own create made it. The Stat is
 * null when the node was found by its GUID after a lost reply (or reported consumed): read it then
 * to learn its owner.
 */
export async function createProtectedWithStat(
  client: ZabClient,
  pathPrefix: string,
  data: DataInput = null,
  mode: CreateMode = 'ephemeral-sequential',
  options: ProtectedCreateOptions = {},
): Promise<{ path: string; stat: Stat | null }> {
  return protectedCreate(client, pathPrefix, data, mode, options, true);
}

async function protectedCreate(
  client: ZabClient,
  pathPrefix: string,
  data: DataInput,
  mode: CreateMode,
  options: ProtectedCreateOptions,
  withStat: boolean,
): Promise<{ path: string; stat: Stat | null }> {
  const parent = parentOf(pathPrefix);
  const guid = options.guid ?? randomUUID();
  const guidName = `${PROTECTED_PREFIX}${guid}-${basename(pathPrefix)}`;
  const full = joinPath(parent, guidName);
  const retries = options.retries ?? 10;
  const call: CallOptions = {};
  if (options.signal) call.signal = options.signal;
  if (options.timeoutMs !== undefined) call.timeoutMs = options.timeoutMs;
  let unknownOutcome = false;
  for (let attempt = 0; ; attempt++) {
    try {
      if (unknownOutcome) {
        // Catch up with the leader first, so a create that did commit is seen here.
        await client.sync(parent, call);
        const children = await client.getChildren(parent, call);
        const mine = children.find((c) => c.startsWith(guidName));
        if (mine !== undefined) return { path: joinPath(parent, mine), stat: null };
        const consumed = await options.alreadyConsumed?.(guid);
        if (consumed) return { path: consumed, stat: null };
      }
      const createOpts: Parameters<ZabClient['create']>[2] = { ...call, mode };
      if (options.ttlMs !== undefined) createOpts.ttlMs = options.ttlMs;
      return withStat ? await client.createWithStat(full, data, createOpts) : { path: await client.create(full, data, createOpts), stat: null };
    } catch (err) {
      // A plain (non-sequential) name carries our GUID: if it exists, it is ours.
      if (hasCode(err, 'NodeExists') && !mode.endsWith('sequential')) return { path: full, stat: null };
      if (!isRetryable(err) || attempt >= retries) throw err;
      if (hasCode(err, 'ConnectionLoss') || hasCode(err, 'OperationTimeout')) unknownOutcome = true;
      await delay(Math.min(1000, 20 * 2 ** attempt), options.signal);
    }
  }
}

/**
 * Resolves once `path` does not exist (at once if it is already gone). Uses an
 * exists watch, re-armed after every event. Rejects with OperationTimeout,
 * Aborted, SessionExpired or Closed.
 */
export function waitForDeletion(client: ZabClient, path: string, options: CallOptions = {}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const inner = new AbortController();
    let done = false;
    const finish = (err?: ZabError): void => {
      if (done) return;
      done = true;
      inner.abort();
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      client.off('expired', onExpired);
      client.off('closed', onClosed);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => finish(zabError('Aborted', 'waitForDeletion aborted', { path, cause: options.signal?.reason }));
    const onExpired = (): void => finish(zabError('SessionExpired', 'session expired while waiting for deletion', { path }));
    const onClosed = (): void => finish(zabError('Closed', 'client closed while waiting for deletion', { path }));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => finish(zabError('OperationTimeout', `${path} still exists after ${options.timeoutMs} ms`, { path })), options.timeoutMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    client.on('expired', onExpired);
    client.on('closed', onClosed);
    if (client.state === 'expired') return onExpired();
    if (client.state === 'closed') return onClosed();

    const check = async (): Promise<void> => {
      while (!done) {
        try {
          // A NodeDeleted event is the answer itself (a lock waiter's handoff saves a read on it);
          // any other event (the data changed) re-arms with a fresh exists.
          const stat = await client.exists(path, { signal: inner.signal, watch: (e) => (e.type === 'NodeDeleted' ? finish() : void check()) });
          if (stat === null) finish();
          return;
        } catch (err) {
          if (done) return;
          if (!isRetryable(err)) return finish(err instanceof ZabError ? err : zabError('SystemError', String(err), { path, cause: err }));
          // retryable: requests wait for the reconnection by themselves; a short pause avoids spinning on NotServing
          await delay(50, inner.signal).catch(() => {});
        }
      }
    };
    void check();
  });
}

/** Creates `path` and any missing ancestors as persistent nodes (no data). Existing nodes are fine. */
export async function mkdirp(client: ZabClient, path: string, options: CallOptions = {}): Promise<void> {
  if (path === '/' || (await client.exists(path, options)) !== null) return;
  const parts = path.slice(1).split('/');
  let current = '';
  for (const part of parts) {
    current += `/${part}`;
    try {
      await client.create(current, null, { ...options, mode: 'persistent' });
    } catch (err) {
      if (!hasCode(err, 'NodeExists')) throw err;
    }
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(zabError('Aborted', 'aborted', { cause: signal.reason }));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(zabError('Aborted', 'aborted', { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
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

const sessionGone = (c: ZabClient): boolean => c.state === 'expired' || c.state === 'closed';

/**
 * Deletes `path`, retrying retryable errors with backoff (bounded by `attempts`).
 * Resolves true once the node is gone or will go with the session (expired or
 * closed client), false if it gave up while the session may still hold it.
 */
export async function removeNode(client: ZabClient, path: string, attempts = 20): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (sessionGone(client)) return true;
    try {
      await client.delete(path);
      return true;
    } catch (err) {
      if (hasCode(err, 'NoNode') || hasCode(err, 'SessionExpired') || hasCode(err, 'Closed')) return true;
      if (!isRetryable(err)) return false;
      await sleep(Math.min(1000, 50 * 2 ** i));
    }
  }
  return sessionGone(client);
}

/**
 * Waits for a clean-up at most `ms` (default 1 s), so that normally a rejected call leaves nothing behind,
 * while a clean-up stuck behind a lost connection goes on in the background instead of holding the caller.
 */
export function settleBriefly(work: Promise<unknown>, ms = 1_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const wait = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  return Promise.race([work.then(() => {}, () => {}), wait]).finally(() => clearTimeout(timer));
}

/** What a recipe handle does when its client's session changes. */
export interface SessionHandlers {
  reconnected?: () => void;
  expired?: (err: ZabError) => void;
  closed?: () => void;
}

/**
 * Follows one client's session lifecycle for a recipe handle (re-read after
 * `reconnected`, fail on `expired` / `closed`); `bind` moves it to another
 * client (a handle's rebind after expiry), `unbind` stops listening.
 */
export class SessionListener {
  private client: ZabClient | null = null;
  private readonly onReconnected = (): void => this.handlers.reconnected?.();
  private readonly onExpired = (err: ZabError): void => this.handlers.expired?.(err);
  private readonly onClosed = (): void => this.handlers.closed?.();

  constructor(private readonly handlers: SessionHandlers) {}

  bind(client: ZabClient): void {
    this.unbind();
    this.client = client;
    client.on('reconnected', this.onReconnected);
    client.on('expired', this.onExpired);
    client.on('closed', this.onClosed);
  }

  unbind(): void {
    const c = this.client;
    if (!c) return;
    this.client = null;
    c.off('reconnected', this.onReconnected);
    c.off('expired', this.onExpired);
    c.off('closed', this.onClosed);
  }
}
