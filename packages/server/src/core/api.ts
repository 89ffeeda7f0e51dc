import type { ServerFrame } from '@zabkit/protocol';

/** A frame for a client connection, or the instruction to close it. */
export type OutboxEntry =
  | { kind: 'send'; connId: number; frame: ServerFrame }
  /** Close the connection once the frames queued before this entry are sent. */
  | { kind: 'close'; connId: number; reason: string };

/** Settings every server's core has (the replication ones are in zab/api.ts ZabOptions). */
export interface CoreOptions {
  serverId: number;
  tickTimeMs: number;
  /** Default 2 x tickTime. */
  minSessionTimeoutMs: number;
  /** Default 20 x tickTime. */
  maxSessionTimeoutMs: number;
  /** Largest znode data / request data in bytes (default 1 MiB). */
  maxDataBytes: number;
  /** Start of this server's session id space: (serverId << 56) | (startup time << 24 >>> 8), as ZooKeeper. */
  sessionIdBase: bigint;
  /** How often (ms) containers and TTL nodes are checked for removal. */
  containerCheckIntervalMs: number;
  /** Watches one session may hold; a read asking for one more fails with TooManyWatches (default 65536). */
  maxWatchesPerSession: number;
}
