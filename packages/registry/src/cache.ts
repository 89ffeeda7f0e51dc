import { EventEmitter } from 'eventemitter3';
import { hasCode, zabError, type Stat, type ZabClient, type ZabError, SessionListener } from '@zabkit/client';
import { joinPath } from '@zabkit/protocol';
import { decodeInstance, sameInstance, servicePath } from './codec.js';
import { Refresher } from '@zabkit/client';
import type { Metadata, ServiceCacheOptions, ServiceInstance, WaitOptions } from './types.js';

/** Typed events of `ServiceCache`. */
export interface ServiceCacheEvents<M extends Metadata> {
  added: [instance: ServiceInstance<M>];
  removed: [instance: ServiceInstance<M>];
  updated: [instance: ServiceInstance<M>, previous: ServiceInstance<M>];
  /** The cache stopped following: the session expired or the client closed (call `rebind(newClient)` to go on). */
  error: [error: Error];
}

interface Slot<M extends Metadata> {
  refresher: Refresher;
  watch: () => void;
  instance?: ServiceInstance<M>;
  seen?: { czxid: bigint; version: number };
  gone: boolean;
}

/**
 * The live instances of one service, kept current by watches: a children
 * watch on `<basePath>/<name>` and a data watch per instance, each re-armed on
 * every read and re-read after every event and every reconnect.
 */
export class ServiceCache<M extends Metadata = Metadata> extends EventEmitter<ServiceCacheEvents<M>> {
  readonly name: string;
  readonly path: string;
  private client: ZabClient;
  private readonly retryDelayMs: number | undefined;
  private readonly slots = new Map<string, Slot<M>>();
  private readonly refresher: Refresher;
  private started = false;
  private closed = false;
  private failure: Error | undefined;
  private startPromise: Promise<void> | undefined;
  /** Aborted by close(): pending waits reject with Closed. */
  private readonly lifetime = new AbortController();

  constructor(client: ZabClient, options: ServiceCacheOptions) {
    super();
    this.client = client;
    this.name = options.name;
    this.path = servicePath(options.basePath, options.name);
    this.retryDelayMs = options.retryDelayMs;
    this.refresher = new Refresher(() => this.readChildren(), (err) => this.fail(err), this.retryDelayMs);
  }

  /** Loads the instances and starts following them. Idempotent. */
  async start(options: WaitOptions = {}): Promise<ServiceInstance<M>[]> {
    if (this.closed) throw zabError('Closed', 'ServiceCache is closed', { path: this.path });
    if (!this.started) {
      this.started = true;
      this.attach(this.client);
      this.startPromise = this.refresher.kick();
    }
    await withLimits(this.startPromise!, options, `ServiceCache.start(${this.name})`);
    if (this.failure) throw this.failure;
    return this.instances();
  }

  /** The known instances, sorted by id. */
  instances(): ServiceInstance<M>[] {
    const out: ServiceInstance<M>[] = [];
    for (const slot of this.slots.values()) if (slot.instance) out.push(slot.instance);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: string): ServiceInstance<M> | undefined {
    return this.slots.get(id)?.instance;
  }

  /** Resolves with the instances once `predicate(instances)` holds. */
  waitFor(predicate: (instances: ServiceInstance<M>[]) => boolean, options: WaitOptions = {}): Promise<ServiceInstance<M>[]> {
    if (this.closed) return Promise.reject(zabError('Closed', 'ServiceCache is closed', { path: this.path }));
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const check = (): void => {
        if (this.started && predicate(this.instances())) finish();
      };
      const onError = (e: Error): void => finish(e);
      const onAbort = (): void => finish(zabError('Aborted', 'ServiceCache.waitFor aborted', { cause: options.signal?.reason }));
      const onClose = (): void => finish(zabError('Closed', 'ServiceCache closed while waiting', { path: this.path }));
      const finish = (err?: Error): void => {
        if (timer) clearTimeout(timer);
        for (const e of ['added', 'removed', 'updated'] as const) this.off(e, check);
        this.off('error', onError);
        options.signal?.removeEventListener('abort', onAbort);
        this.lifetime.signal.removeEventListener('abort', onClose);
        if (err) reject(err);
        else resolve(this.instances());
      };
      if (options.signal?.aborted) return onAbort();
      for (const e of ['added', 'removed', 'updated'] as const) this.on(e, check);
      this.on('error', onError);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.lifetime.signal.addEventListener('abort', onClose, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => finish(zabError('OperationTimeout', `ServiceCache.waitFor: not true after ${options.timeoutMs} ms`)), options.timeoutMs);
      }
      check();
    });
  }

  /** Continues on another client (after the old one's session expired): re-reads everything there. */
  async rebind(client: ZabClient): Promise<void> {
    if (this.closed) throw zabError('Closed', 'ServiceCache is closed', { path: this.path });
    this.detach(this.client);
    this.client = client;
    this.failure = undefined;
    this.refresher.resume();
    for (const slot of this.slots.values()) slot.refresher.resume();
    if (!this.started) return;
    this.attach(client);
    await Promise.all([this.refresher.kick(), ...[...this.slots.values()].map((s) => s.refresher.kick())]);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.lifetime.abort();
    this.refresher.stop();
    for (const slot of this.slots.values()) slot.refresher.stop();
    this.detach(this.client);
    this.removeAllListeners();
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----------------------------------------------------------------

  private readonly onWatch = (): void => {
    if (!this.closed) void this.refresher.kick();
  };
  private readonly onReconnected = (): void => {
    if (this.closed) return;
    void this.refresher.kick();
    for (const slot of this.slots.values()) void slot.refresher.kick();
  };
  private readonly onExpired = (err: ZabError): void => this.fail(err);
  private readonly onClientClosed = (): void => this.fail(zabError('Closed', 'client closed', { path: this.path }));

  private readonly session = new SessionListener({
    reconnected: () => this.onReconnected(),
    expired: (err) => this.onExpired(err),
    closed: () => this.onClientClosed(),
  });

  private attach(client: ZabClient): void {
    this.session.bind(client);
  }

  private detach(_client: ZabClient): void {
    this.session.unbind();
  }

  private async readChildren(): Promise<void> {
    const client = this.client;
    let ids: string[];
    try {
      ids = await client.getChildren(this.path, { watch: this.onWatch });
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
      if ((await client.exists(this.path, { watch: this.onWatch })) !== null) {
        void this.refresher.kick();
        return;
      }
      ids = [];
    }
    if (client !== this.client || this.closed) return;
    const present = new Set(ids);
    for (const [id, slot] of this.slots) {
      if (present.has(id)) continue;
      this.drop(id, slot);
    }
    const reads: Promise<void>[] = [];
    for (const id of ids) {
      if (this.slots.has(id)) continue;
      const slot: Slot<M> = {
        refresher: new Refresher(() => this.readInstance(id, slot), (err) => this.fail(err), this.retryDelayMs),
        watch: () => {
          if (!this.closed && !slot.gone) void slot.refresher.kick();
        },
        gone: false,
      };
      this.slots.set(id, slot);
      reads.push(slot.refresher.kick());
    }
    await Promise.all(reads);
  }

  private async readInstance(id: string, slot: Slot<M>): Promise<void> {
    const client = this.client;
    let data: Uint8Array | null;
    let stat: Stat;
    try {
      ({ data, stat } = await client.getData(joinPath(this.path, id), { watch: slot.watch }));
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
      if (client === this.client && !slot.gone) this.drop(id, slot);
      return;
    }
    if (client !== this.client || this.closed || slot.gone) return;
    const seen = slot.seen;
    if (seen && (stat.czxid < seen.czxid || (stat.czxid === seen.czxid && stat.version <= seen.version))) return;
    slot.seen = { czxid: stat.czxid, version: stat.version };
    const instance = decodeInstance<M>(data);
    const previous = slot.instance;
    if (!instance) return; // not an instance (foreign or corrupt data): ignored
    slot.instance = instance;
    if (!previous) this.emit('added', instance);
    else if (!sameInstance(previous, instance)) this.emit('updated', instance, previous);
  }

  /** The instance node is gone (the children list or its own read says so). */
  private drop(id: string, slot: Slot<M>): void {
    slot.gone = true;
    slot.refresher.stop();
    if (this.slots.get(id) === slot) this.slots.delete(id);
    if (slot.instance) this.emit('removed', slot.instance);
  }

  private fail(err: unknown): void {
    if (this.closed || this.failure) return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.failure = error;
    this.refresher.stop();
    for (const slot of this.slots.values()) slot.refresher.stop();
    this.emit('error', error);
  }
}

async function withLimits(p: Promise<void>, options: WaitOptions, what: string): Promise<void> {
  if (!options.signal && options.timeoutMs === undefined) return p;
  const ac = new AbortController();
  const limits: Promise<never>[] = [];
  if (options.timeoutMs !== undefined) {
    const ms = options.timeoutMs;
    limits.push(
      new Promise<never>((_, reject) => {
        const t = setTimeout(() => reject(zabError('OperationTimeout', `${what}: not done after ${ms} ms`)), ms);
        ac.signal.addEventListener('abort', () => clearTimeout(t), { once: true });
      }),
    );
  }
  if (options.signal) {
    const signal = options.signal;
    limits.push(
      new Promise<never>((_, reject) => {
        const onAbort = (): void => reject(zabError('Aborted', `${what}: aborted`, { cause: signal.reason }));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        ac.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
      }),
    );
  }
  try {
    await Promise.race([p, ...limits]);
  } finally {
    ac.abort();
  }
}
