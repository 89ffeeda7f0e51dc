import type { ErrorCode } from './errors.js';
import type { Stat } from './stat.js';
import type { Zxid } from './zxid.js';

/** Bumped on any incompatible change to the frames below. */
export const PROTOCOL_VERSION = 1;

/** Request opcodes, numbered as ZooKeeper numbers them where it has one. */
export const OpCode = {
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getChildren: 8,
  sync: 9,
  ping: 11,
  check: 13,
  multi: 14,
  setWatches: 101,
  getEphemerals: 103,
  getAllChildrenNumber: 104,
  closeSession: -11,
} as const;
export type OpCode = (typeof OpCode)[keyof typeof OpCode];
export const OP_NAMES: Readonly<Record<number, keyof typeof OpCode>> = Object.fromEntries(
  Object.entries(OpCode).map(([k, v]) => [v, k]),
) as Record<number, keyof typeof OpCode>;

/** Frame kinds on a client connection (the `k` field of every frame). */
export const FrameKind = {
  connect: 1,
  connected: 2,
  connectRefused: 3,
  request: 4,
  response: 5,
  event: 6,
  status: 7,
  statusReply: 8,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const CREATE_MODES = [
  'persistent',
  'persistent-sequential',
  'ephemeral',
  'ephemeral-sequential',
  'container',
  'ttl',
  'ttl-sequential',
] as const;
export type CreateMode = (typeof CREATE_MODES)[number];

export const EVENT_TYPES = ['NodeCreated', 'NodeDeleted', 'NodeDataChanged', 'NodeChildrenChanged'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** `null` data and empty data are different values, as in ZooKeeper. */
export type Data = Uint8Array | null;

// ---- requests -------------------------------------------------------------

export interface CreateRequest {
  op: typeof OpCode.create;
  path: string;
  data: Data;
  mode: CreateMode;
  /** Required for 'ttl' / 'ttl-sequential', forbidden otherwise. */
  ttlMs?: number;
}
export interface DeleteRequest { op: typeof OpCode.delete; path: string; version: number }
export interface ExistsRequest { op: typeof OpCode.exists; path: string; watch: boolean }
export interface GetDataRequest { op: typeof OpCode.getData; path: string; watch: boolean }
export interface SetDataRequest { op: typeof OpCode.setData; path: string; data: Data; version: number }
export interface GetChildrenRequest { op: typeof OpCode.getChildren; path: string; watch: boolean; withStat: boolean }
export interface SyncRequest { op: typeof OpCode.sync; path: string }
export interface PingRequest { op: typeof OpCode.ping }
export interface CheckRequest { op: typeof OpCode.check; path: string; version: number }
export type MultiOp = CreateRequest | DeleteRequest | SetDataRequest | CheckRequest;
export interface MultiRequest { op: typeof OpCode.multi; ops: MultiOp[] }
/** Re-arms watches after a reconnect; the server fires at once those whose node changed after relativeZxid. */
export interface SetWatchesRequest {
  op: typeof OpCode.setWatches;
  relativeZxid: Zxid;
  dataWatches: string[];
  existWatches: string[];
  childWatches: string[];
}
export interface GetEphemeralsRequest { op: typeof OpCode.getEphemerals; prefix: string }
export interface GetAllChildrenNumberRequest { op: typeof OpCode.getAllChildrenNumber; path: string }
export interface CloseSessionRequest { op: typeof OpCode.closeSession }

export type Request =
  | CreateRequest
  | DeleteRequest
  | ExistsRequest
  | GetDataRequest
  | SetDataRequest
  | GetChildrenRequest
  | SyncRequest
  | PingRequest
  | CheckRequest
  | MultiRequest
  | SetWatchesRequest
  | GetEphemeralsRequest
  | GetAllChildrenNumberRequest
  | CloseSessionRequest;

/** Requests that change the tree (or session state) and so go through the write path. */
export const WRITE_OPS: ReadonlySet<number> = new Set<number>([
  OpCode.create,
  OpCode.delete,
  OpCode.setData,
  OpCode.check,
  OpCode.multi,
  OpCode.closeSession,
]);

// ---- responses ------------------------------------------------------------

export type MultiResult =
  | { op: typeof OpCode.create; path: string; stat: Stat }
  | { op: typeof OpCode.delete }
  | { op: typeof OpCode.setData; stat: Stat }
  | { op: typeof OpCode.check }
  | { op: 'error'; err: ErrorCode };

export interface ResponseBodies {
  [OpCode.create]: { path: string; stat: Stat };
  [OpCode.delete]: Record<string, never>;
  [OpCode.exists]: { stat: Stat | null };
  [OpCode.getData]: { data: Data; stat: Stat };
  [OpCode.setData]: { stat: Stat };
  [OpCode.getChildren]: { children: string[]; stat?: Stat };
  [OpCode.sync]: { path: string };
  [OpCode.ping]: Record<string, never>;
  [OpCode.check]: Record<string, never>;
  [OpCode.multi]: { results: MultiResult[] };
  [OpCode.setWatches]: Record<string, never>;
  [OpCode.getEphemerals]: { paths: string[] };
  [OpCode.getAllChildrenNumber]: { count: number };
  [OpCode.closeSession]: Record<string, never>;
}
export type ResponseBody = ResponseBodies[keyof ResponseBodies];

// ---- frames ---------------------------------------------------------------

export interface ConnectFrame {
  k: typeof FrameKind.connect;
  protocolVersion: number;
  /** Highest zxid this client has seen; a server behind it must refuse the client. */
  lastZxidSeen: Zxid;
  timeoutMs: number;
  /** 0n for a new session. */
  sessionId: bigint;
  /** Empty for a new session. */
  passwd: Uint8Array;
  /** The client accepts several server frames in one ws message (a msgpack array of frames, in order). */
  frameArrays?: boolean;
}
export interface ConnectedFrame {
  k: typeof FrameKind.connected;
  protocolVersion: number;
  timeoutMs: number;
  sessionId: bigint;
  passwd: Uint8Array;
  serverId: number;
  /** The server's last applied zxid at connect time. */
  zxid: Zxid;
  /** Largest znode data / request data the server accepts, in bytes. */
  maxDataBytes: number;
  /** The server accepts several client frames in one ws message (a msgpack array of frames, in order). */
  frameArrays?: boolean;
}
export interface ConnectRefusedFrame {
  k: typeof FrameKind.connectRefused;
  err: ErrorCode;
  message: string;
}
export interface RequestFrame { k: typeof FrameKind.request; xid: number; req: Request }
export interface ResponseFrame {
  k: typeof FrameKind.response;
  xid: number;
  /** The server's last applied zxid when it answered. */
  zxid: Zxid;
  op: number;
  err?: ErrorCode;
  message?: string;
  body?: ResponseBody;
}
export interface EventFrame { k: typeof FrameKind.event; zxid: Zxid; type: EventType; path: string }
export interface StatusFrame { k: typeof FrameKind.status }
export interface StatusReplyFrame { k: typeof FrameKind.statusReply; status: ServerStatus }

export type ClientFrame = ConnectFrame | RequestFrame | StatusFrame;
export type ServerFrame = ConnectedFrame | ConnectRefusedFrame | ResponseFrame | EventFrame | StatusReplyFrame;
export type Frame = ClientFrame | ServerFrame;

export type ServerRole = 'standalone' | 'leader' | 'follower' | 'observer' | 'looking';

/** What `zabkit status` shows; answered without a session (like `srvr` / `mntr`). */
export interface ServerStatus {
  serverId: number;
  version: string;
  role: ServerRole;
  epoch: number;
  zxid: Zxid;
  sessions: number;
  connections: number;
  znodes: number;
  watches: number;
  ephemerals: number;
  outstandingRequests: number;
  /** Write latency from request arrival to reply, in ms. */
  latency: { min: number; avg: number; max: number; count: number };
  packetsReceived: number;
  packetsSent: number;
  uptimeMs: number;
  /** Leader only: the ids of synced followers. */
  followers?: number[];
  /** Approximate bytes of znode data held. */
  dataBytes: number;
  /**
   * How this server's peers prove who they are: a shared secret, mutual TLS, both, none
   * (`quorum.auth.insecure=true`: anyone reaching the peer ports can join), or no peers at all.
   * Absent from servers before it was added.
   */
  peerAuth?: 'secret' | 'tls' | 'tls+secret' | 'insecure' | 'standalone';
  /** The server process's memory (process.memoryUsage()), in bytes; absent from servers before it was added. */
  memory?: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
}
