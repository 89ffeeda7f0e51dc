import type { ZabClient } from '@zabkit/client';

/** Free-form metadata of an instance (must survive JSON). */
export type Metadata = Record<string, unknown>;

/** One registered instance of a service, as stored (JSON) in `<basePath>/<name>/<id>`. */
export interface ServiceInstance<M extends Metadata = Metadata> {
  /** Service name, e.g. 'billing'. A single path segment. */
  name: string;
  /** Unique within the service, e.g. a UUID or 'host-1:8080'. A single path segment. */
  id: string;
  /** Host name or IP the instance listens on. */
  address: string;
  port: number;
  /** Anything else a caller needs (zone, version, weight ...). */
  metadata: M;
  /** ms since epoch when this instance was first registered by its registry. */
  registeredAt: number;
}

/** What `register` takes: `id` defaults to a random UUID, `metadata` to `{}`. */
export interface InstanceInput<M extends Metadata = Metadata> {
  name: string;
  /** Default: `randomUUID()`. Example: `'web-1'`. */
  id?: string;
  address: string;
  port: number;
  /** Default: `{}`. Example: `{ zone: 'eu-1' }`. */
  metadata?: M;
}

/** What `update` takes: the id and the fields to change (a full instance works too). */
export interface InstanceUpdate<M extends Metadata = Metadata> {
  id: string;
  /** Must match the registered name when given. */
  name?: string;
  address?: string;
  port?: number;
  /** Replaces the metadata (no merge). */
  metadata?: M;
}

/** Options of every call that can wait. */
export interface WaitOptions {
  /** Aborts the call (rejects with an Aborted error; a write may still be applied). Example: `{ signal: AbortSignal.timeout(5_000) }`. */
  signal?: AbortSignal;
  /** Time limit of each request, in ms. Default: the client's `requestTimeoutMs`. Example: `{ timeoutMs: 2_000 }`. */
  timeoutMs?: number;
}

export interface RegisterOptions extends WaitOptions {
  /**
   * Store the instance as a persistent node that outlives the session (and
   * this process): only `unregister` removes it. Default: false (ephemeral:
   * removed by the ensemble when the session ends). Example: `{ permanent: true }`.
   */
  permanent?: boolean;
}

export interface ServiceRegistryOptions {
  /** Root of the registry; instances live at `<basePath>/<name>/<id>`. Required. Example: `'/services'`. */
  basePath: string;
  /**
   * Makes a new client after the current one's session expired; the registry
   * then re-registers every instance (with its current data) through it and
   * emits `rebound`. Without it the registry emits `expired` and waits for
   * `rebind(newClient)`.
   * Default: none. Example: `{ clientFactory: () => connect('zk1:2181,zk2:2181') }`.
   */
  clientFactory?: () => Promise<ZabClient>;
  /**
   * Pause before retrying a re-registration after a retryable error, in ms (doubles up to 1 s).
   * Default: 50. Example: `{ retryDelayMs: 200 }`.
   */
  retryDelayMs?: number;
}

export interface ServiceCacheOptions {
  /** Root of the registry, as given to `ServiceRegistry`. Required. Example: `'/services'`. */
  basePath: string;
  /** The service to follow. Required. Example: `'billing'`. */
  name: string;
  /** Pause before a read is retried after a retryable error, in ms (doubles up to 1 s). Default: 50. */
  retryDelayMs?: number;
}
