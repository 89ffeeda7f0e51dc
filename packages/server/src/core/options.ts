import { DEFAULT_MAX_DATA_BYTES } from '@zabkit/protocol';
import type { CoreOptions } from './api.js';

/**
 * 65536 watches is ~30 MB of server memory at the measured ~460 B per watch, far more than any
 * recipe needs (a cache of a large subtree watches one node per znode), and stops one session
 * from making the server hold millions.
 */
export const DEFAULT_MAX_WATCHES_PER_SESSION = 65_536;

/** Fills in CoreOptions defaults (ZooKeeper's: tickTime 2000, sessions 2..20 ticks, 1 MiB, containers every 60 s). */
export function resolveCoreOptions(o: Partial<CoreOptions> = {}): CoreOptions {
  const serverId = o.serverId ?? 1;
  const tickTimeMs = o.tickTimeMs ?? 2000;
  const out: CoreOptions = {
    serverId,
    tickTimeMs,
    minSessionTimeoutMs: o.minSessionTimeoutMs ?? 2 * tickTimeMs,
    maxSessionTimeoutMs: o.maxSessionTimeoutMs ?? 20 * tickTimeMs,
    maxDataBytes: o.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES,
    sessionIdBase: o.sessionIdBase ?? BigInt(serverId) << 56n,
    containerCheckIntervalMs: o.containerCheckIntervalMs ?? 60_000,
    maxWatchesPerSession: o.maxWatchesPerSession ?? DEFAULT_MAX_WATCHES_PER_SESSION,
  };
  return out;
}
