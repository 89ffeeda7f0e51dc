import { decode, encode, SNAPSHOT_CHUNK_BYTES, type Zxid } from '@zabkit/protocol';
import { copyBytes } from './bytes.js';
import { dataOf, makeNode, type DataTree, type ZNode } from './data-tree.js';
import type { SessionTable } from './sessions.js';
import type { NodeKind } from './txn.js';

/** Nodes (and sessions) per snapshot chunk; a chunk is also cut at about SNAPSHOT_CHUNK_BYTES. */
export const SNAPSHOT_CHUNK_SIZE = 1000;
/** Rough encoded size of a row beyond its path and data (zxids, counters, msgpack headers). */
const ROW_OVERHEAD = 96;
const FORMAT = 1;

type NodeRow = [
  path: string,
  data: Uint8Array | null,
  czxid: bigint,
  mzxid: bigint,
  pzxid: bigint,
  ctime: number,
  mtime: number,
  version: number,
  cversion: number,
  aversion: number,
  ephemeralOwner: bigint,
  seq: number,
  kind: NodeKind,
  ttlMs: number | null,
];
type SessionRow = [id: bigint, timeoutMs: number, passwd: Uint8Array];

type Chunk =
  | { t: 'header'; format: number; zxid: Zxid }
  | { t: 'sessions'; rows: SessionRow[] }
  | { t: 'nodes'; rows: NodeRow[] };

/**
 * Serialises the session table and the tree as msgpack chunks: a header with
 * the zxid, then sessions, then nodes in tree order (a parent before its
 * children). Lazy: when consumed across writes the result is a fuzzy snapshot
 * that replaying the log from `zxid` makes consistent.
 */
export function* writeSnapshot(zxid: Zxid, tree: DataTree, sessions: SessionTable): Generator<Uint8Array> {
  yield encode({ t: 'header', format: FORMAT, zxid } satisfies Chunk);
  let srows: SessionRow[] = [];
  for (const s of sessions.all()) {
    srows.push([s.id, s.timeoutMs, s.passwd]);
    if (srows.length >= SNAPSHOT_CHUNK_SIZE) {
      yield encode({ t: 'sessions', rows: srows } satisfies Chunk);
      srows = [];
    }
  }
  if (srows.length > 0) yield encode({ t: 'sessions', rows: srows } satisfies Chunk);
  let rows: NodeRow[] = [];
  let rowBytes = 0;
  for (const n of tree.nodes.values()) {
    const data = dataOf(n);
    rows.push([n.path, data, n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.version, n.cversion, n.aversion, n.ephemeralOwner, n.seq, n.kind, n.ttlMs ?? null]);
    // (a path's UTF-8 is at most 3 bytes per UTF-16 unit)
    rowBytes += 3 * n.path.length + (data?.byteLength ?? 0) + ROW_OVERHEAD;
    if (rows.length >= SNAPSHOT_CHUNK_SIZE || rowBytes >= SNAPSHOT_CHUNK_BYTES) {
      yield encode({ t: 'nodes', rows } satisfies Chunk);
      rows = [];
      rowBytes = 0;
    }
  }
  if (rows.length > 0) yield encode({ t: 'nodes', rows } satisfies Chunk);
}

/** A copy, so that no value keeps the whole snapshot chunk it was decoded from alive. */
const bytes = (v: Uint8Array | null): Uint8Array | null => (v === null ? null : copyBytes(v));

/** Loads chunks from writeSnapshot into an empty tree and session table; returns the snapshot zxid. */
export function readSnapshot(chunks: readonly Uint8Array[], tree: DataTree, sessions: SessionTable): Zxid {
  let zxid: Zxid | null = null;
  tree.reset();
  sessions.clear();
  const pending: ZNode[] = [];
  for (const c of chunks) {
    const chunk = decode(c) as Chunk;
    if (chunk === null || typeof chunk !== 'object') throw new TypeError('snapshot: chunk is not a map');
    if (chunk.t === 'header') {
      if (chunk.format !== FORMAT) throw new TypeError(`snapshot: unknown format ${String(chunk.format)}`);
      zxid = chunk.zxid;
    } else if (chunk.t === 'sessions') {
      for (const [id, timeoutMs, passwd] of chunk.rows) sessions.add(id, timeoutMs, bytes(passwd) ?? new Uint8Array(0), null);
    } else if (chunk.t === 'nodes') {
      for (const r of chunk.rows) {
        const [path, data, czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, seq, kind, ttlMs] = r;
        const fields = { path, czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, ephemeralOwner, seq, kind };
        pending.push(makeNode(fields, bytes(data), ttlMs ?? undefined));
      }
    } else {
      throw new TypeError('snapshot: unknown chunk');
    }
  }
  if (zxid === null) throw new TypeError('snapshot: no header chunk');
  // A parent comes before its children in insertion order; a fuzzy snapshot may
  // still hold an orphan (its parent went after it was written): the log replay
  // deletes it, so it is dropped here.
  pending.sort((a, b) => depth(a.path) - depth(b.path));
  for (const n of pending) tree.insert(n);
  return zxid;
}

const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);
