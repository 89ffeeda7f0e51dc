import { FrameKind, type ConnectedFrame, type ResponseFrame } from '@zabkit/protocol';
import type { SimConn } from './sim-cluster.js';

/** What simulated client connections received, for scripted tests. */
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const responses = (c: SimConn): ResponseFrame[] => c.frames.filter((f): f is ResponseFrame => f.k === FrameKind.response);
export const connected = (c: SimConn): ConnectedFrame | undefined => c.frames.find((f): f is ConnectedFrame => f.k === FrameKind.connected);
