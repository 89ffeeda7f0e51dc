import { DEFAULT_MAX_DATA_BYTES } from '@zabkit/protocol';
import type { CoreOptions } from './api.js';

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
  };
  return out;
}
