import type { Metadata, ServiceInstance } from './types.js';

/** Picks one of the (up) instances; `instances` is never empty and sorted by id. */
export interface ProviderStrategy<M extends Metadata = Metadata> {
  pick(instances: readonly ServiceInstance<M>[]): ServiceInstance<M>;
}

/** When an instance counts as down, and for how long. */
export interface DownInstancePolicy {
  /** Errors (`noteError`) within `windowMs` that mark an instance down. Default: 3. Example: `{ errorThreshold: 1 }`. */
  errorThreshold?: number;
  /** Sliding window for counting errors, in ms. Default: 10000. Example: `{ windowMs: 30_000 }`. */
  windowMs?: number;
  /** How long a down instance is left out, in ms; then it gets another chance with a clean slate. Default: 30000. Example: `{ cooldownMs: 5_000 }`. */
  cooldownMs?: number;
}

export interface ProviderOptions<M extends Metadata = Metadata> {
  /**
   * How to choose among the up instances. 'sticky' keeps returning the same
   * instance while it is registered and up, then moves on (round-robin).
   * Default: 'round-robin'. Example: `{ strategy: 'random' }` or a custom `{ pick(instances) { ... } }`.
   */
  strategy?: 'random' | 'round-robin' | 'sticky' | ProviderStrategy<M>;
  /** Down-instance policy; `false` turns it off. Default: `{ errorThreshold: 3, windowMs: 10000, cooldownMs: 30000 }`. */
  downInstancePolicy?: DownInstancePolicy | false;
  /** Source of randomness for 'random' (0 <= x < 1). Default: Math.random. */
  random?: () => number;
  /** Clock for the down-instance policy, in ms. Default: Date.now. */
  now?: () => number;
}

/** Where a provider gets instances from: a `ServiceCache` (or anything with `instances()`). */
export interface InstanceSource<M extends Metadata> {
  instances(): ServiceInstance<M>[];
  /** When present (a ServiceCache), removed instances are forgotten by the down-instance policy. */
  on?(event: 'removed', fn: (instance: ServiceInstance<M>) => void): unknown;
  off?(event: 'removed', fn: (instance: ServiceInstance<M>) => void): unknown;
}

/**
 * Chooses an instance of a service for each call, leaving out instances that
 * failed too often lately. Report failures with `noteError(instance)`.
 */
export class Provider<M extends Metadata = Metadata> {
  private readonly strategy: ProviderStrategy<M>;
  private readonly policy: Required<DownInstancePolicy> | false;
  private readonly now: () => number;
  private readonly errors = new Map<string, number[]>();
  private readonly downUntil = new Map<string, number>();
  private readonly onRemoved = (i: ServiceInstance<M>): void => {
    this.errors.delete(i.id);
    this.downUntil.delete(i.id);
  };

  constructor(
    private readonly source: InstanceSource<M>,
    options: ProviderOptions<M> = {},
  ) {
    const s = options.strategy ?? 'round-robin';
    this.strategy = typeof s === 'object' ? s : s === 'random' ? randomStrategy(options.random ?? Math.random) : s === 'sticky' ? stickyStrategy() : roundRobinStrategy();
    this.policy =
      options.downInstancePolicy === false
        ? false
        : { errorThreshold: 3, windowMs: 10_000, cooldownMs: 30_000, ...options.downInstancePolicy };
    this.now = options.now ?? Date.now;
    source.on?.('removed', this.onRemoved);
  }

  /** An up instance chosen by the strategy, or undefined when none is up. */
  getInstance(): ServiceInstance<M> | undefined {
    const up = this.upInstances();
    return up.length === 0 ? undefined : this.strategy.pick(up);
  }

  /** Every registered instance that is not down. */
  upInstances(): ServiceInstance<M>[] {
    return this.source.instances().filter((i) => !this.isDown(i));
  }

  /** Records a failed call to `instance`; enough of them within the window mark it down for the cooldown. */
  noteError(instance: Pick<ServiceInstance, 'id'>): void {
    const policy = this.policy;
    if (!policy) return;
    const now = this.now();
    const recent = (this.errors.get(instance.id) ?? []).filter((t) => t > now - policy.windowMs);
    recent.push(now);
    if (recent.length >= policy.errorThreshold) {
      this.downUntil.set(instance.id, now + policy.cooldownMs);
      this.errors.delete(instance.id);
    } else this.errors.set(instance.id, recent);
  }

  /** Whether `instance` is currently left out. */
  isDown(instance: Pick<ServiceInstance, 'id'>): boolean {
    const until = this.downUntil.get(instance.id);
    if (until === undefined) return false;
    if (this.now() < until) return true;
    this.downUntil.delete(instance.id);
    return false;
  }

  /** Stops listening to the source (does not close it). */
  close(): Promise<void> {
    this.source.off?.('removed', this.onRemoved);
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function randomStrategy<M extends Metadata>(random: () => number = Math.random): ProviderStrategy<M> {
  return { pick: (instances) => instances[Math.min(instances.length - 1, Math.floor(random() * instances.length))]! };
}

export function roundRobinStrategy<M extends Metadata>(): ProviderStrategy<M> {
  let next = 0;
  return {
    pick: (instances) => {
      const i = instances[next % instances.length]!;
      next = (next + 1) % Number.MAX_SAFE_INTEGER;
      return i;
    },
  };
}

export function stickyStrategy<M extends Metadata>(fallback: ProviderStrategy<M> = roundRobinStrategy()): ProviderStrategy<M> {
  let stuck: string | undefined;
  return {
    pick: (instances) => {
      const same = stuck === undefined ? undefined : instances.find((i) => i.id === stuck);
      if (same) return same;
      const chosen = fallback.pick(instances);
      stuck = chosen.id;
      return chosen;
    },
  };
}
