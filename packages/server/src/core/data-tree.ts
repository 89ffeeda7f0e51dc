import { OpCode, SYSTEM_ROOT, encode, parentOf, type Data, type ErrorCode, type MultiResult, type Stat, type Zxid } from '@zabkit/protocol';
import { fnv1a64 } from './hash.js';
import type { NodeKind, Txn, TxnBody } from './txn.js';

/** One znode: data, Stat fields, child names, and the per-parent sequence counter. */
export interface ZNode {
  path: string;
  /**
   * The data: `dataLen` bytes at `dataOff` in `dataBuf` (usually a slab shared with other values, see
   * bytes.ts), or null for no data. A Uint8Array view per znode would cost ~96 bytes, a fifth of a
   * small znode; dataOf makes one when a read needs it.
   */
  dataBuf: ArrayBufferLike | null;
  dataOff: number;
  dataLen: number;
  czxid: Zxid;
  mzxid: Zxid;
  pzxid: Zxid;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  /**
   * The children's full paths, which are the strings the tree's map already holds as keys: a name
   * sliced off each would cost ~32 bytes per znode. Change them only with addChild / removeChild.
   */
  children: ReadonlySet<string>;
  /** Counter of child creates; the next sequential suffix. Never rewinds. */
  seq: number;
  /**
   * Nodes below this one (children, their children ...), kept on every create and delete along the
   * ancestors, so getAllChildrenNumber is O(1) instead of a walk that held the event loop (a small
   * integer field: 8 bytes per znode). Not part of the digest or the snapshot: rebuilt on load.
   */
  descendants: number;
  kind: NodeKind;
  ttlMs?: number;
}

/** A change to the tree that may fire watches. */
export type Trigger =
  | { type: 'created'; path: string }
  | { type: 'deleted'; path: string }
  | { type: 'dataChanged'; path: string }
  | { type: 'childrenChanged'; path: string };

export interface ApplyOutcome {
  /** One per op (one element for a single create/delete/setData/check; per op for multi). */
  results: MultiResult[];
  /** Set for an error txn (the request failed) or a failed multi (the failing op's code). */
  err?: ErrorCode;
  triggers: Trigger[];
}

export function statOf(n: ZNode): Stat {
  return {
    czxid: n.czxid,
    mzxid: n.mzxid,
    pzxid: n.pzxid,
    ctime: n.ctime,
    mtime: n.mtime,
    version: n.version,
    cversion: n.cversion,
    aversion: n.aversion,
    ephemeralOwner: n.ephemeralOwner,
    dataLength: n.dataLen,
    numChildren: n.children.size,
  };
}

/** The node's data as bytes (a new view on each call; null for no data). */
export function dataOf(n: ZNode): Data {
  return n.dataBuf === null ? null : new Uint8Array(n.dataBuf, n.dataOff, n.dataLen);
}

function setDataOf(n: ZNode, data: Data): void {
  if (data === null) {
    n.dataBuf = null;
    n.dataOff = 0;
    n.dataLen = 0;
  } else {
    n.dataBuf = data.buffer;
    n.dataOff = data.byteOffset;
    n.dataLen = data.byteLength;
  }
}

/** The fields of a node other than its data and children, as a snapshot row or a create txn gives them. */
export type NodeFields = Omit<ZNode, 'dataBuf' | 'dataOff' | 'dataLen' | 'children' | 'ttlMs' | 'descendants'>;

/** A node without children. Every node is made here, so all share one shape (one hidden class). */
export function makeNode(f: NodeFields, data: Data, ttlMs?: number): ZNode {
  const n: ZNode = {
    path: f.path,
    dataBuf: null,
    dataOff: 0,
    dataLen: 0,
    czxid: f.czxid,
    mzxid: f.mzxid,
    pzxid: f.pzxid,
    ctime: f.ctime,
    mtime: f.mtime,
    version: f.version,
    cversion: f.cversion,
    aversion: f.aversion,
    // a decoded 0n is a fresh 16-byte object per txn; the literal is shared
    ephemeralOwner: f.ephemeralOwner === 0n ? 0n : f.ephemeralOwner,
    children: NO_CHILDREN,
    seq: f.seq,
    kind: f.kind,
    descendants: 0,
  };
  setDataOf(n, data);
  if (ttlMs !== undefined) n.ttlMs = ttlMs;
  return n;
}

/**
 * The children of every node that never had one: a Set per leaf costs about 150 bytes, a quarter
 * of a small znode. addChild gives a node its own Set on the first child.
 */
export const NO_CHILDREN: ReadonlySet<string> = new Set<string>();

function addChild(node: ZNode, path: string): void {
  if (node.children === NO_CHILDREN) node.children = new Set([path]);
  else (node.children as Set<string>).add(path);
}

function removeChild(node: ZNode, path: string): void {
  if (node.children !== NO_CHILDREN) (node.children as Set<string>).delete(path);
}

/** The names of a node's children, sorted. */
export function childNames(node: ZNode): string[] {
  const from = node.path === '/' ? 1 : node.path.length + 1;
  const names: string[] = [];
  for (const p of node.children) names.push(p.slice(from));
  return names.sort();
}

function newNode(path: string, data: Data, zxid: Zxid, time: number, ephemeralOwner: bigint, kind: NodeKind, ttlMs?: number): ZNode {
  const fields = { path, czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: time, mtime: time, version: 0, cversion: 0, aversion: 0, ephemeralOwner, seq: 0, kind };
  return makeNode(fields, data, ttlMs);
}

/**
 * The replicated tree. `applyTxn` is idempotent in the way a replay over a fuzzy
 * snapshot needs: a create of an existing node and a delete of a missing node
 * are ignored, and every other field the txn sets is absolute (versions,
 * parent cversion / sequence taken as the max of the tree's and the txn's).
 */
export class DataTree {
  readonly nodes = new Map<string, ZNode>();
  /** Ephemeral paths by owning session. */
  readonly ephemerals = new Map<bigint, Set<string>>();
  /** Called with each container that just lost its last child, and each TTL node created. */
  onCandidate: ((path: string) => void) | null = null;
  private bytes = 0;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.nodes.clear();
    this.ephemerals.clear();
    this.bytes = 0;
    this.nodes.set('/', newNode('/', null, 0n, 0, 0n, 'normal'));
    this.insert(newNode(SYSTEM_ROOT, null, 0n, 0, 0n, 'normal'));
  }

  get(path: string): ZNode | undefined {
    return this.nodes.get(path);
  }

  get size(): number {
    return this.nodes.size;
  }

  get dataBytes(): number {
    return this.bytes;
  }

  ephemeralCount(): number {
    let n = 0;
    for (const s of this.ephemerals.values()) n += s.size;
    return n;
  }

  ephemeralsOf(sessionId: bigint): string[] {
    return [...(this.ephemerals.get(sessionId) ?? [])].sort();
  }

  /** Puts a fully formed node in the tree (snapshot load); links it to its parent if present. */
  insert(node: ZNode): boolean {
    if (node.path === '/') {
      const root = this.nodes.get('/');
      if (root) {
        node.children = root.children;
        node.descendants = root.descendants;
      }
      this.nodes.set('/', node);
      this.bytes += node.dataLen;
      return true;
    }
    const parent = this.nodes.get(parentOf(node.path));
    if (!parent) return false;
    const old = this.nodes.get(node.path);
    if (old) {
      this.bytes -= old.dataLen;
      node.children = old.children;
      node.descendants = old.descendants;
    } else this.countAncestors(node.path, 1);
    addChild(parent, node.path);
    this.nodes.set(node.path, node);
    this.bytes += node.dataLen;
    if (node.ephemeralOwner !== 0n) this.addEphemeral(node.ephemeralOwner, node.path);
    return true;
  }

  /** Nodes below `path` (0 for a missing node), in O(1). */
  countDescendants(path: string): number {
    return this.nodes.get(path)?.descendants ?? 0;
  }

  /** Adds `delta` to the descendant count of every ancestor of `path` (which must have a parent). */
  private countAncestors(path: string, delta: number): void {
    let p = path;
    while (p !== '/') {
      p = parentOf(p);
      const n = this.nodes.get(p);
      if (n) n.descendants += delta;
    }
  }

  applyTxn(txn: Txn): ApplyOutcome {
    const out: ApplyOutcome = { results: [], triggers: [] };
    const { body } = txn;
    switch (body.type) {
      case 'error':
        out.err = body.err;
        return out;
      case 'multiError':
        out.err = body.errs.find((e) => e !== 'Ok' && e !== 'RuntimeInconsistency') ?? body.errs.find((e) => e !== 'Ok') ?? 'RuntimeInconsistency';
        out.results = body.errs.map((err) => ({ op: 'error', err }));
        return out;
      case 'multi':
        for (const sub of body.txns) this.applyOne(txn, sub, out);
        return out;
      case 'closeSession': {
        if (body.deletes) {
          for (const d of body.deletes) this.deleteNode(d.path, d.parentCVersion, txn.hdr.zxid, out.triggers);
        } else {
          for (const p of this.ephemeralsOf(txn.hdr.sessionId)) {
            const parent = this.nodes.get(parentOf(p));
            this.deleteNode(p, (parent?.cversion ?? 0) + 1, txn.hdr.zxid, out.triggers);
          }
        }
        this.ephemerals.delete(txn.hdr.sessionId);
        return out;
      }
      default:
        this.applyOne(txn, body, out);
        return out;
    }
  }

  private applyOne(txn: Txn, body: TxnBody, out: ApplyOutcome): void {
    const { zxid, time } = txn.hdr;
    switch (body.type) {
      case 'create': {
        const parentPath = parentOf(body.path);
        const parent = this.nodes.get(parentPath);
        if (parent && !this.nodes.has(body.path)) {
          const node = newNode(body.path, body.data, zxid, time, body.ephemeralOwner, body.kind, body.ttlMs);
          addChild(parent, body.path);
          this.countAncestors(body.path, 1);
          this.nodes.set(body.path, node);
          this.bytes += body.data?.byteLength ?? 0;
          if (body.ephemeralOwner !== 0n) this.addEphemeral(body.ephemeralOwner, body.path);
          if (body.kind === 'ttl') this.onCandidate?.(body.path);
          out.triggers.push({ type: 'created', path: body.path }, { type: 'childrenChanged', path: parentPath });
        }
        if (parent) {
          if (body.parentCVersion > parent.cversion) {
            parent.cversion = body.parentCVersion;
            parent.pzxid = zxid;
          }
          if (body.parentSeq > parent.seq) parent.seq = body.parentSeq;
        }
        const node = this.nodes.get(body.path);
        out.results.push(node ? { op: OpCode.create, path: body.path, stat: statOf(node) } : { op: OpCode.create, path: body.path, stat: emptyStat() });
        return;
      }
      case 'delete':
        this.deleteNode(body.path, body.parentCVersion, zxid, out.triggers);
        out.results.push({ op: OpCode.delete });
        return;
      case 'setData': {
        const node = this.nodes.get(body.path);
        if (node) {
          this.bytes += (body.data?.byteLength ?? 0) - node.dataLen;
          setDataOf(node, body.data);
          node.version = body.version;
          node.mzxid = zxid;
          node.mtime = time;
          out.triggers.push({ type: 'dataChanged', path: body.path });
        }
        out.results.push({ op: OpCode.setData, stat: node ? statOf(node) : emptyStat() });
        return;
      }
      case 'check':
        out.results.push({ op: OpCode.check });
        return;
      default:
        // createSession / noop and friends change nothing in the tree.
        return;
    }
  }

  private deleteNode(path: string, parentCVersion: number, zxid: Zxid, triggers: Trigger[]): void {
    const node = this.nodes.get(path);
    const parentPath = parentOf(path);
    const parent = this.nodes.get(parentPath);
    if (parent && parentCVersion > parent.cversion) {
      parent.cversion = parentCVersion;
      parent.pzxid = zxid;
    }
    if (!node || node.children.size > 0) return;
    this.nodes.delete(path);
    this.countAncestors(path, -1);
    this.bytes -= node.dataLen;
    if (node.ephemeralOwner !== 0n) {
      const set = this.ephemerals.get(node.ephemeralOwner);
      set?.delete(path);
      if (set && set.size === 0) this.ephemerals.delete(node.ephemeralOwner);
    }
    if (parent) {
      removeChild(parent, path);
      if (parent.kind === 'container' && parent.children.size === 0) this.onCandidate?.(parentPath);
      if (parent.kind === 'ttl' && parent.children.size === 0) this.onCandidate?.(parentPath);
    }
    triggers.push({ type: 'deleted', path }, { type: 'childrenChanged', path: parentPath });
  }

  private addEphemeral(owner: bigint, path: string): void {
    let set = this.ephemerals.get(owner);
    if (!set) this.ephemerals.set(owner, (set = new Set()));
    set.add(path);
  }

  /** FNV-1a 64 over every node's (path, data, stat) in path order, as 16 hex digits. */
  digest(): string {
    const paths = [...this.nodes.keys()].sort();
    const chunks: Uint8Array[] = [];
    for (const p of paths) {
      const n = this.nodes.get(p) as ZNode;
      chunks.push(encode([p, dataOf(n), n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.version, n.cversion, n.aversion, n.ephemeralOwner, n.children.size]));
    }
    return fnv1a64(chunks);
  }
}

export function emptyStat(): Stat {
  return {
    czxid: 0n,
    mzxid: 0n,
    pzxid: 0n,
    ctime: 0,
    mtime: 0,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: 0n,
    dataLength: 0,
    numChildren: 0,
  };
}
