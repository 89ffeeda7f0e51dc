import { EventEmitter } from 'eventemitter3';
import { ZabError, hasCode, zabError, type Stat, type ZabClient, SessionListener } from '@zabkit/client';
import { jsonCodec, type Codec } from './codec.js';
import { ConfigValidationError } from './errors.js';
import type { ConfigWatcherOptions, WaitOptions } from './options.js';
import { Refresher } from '@zabkit/client';
import { LatestChannel, bounded, waitUntil } from './util.js';

/** One accepted change of a watched config node. */
export interface ConfigChange<T> {
  /** The new value; undefined when the node was deleted. */
  value: T | undefined;
  /** The value it replaces (undefined if there was none). */
  previous: T | undefined;
  /** Data version of the node (-1 when deleted). */
  version: number;
  /** Stat of the node, null when deleted. */
  stat: Stat | null;
}

/** Typed events of `ConfigWatcher`. */
export interface ConfigWatcherEvents<T> {
  /** A new valid value, or the node went away (`value` undefined). Not emitted for the value `start()` loads. */
  change: [change: ConfigChange<T>];
  /** The node was deleted (also followed by `change` with an undefined value). */
  deleted: [change: ConfigChange<T>];
  /** Node data that did not decode or validate; `get()` keeps returning the last good value. */
  invalid: [error: ConfigValidationError];
  /** The watcher stopped: its client's session expired or the client closed (call `rebind(newClient)` to go on). */
  error: [error: Error];
}

type Managed = { managed: true };

/**
 * Keeps the value of one config node current: reads it with a one-shot watch,
 * re-arms the watch on every read, and re-reads after every watch event and
 * after every reconnect, so the latest value is never missed. Reads never
 * overlap and a read older than the value held is ignored, so observed values
 * follow the node's version order.
 *
 * ```ts
 * await using watcher = new ConfigWatcher<Limits>(client, '/config/limits', { validate: parseLimits });
 * await watcher.start();
 * watcher.subscribe(({ value }) => apply(value));
 * ```
 */
export class ConfigWatcher<T = unknown> extends EventEmitter<ConfigWatcherEvents<T>> {
  readonly path: string;
  private client: ZabClient;
  private readonly codec: Codec<unknown>;
  private readonly validate: ((value: unknown) => T) | undefined;
  private readonly refresher: Refresher;
  private readonly managed: boolean;
  private readonly channels = new Set<LatestChannel<T | undefined>>();
  private current: T | undefined = undefined;
  private goodStat: Stat | null = null;
  private seen: { czxid: bigint; version: number } | null = null;
  private loaded = false;
  private started = false;
  private closed = false;
  private failure: Error | undefined;
  private startPromise: Promise<void> | undefined;
  /** Aborted by close(): pending waits reject with Closed. */
  private readonly lifetime = new AbortController();

  constructor(client: ZabClient, path: string, options: ConfigWatcherOptions<T> = {}, internal?: Managed) {
    super();
    this.client = client;
    this.path = path;
    this.codec = options.codec ?? jsonCodec();
    this.validate = options.validate;
    this.managed = internal?.managed === true;
    this.refresher = new Refresher(() => this.read(), (err) => this.fail(err), options.retryDelayMs);
  }

  /** Loads the current value and starts watching. Idempotent; resolves with the value (undefined if the node does not exist or is invalid). */
  async start(options: WaitOptions = {}): Promise<T | undefined> {
    if (this.closed) throw zabError('Closed', 'ConfigWatcher is closed', { path: this.path });
    if (!this.started) {
      this.started = true;
      this.attach(this.client);
      this.startPromise = this.refresher.kick();
    }
    await bounded(
      this.startPromise!.then(() => {
        if (this.failure && !this.loaded) throw this.failure;
      }),
      options,
      `ConfigWatcher.start(${this.path})`,
    );
    return this.current;
  }

  /** The last good value (undefined before `start()`, when the node is missing, or when it never held a valid value). */
  get(): T | undefined {
    return this.current;
  }

  /** Stat of the node that holds the last good value (null if none). */
  get stat(): Stat | null {
    return this.goodStat;
  }

  /** Data version of the node as last read, valid or not (-1 when missing); use it as `expectedVersion`. */
  get version(): number {
    return this.seen?.version ?? -1;
  }

  /** Calls `fn` on every later change (not with the current value). Returns the unsubscribe function. */
  subscribe(fn: (change: ConfigChange<T>) => void): () => void {
    this.on('change', fn);
    return () => {
      this.off('change', fn);
    };
  }

  /** Resolves with the value once `predicate(value)` holds (at once if it already does). */
  async waitFor(predicate: (value: T | undefined) => boolean, options: WaitOptions = {}): Promise<T | undefined> {
    if (this.closed) throw zabError('Closed', 'ConfigWatcher is closed', { path: this.path });
    await waitUntil(
      () => this.loaded && predicate(this.current),
      (onChange, fail) => {
        const onErr = (e: Error): void => fail(e);
        this.on('change', onChange);
        this.on('error', onErr);
        const onClose = (): void => fail(zabError('Closed', `ConfigWatcher closed while waiting`, { path: this.path }));
        this.lifetime.signal.addEventListener('abort', onClose, { once: true });
        return () => {
          this.lifetime.signal.removeEventListener('abort', onClose);
          this.off('change', onChange);
          this.off('error', onErr);
        };
      },
      options,
      `ConfigWatcher.waitFor(${this.path})`,
    );
    return this.current;
  }

  /**
   * Values as they change, starting with the current one once started. A slow
   * consumer skips intermediate values but always gets the latest. Ends on
   * `close()`; throws when the watcher fails (session expired, client closed).
   */
  values(): AsyncIterableIterator<T | undefined> {
    const ch = new LatestChannel<T | undefined>((c) => this.channels.delete(c));
    if (this.closed) ch.end();
    else if (this.failure) ch.fail(this.failure);
    else {
      this.channels.add(ch);
      if (this.loaded) ch.push(this.current);
    }
    return ch;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T | undefined> {
    return this.values();
  }

  /** Continues on another client (after the old one's session expired): re-reads and re-arms the watch there. */
  rebind(client: ZabClient): Promise<void> {
    if (this.closed) throw zabError('Closed', 'ConfigWatcher is closed', { path: this.path });
    this.detach(this.client);
    this.client = client;
    this.failure = undefined;
    this.refresher.resume();
    if (!this.started) return Promise.resolve();
    this.attach(client);
    return this.refresher.kick();
  }

  /** Stops watching; iterators end. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.lifetime.abort();
    this.refresher.stop();
    this.detach(this.client);
    for (const ch of [...this.channels]) ch.end();
    this.removeAllListeners();
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal for ConfigDirectoryWatcher */
  refresh(): Promise<void> {
    return this.refresher.kick();
  }

  // ---- internals ----------------------------------------------------------------

  private readonly onWatch = (): void => {
    if (!this.closed) void this.refresher.kick();
  };
  private readonly onReconnected = (): void => {
    if (!this.closed) void this.refresher.kick();
  };
  private readonly onExpired = (err: ZabError): void => this.fail(err);
  private readonly onClientClosed = (): void => this.fail(zabError('Closed', 'client closed', { path: this.path }));

  private readonly session = new SessionListener({
    reconnected: () => this.onReconnected(),
    expired: (err) => this.onExpired(err),
    closed: () => this.onClientClosed(),
  });

  private attach(client: ZabClient): void {
    if (this.managed) return;
    this.session.bind(client);
  }

  private detach(_client: ZabClient): void {
    this.session.unbind();
  }

  private async read(): Promise<void> {
    const client = this.client;
    let data: Uint8Array | null;
    let stat: Stat | null;
    try {
      ({ data, stat } = await client.getData(this.path, { watch: this.onWatch }));
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
      // Gone: watch for its creation. If it came back in between, read again.
      stat = await client.exists(this.path, { watch: this.onWatch });
      if (stat !== null) {
        void this.refresher.kick();
        return;
      }
      data = null;
    }
    if (client !== this.client || this.closed) return;
    this.apply(data, stat);
  }

  private apply(data: Uint8Array | null, stat: Stat | null): void {
    const firstLoad = !this.loaded;
    this.loaded = true;
    if (stat === null) {
      if (this.seen === null && !firstLoad) return;
      this.seen = null;
      const previous = this.current;
      const hadValue = this.goodStat !== null;
      this.current = undefined;
      this.goodStat = null;
      if (firstLoad) return this.pushInitial();
      const change: ConfigChange<T> = { value: undefined, previous, version: -1, stat: null };
      this.emit('deleted', change);
      if (hadValue) this.publish(change);
      return;
    }
    const seen = this.seen;
    if (seen !== null && (stat.czxid < seen.czxid || (stat.czxid === seen.czxid && stat.version <= seen.version))) return; // same or older
    this.seen = { czxid: stat.czxid, version: stat.version };
    let value: T;
    try {
      const decoded = this.codec.decode(data);
      value = this.validate ? this.validate(decoded) : (decoded as T);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.emit('invalid', new ConfigValidationError(`invalid config at ${this.path} (version ${stat.version}): ${reason}`, this.path, stat.version, data, err));
      if (firstLoad) this.pushInitial();
      return;
    }
    const previous = this.current;
    this.current = value;
    this.goodStat = stat;
    if (firstLoad) this.pushInitial();
    else this.publish({ value, previous, version: stat.version, stat });
  }

  /** Iterators made before the first load start with the loaded value. */
  private pushInitial(): void {
    for (const ch of this.channels) ch.push(this.current);
  }

  private publish(change: ConfigChange<T>): void {
    for (const ch of this.channels) ch.push(change.value);
    this.emit('change', change);
  }

  private fail(err: unknown): void {
    if (this.closed || this.failure) return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.failure = error;
    this.refresher.stop();
    for (const ch of [...this.channels]) ch.fail(error);
    this.emit('error', error);
  }
}
