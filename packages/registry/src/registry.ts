import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import {
  hasCode,
  isRetryable,
  mkdirp,
  waitForDeletion,
  zabError,
  type CallOptions,
  type ZabClient,
  type ZabError,
} from '@zabkit/client';
import { parentOf } from '@zabkit/protocol';
import { decodeInstance, encodeInstance, instancePath, servicePath } from './codec.js';
import type {
  InstanceInput,
  InstanceUpdate,
  Metadata,
  RegisterOptions,
  ServiceInstance,
  ServiceRegistryOptions,
  WaitOptions,
} from './types.js';

/** Typed events of `ServiceRegistry`. */
export interface ServiceRegistryEvents<M extends Metadata> {
  /** An instance's node was (re)created or rewritten by the registry after a reconnect or a rebind. */
  reregistered: [instance: ServiceInstance<M>, reason: 'reconnected' | 'rebound'];
  /** The session expired: every ephemeral registration is gone until a rebind (automatic with `clientFactory`). */
  expired: [error: ZabError];
  /** The registry now uses `client` (after `rebind` or through `clientFactory`) and re-registered everything. */
  rebound: [client: ZabClient];
  /** A background re-registration or the client factory failed (it is retried while it can help). */
  error: [error: Error, instance?: ServiceInstance<M>];
}

interface Entry<M extends Metadata> {
  instance: ServiceInstance<M>;
  path: string;
  permanent: boolean;
  /** Serialises writes of this entry (register, update, re-register, unregister). */
  queue: Promise<unknown>;
  removed: boolean;
}

/**
 * Registers service instances as `<basePath>/<name>/<id>` nodes holding the
 * instance as JSON, ephemeral by default. Keeps them registered: after a
 * reconnect it checks each node and recreates it if it is gone; after a
 * session expiry it re-registers through a new client (`clientFactory` or
 * `rebind`), always with the CURRENT data (the last `update`), never stale data.
 */
export class ServiceRegistry<M extends Metadata = Metadata> extends EventEmitter<ServiceRegistryEvents<M>> {
  readonly basePath: string;
  private current: ZabClient;
  private readonly options: ServiceRegistryOptions;
  private readonly entries = new Map<string, Entry<M>>();
  /** Sessions this registry used before: their leftover ephemerals are ours to replace. */
  private readonly pastSessions = new Set<bigint>();
  private closed = false;
  private rebinding: Promise<void> | null = null;

  constructor(client: ZabClient, options: ServiceRegistryOptions) {
    super();
    if (typeof options?.basePath !== 'string') throw new TypeError('ServiceRegistry: basePath is required');
    this.basePath = options.basePath;
    this.options = options;
    this.current = client;
    this.attach(client);
  }

  /** The client in use (changes after a rebind). */
  get client(): ZabClient {
    return this.current;
  }

  /** Registers an instance; resolves once its node holds the instance. */
  async register(input: InstanceInput<M>, options: RegisterOptions = {}): Promise<Registration<M>> {
    this.checkOpen();
    const id = input.id ?? randomUUID();
    if (this.entries.has(id)) throw zabError('NodeExists', `instance ${id} is already registered by this registry`, { path: instancePath(this.basePath, input.name, id) });
    const instance: ServiceInstance<M> = {
      name: input.name,
      id,
      address: input.address,
      port: input.port,
      metadata: input.metadata ?? ({} as M),
      registeredAt: Date.now(),
    };
    const entry: Entry<M> = { instance, path: instancePath(this.basePath, input.name, id), permanent: options.permanent === true, queue: Promise.resolve(), removed: false };
    this.entries.set(id, entry);
    try {
      await this.enqueue(entry, () => this.writeRetrying(entry, callOptions(options)));
    } catch (err) {
      this.entries.delete(id);
      throw err;
    }
    return new Registration(this, id);
  }

  /**
   * Changes a registered instance. The new data becomes the CURRENT data at
   * once: if the write fails (connection loss, expiry) it is the data that
   * re-registration writes.
   */
  async update(change: InstanceUpdate<M>, options: WaitOptions = {}): Promise<ServiceInstance<M>> {
    this.checkOpen();
    const entry = this.entries.get(change.id);
    if (!entry) throw zabError('NoNode', `instance ${change.id} is not registered by this registry`);
    if (change.name !== undefined && change.name !== entry.instance.name) throw new TypeError(`update cannot rename ${change.id} (${entry.instance.name} -> ${change.name})`);
    const next: ServiceInstance<M> = { ...entry.instance };
    if (change.address !== undefined) next.address = change.address;
    if (change.port !== undefined) next.port = change.port;
    if (change.metadata !== undefined) next.metadata = change.metadata;
    entry.instance = next;
    await this.enqueue(entry, () => this.writeRetrying(entry, callOptions(options)));
    return next;
  }

  /** Removes an instance (its node too, even a permanent one). Unknown ids are fine. */
  async unregister(id: string, options: WaitOptions = {}): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    entry.removed = true;
    await this.enqueue(entry, async () => {
      try {
        await this.current.delete(entry.path, callOptions(options));
      } catch (err) {
        if (!hasCode(err, 'NoNode')) throw err;
      }
    });
  }

  /** The instances this registry registered, with their current data. */
  registered(): ServiceInstance<M>[] {
    return [...this.entries.values()].map((e) => e.instance);
  }

  /** Reads the instances of service `name` (empty when there are none). */
  discover(name: string, options: WaitOptions = {}): Promise<ServiceInstance<M>[]> {
    return discover<M>(this.current, this.basePath, name, options);
  }

  /**
   * Continues on `client` (typically after the old session expired):
   * re-registers every instance with its current data. Resolves when done.
   */
  rebind(client: ZabClient, options: WaitOptions = {}): Promise<void> {
    this.checkOpen();
    if (this.current !== client) {
      this.detach(this.current);
      if (this.current.sessionId !== 0n) this.pastSessions.add(this.current.sessionId);
      this.current = client;
      this.attach(client);
    }
    return this.reregisterAll('rebound', options).then(() => {
      this.emit('rebound', client);
    });
  }

  /**
   * Unregisters every ephemeral instance (permanent ones stay) and stops.
   * Does not close the client. Idempotent.
   */
  async close(options: WaitOptions = {}): Promise<void> {
    if (this.closed) return;
    const ephemeral = [...this.entries.values()].filter((e) => !e.permanent);
    await Promise.allSettled(ephemeral.map((e) => this.unregister(e.instance.id, options)));
    this.closed = true;
    this.entries.clear();
    this.detach(this.current);
    this.removeAllListeners();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal */
  entry(id: string): ServiceInstance<M> | undefined {
    return this.entries.get(id)?.instance;
  }

  // ---- internals ----------------------------------------------------------------

  private readonly onReconnected = (): void => {
    if (!this.closed) void this.reregisterAll('reconnected', {}).catch(() => {});
  };

  private readonly onExpired = (err: ZabError): void => {
    if (this.closed) return;
    this.emit('expired', err);
    const factory = this.options.clientFactory;
    if (!factory || this.rebinding) return;
    const dead = this.current;
    this.rebinding = (async () => {
      let pause = this.options.retryDelayMs ?? 50;
      while (!this.closed && this.current === dead) {
        try {
          const client = await factory();
          if (this.closed) return void (await client.close().catch(() => {}));
          await this.rebind(client);
          return;
        } catch (e) {
          this.emit('error', e instanceof Error ? e : new Error(String(e)));
          await sleep(pause);
          pause = Math.min(1000, pause * 2);
        }
      }
    })().finally(() => {
      this.rebinding = null;
    });
  };

  private attach(client: ZabClient): void {
    client.on('reconnected', this.onReconnected);
    client.on('expired', this.onExpired);
  }

  private detach(client: ZabClient): void {
    client.off('reconnected', this.onReconnected);
    client.off('expired', this.onExpired);
  }

  private async reregisterAll(reason: 'reconnected' | 'rebound', options: WaitOptions): Promise<void> {
    const client = this.current;
    const results = await Promise.allSettled(
      [...this.entries.values()].map((entry) =>
        this.enqueue(entry, async () => {
          let pause = this.options.retryDelayMs ?? 50;
          for (;;) {
            if (entry.removed || this.closed || client !== this.current) return;
            try {
              if (await this.write(entry, client, callOptions(options))) this.emit('reregistered', entry.instance, reason);
              return;
            } catch (err) {
              if (!isRetryable(err) || options.signal?.aborted) {
                this.emit('error', err instanceof Error ? err : new Error(String(err)), entry.instance);
                throw err;
              }
              await sleep(pause);
              pause = Math.min(1000, pause * 2);
            }
          }
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * `write` through the current client, tried again (a few times) after a
   * retryable error such as a lost reply: the next attempt finds the node it
   * may have created by its ephemeral owner.
   */
  private async writeRetrying(entry: Entry<M>, call: CallOptions): Promise<void> {
    let pause = this.options.retryDelayMs ?? 50;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.write(entry, this.current, call);
        return;
      } catch (err) {
        if (!isRetryable(err) || attempt >= 5 || call.signal?.aborted) throw err;
        await sleep(pause);
        pause = Math.min(1000, pause * 2);
      }
    }
  }

  /**
   * Makes the node hold the entry's current data. Resolves true when it had
   * to create or rewrite it, false when it was already right.
   */
  private async write(entry: Entry<M>, client: ZabClient, call: CallOptions): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      if (entry.removed) return false;
      const data = encodeInstance(entry.instance);
      const mode = entry.permanent ? 'persistent' : 'ephemeral';
      let existing: { data: Uint8Array | null; stat: { version: number; ephemeralOwner: bigint } } | undefined;
      try {
        // A sync first: after a reconnect this server may not yet have applied a delete of our node
        // made through another one, and a stale look would leave the instance unregistered.
        await client.sync(entry.path, call);
        existing = await client.getData(entry.path, call);
      } catch (err) {
        if (!hasCode(err, 'NoNode')) throw err;
      }
      if (existing === undefined) {
        try {
          await mkdirp(client, parentOf(entry.path), call);
          await client.create(entry.path, data, { ...call, mode });
          return true;
        } catch (err) {
          // NodeExists: maybe our own create whose reply was lost; look again
          if (!hasCode(err, 'NodeExists') || attempt >= 10) throw err;
          continue;
        }
      }
      const owner = existing.stat.ephemeralOwner;
      if (!entry.permanent && owner !== client.sessionId) {
        if (owner === 0n || !this.pastSessions.has(owner)) {
          throw zabError('NodeExists', `${entry.path} is already registered by another session (0x${owner.toString(16)})`, { path: entry.path });
        }
        // our own node from an older session that the ensemble has not expired yet
        await waitForDeletion(client, entry.path, { ...call, timeoutMs: call.timeoutMs ?? 2 * client.sessionTimeoutMs + 5_000 });
        continue;
      }
      if (existing.data !== null && new TextDecoder().decode(existing.data) === data) return false;
      try {
        await client.setData(entry.path, data, { ...call, version: existing.stat.version });
        return true;
      } catch (err) {
        if (!(hasCode(err, 'BadVersion') || hasCode(err, 'NoNode')) || attempt >= 10) throw err;
      }
    }
  }

  private enqueue<R>(entry: Entry<M>, op: () => Promise<R>): Promise<R> {
    const run = entry.queue.then(op, op);
    entry.queue = run.catch(() => {});
    return run;
  }

  private checkOpen(): void {
    if (this.closed) throw zabError('Closed', 'ServiceRegistry is closed');
  }
}

/** A handle on one registered instance. `close()` unregisters it. */
export class Registration<M extends Metadata = Metadata> {
  constructor(
    private readonly registry: ServiceRegistry<M>,
    readonly id: string,
  ) {}

  /** The instance's current data (undefined once unregistered). */
  get instance(): ServiceInstance<M> | undefined {
    return this.registry.entry(this.id);
  }

  update(change: Omit<InstanceUpdate<M>, 'id'>, options: WaitOptions = {}): Promise<ServiceInstance<M>> {
    return this.registry.update({ ...change, id: this.id }, options);
  }

  unregister(options: WaitOptions = {}): Promise<void> {
    return this.registry.unregister(this.id, options);
  }

  close(): Promise<void> {
    return this.unregister();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Reads the instances of service `name` under `basePath`, sorted by id. Nodes that do not hold a valid instance are skipped. */
export async function discover<M extends Metadata = Metadata>(
  client: ZabClient,
  basePath: string,
  name: string,
  options: WaitOptions = {},
): Promise<ServiceInstance<M>[]> {
  const call = callOptions(options);
  const dir = servicePath(basePath, name);
  let ids: string[];
  try {
    ids = await client.getChildren(dir, call);
  } catch (err) {
    if (hasCode(err, 'NoNode')) return [];
    throw err;
  }
  const found = await Promise.all(
    ids.map(async (id) => {
      try {
        return decodeInstance<M>((await client.getData(`${dir}/${id}`, call)).data);
      } catch (err) {
        if (hasCode(err, 'NoNode')) return undefined;
        throw err;
      }
    }),
  );
  return found.filter((i): i is ServiceInstance<M> => i !== undefined).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function callOptions(o: WaitOptions): CallOptions {
  const call: CallOptions = {};
  if (o.signal) call.signal = o.signal;
  if (o.timeoutMs !== undefined) call.timeoutMs = o.timeoutMs;
  return call;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
