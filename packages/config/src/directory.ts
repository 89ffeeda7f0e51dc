import { EventEmitter } from 'eventemitter3';
import { hasCode, zabError, type ZabClient, type ZabError, SessionListener } from '@zabkit/client';
import { joinPath } from '@zabkit/protocol';
import type { ConfigValidationError } from './errors.js';
import type { ConfigWatcherOptions, WaitOptions } from './options.js';
import { Refresher } from '@zabkit/client';
import { bounded, waitUntil } from './util.js';
import { ConfigWatcher } from './watcher.js';

/** Typed events of `ConfigDirectoryWatcher`; `key` is the child node's name. */
export interface ConfigDirectoryEvents<T> {
  /** A key got its first valid value (a new child, or one that was invalid or deleted before). */
  added: [key: string, value: T];
  /** A key's value changed. */
  changed: [key: string, value: T, previous: T];
  /** A key was deleted. */
  removed: [key: string, previous: T];
  /** A key's data did not decode or validate; its last good value is kept. */
  invalid: [key: string, error: ConfigValidationError];
  /** After every added / changed / removed: the whole snapshot (a copy). */
  snapshot: [snapshot: Map<string, T>];
  /** The watcher stopped: the session expired or the client closed (call `rebind(newClient)` to go on). */
  error: [error: Error];
}

/**
 * Watches a directory of config nodes (`/config/app/<key>`), each decoded and
 * validated as in `ConfigWatcher`, with the same guarantee: the children list
 * and every child's data are re-read after each watch event and each reconnect.
 * Children with no valid value are left out of the snapshot.
 */
export class ConfigDirectoryWatcher<T = unknown> extends EventEmitter<ConfigDirectoryEvents<T>> {
  readonly path: string;
  private client: ZabClient;
  private readonly options: ConfigWatcherOptions<T>;
  private readonly children = new Map<string, ConfigWatcher<T>>();
  private readonly values = new Map<string, T>();
  private readonly refresher: Refresher;
  private started = false;
  private closed = false;
  private failure: Error | undefined;
  private startPromise: Promise<void> | undefined;
  /** Aborted by close(): pending waits reject with Closed. */
  private readonly lifetime = new AbortController();

  constructor(client: ZabClient, path: string, options: ConfigWatcherOptions<T> = {}) {
    super();
    this.client = client;
    this.path = path;
    this.options = options;
    this.refresher = new Refresher(() => this.readChildren(), (err) => this.fail(err), options.retryDelayMs);
  }

  /** Loads the children and their values, then keeps them current. Resolves with the snapshot. */
  async start(options: WaitOptions = {}): Promise<Map<string, T>> {
    if (this.closed) throw zabError('Closed', 'ConfigDirectoryWatcher is closed', { path: this.path });
    if (!this.started) {
      this.started = true;
      this.attach(this.client);
      this.startPromise = this.refresher.kick();
    }
    await bounded(
      this.startPromise!.then(() => {
        if (this.failure) throw this.failure;
      }),
      options,
      `ConfigDirectoryWatcher.start(${this.path})`,
    );
    return this.snapshot();
  }

  /** A copy of the current key -> value map. */
  snapshot(): Map<string, T> {
    return new Map(this.values);
  }

  get(key: string): T | undefined {
    return this.values.get(key);
  }

  /** Resolves with the snapshot once `predicate(snapshot)` holds. */
  async waitFor(predicate: (snapshot: ReadonlyMap<string, T>) => boolean, options: WaitOptions = {}): Promise<Map<string, T>> {
    if (this.closed) throw zabError('Closed', 'ConfigDirectoryWatcher is closed', { path: this.path });
    await waitUntil(
      () => this.started && predicate(this.values),
      (onChange, fail) => {
        const onErr = (e: Error): void => fail(e);
        this.on('snapshot', onChange);
        this.on('error', onErr);
        const onClose = (): void => fail(zabError('Closed', `ConfigDirectoryWatcher closed while waiting`, { path: this.path }));
        this.lifetime.signal.addEventListener('abort', onClose, { once: true });
        return () => {
          this.lifetime.signal.removeEventListener('abort', onClose);
          this.off('snapshot', onChange);
          this.off('error', onErr);
        };
      },
      options,
      `ConfigDirectoryWatcher.waitFor(${this.path})`,
    );
    return this.snapshot();
  }

  /** Continues on another client (after the old one's session expired). */
  async rebind(client: ZabClient): Promise<void> {
    if (this.closed) throw zabError('Closed', 'ConfigDirectoryWatcher is closed', { path: this.path });
    this.detach(this.client);
    this.client = client;
    this.failure = undefined;
    this.refresher.resume();
    if (!this.started) return;
    this.attach(client);
    await Promise.all([this.refresher.kick(), ...[...this.children.values()].map((c) => c.rebind(client))]);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.lifetime.abort();
    this.refresher.stop();
    this.detach(this.client);
    for (const c of this.children.values()) void c.close();
    this.children.clear();
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
    for (const c of this.children.values()) void c.refresh();
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
    let names: string[];
    try {
      names = await client.getChildren(this.path, { watch: this.onWatch });
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
      if ((await client.exists(this.path, { watch: this.onWatch })) !== null) {
        void this.refresher.kick();
        return;
      }
      names = [];
    }
    if (client !== this.client || this.closed) return;
    const wanted = new Set(names);
    for (const [key, child] of this.children) {
      if (wanted.has(key)) continue;
      this.children.delete(key);
      void child.close();
      this.sync(key, undefined);
    }
    const starting: Promise<void>[] = [];
    for (const key of names) {
      if (this.children.has(key)) continue;
      const child = new ConfigWatcher<T>(client, joinPath(this.path, key), this.options, { managed: true });
      this.children.set(key, child);
      child.on('change', ({ value }) => this.sync(key, value));
      child.on('invalid', (e) => this.emit('invalid', key, e));
      child.on('error', (e) => this.fail(e));
      starting.push(
        child.start().then(
          (value) => this.sync(key, value),
          () => {}, // reported through the child's `error` event
        ),
      );
    }
    await Promise.all(starting);
  }

  private sync(key: string, value: T | undefined): void {
    if (this.closed) return;
    const had = this.values.has(key);
    const previous = this.values.get(key);
    if (value === undefined) {
      if (!had) return;
      this.values.delete(key);
      this.emit('removed', key, previous as T);
    } else {
      if (had && previous === value) return;
      this.values.set(key, value);
      if (had) this.emit('changed', key, value, previous as T);
      else this.emit('added', key, value);
    }
    this.emit('snapshot', this.snapshot());
  }

  private fail(err: unknown): void {
    if (this.closed || this.failure) return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.failure = error;
    this.refresher.stop();
    this.emit('error', error);
  }
}
