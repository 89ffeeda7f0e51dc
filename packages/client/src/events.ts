import type { ZabError } from './errors.js';

/** Client connection states. */
export type ClientState = 'connecting' | 'connected' | 'suspended' | 'expired' | 'closed';

/** Typed event map of ZabClient (eventemitter3). */
export interface ClientEvents {
  /** A connection attempt to `server` (host:port) starts; `attempt` counts from 1 within one (re)connect. */
  connecting: [info: { server: string; attempt: number }];
  /** The first session is established. */
  connected: [info: { server: string; sessionId: bigint; sessionTimeoutMs: number }];
  /** The server was lost; the session may still live. In-flight requests failed with ConnectionLoss. */
  suspended: [info: { reason: string }];
  /** The same session is back on `server`; watches were re-registered. */
  reconnected: [info: { server: string }];
  /** The ensemble says the session is gone: ephemerals are deleted, watches will not fire. Terminal. */
  expired: [error: ZabError];
  /** `close()` finished (or the initial connect failed). Terminal. */
  closed: [];
  /** Every state change. */
  state: [state: ClientState, previous: ClientState];
}
