import {
  OpCode,
  SYSTEM_ROOT,
  parentOf,
  sequenceSuffix,
  type Data,
  type ErrorCode,
  type MultiOp,
  type Zxid,
} from '@zabkit/protocol';
import { copyBytes, copyString } from './bytes.js';
import type { DataTree } from './data-tree.js';
import type { NodeKind, TxnBody } from './txn.js';

/**
 * Request data is a view into the client's ws message, which may hold a whole batch of requests:
 * the txn (and the znode it becomes) gets its own copy, so it never keeps that message alive.
 */
const ownBytes = (data: Data): Data => (data === null ? null : copyBytes(data));

/** What prep needs to know about a node: the tree's value or an outstanding change's. */
export interface NodeView {
  version: number;
  cversion: number;
  seq: number;
  ephemeralOwner: bigint;
  numChildren: number;
  kind: NodeKind;
}

/** A prepped write: the body of its txn, and a human readable reason when it failed. */
export interface Prepped {
  body: TxnBody;
  message?: string;
}

class PrepError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const isSystemPath = (path: string): boolean => path === SYSTEM_ROOT || path.startsWith(SYSTEM_ROOT + '/');

/**
 * The leader's prep step (ZooKeeper's PrepRequestProcessor). Validates writes
 * against the tree plus the outstanding changes — writes proposed but not yet
 * applied (ZooKeeper's ChangeRecords) — and turns them into txn bodies.
 */
export class Prep {
  /** Outstanding changes by path: the node after the change (null = deleted) and the zxid that made it. */
  private readonly pending = new Map<string, { zxid: Zxid; node: NodeView | null }>();
  /** The paths each outstanding txn changed, in zxid order, so `applied` touches only those. */
  private readonly order: Array<{ zxid: Zxid; paths: string[] }> = [];

  constructor(private readonly tree: DataTree) {}

  get outstanding(): number {
    return this.pending.size;
  }

  /** True when a proposed but unapplied txn changes this path. */
  hasPending(path: string): boolean {
    return this.pending.has(path);
  }

  /** Forgets outstanding changes made by txns <= zxid (they are in the tree now). */
  applied(zxid: Zxid): void {
    while (this.order.length > 0 && (this.order[0] as { zxid: Zxid }).zxid <= zxid) {
      for (const path of (this.order.shift() as { paths: string[] }).paths) {
        const rec = this.pending.get(path);
        if (rec && rec.zxid <= zxid) this.pending.delete(path);
      }
    }
  }

  /** Drops every outstanding change (restore, or proposals discarded). */
  clear(): void {
    this.pending.clear();
    this.order.length = 0;
  }

  private view(path: string, scratch: Map<string, NodeView | null>): NodeView | null {
    if (scratch.has(path)) return scratch.get(path) ?? null;
    const rec = this.pending.get(path);
    if (rec) return rec.node;
    const n = this.tree.get(path);
    if (!n) return null;
    return {
      version: n.version,
      cversion: n.cversion,
      seq: n.seq,
      ephemeralOwner: n.ephemeralOwner,
      numChildren: n.children.size,
      kind: n.kind,
    };
  }

  private commit(scratch: Map<string, NodeView | null>, zxid: Zxid): void {
    if (scratch.size === 0) return;
    for (const [path, node] of scratch) this.pending.set(path, { zxid, node });
    this.order.push({ zxid, paths: [...scratch.keys()] });
  }

  /** Preps one write request (create / delete / setData / check / multi) as the txn with `zxid`. */
  prepWrite(sessionId: bigint, req: MultiOp | { op: typeof OpCode.multi; ops: MultiOp[] }, zxid: Zxid): Prepped {
    if (req.op === OpCode.multi) return this.prepMulti(sessionId, req.ops, zxid);
    const scratch = new Map<string, NodeView | null>();
    try {
      const body = this.prepOp(sessionId, req, scratch);
      this.commit(scratch, zxid);
      return { body };
    } catch (e) {
      if (!(e instanceof PrepError)) throw e;
      return { body: { type: 'error', err: e.code }, message: e.message };
    }
  }

  private prepMulti(sessionId: bigint, ops: MultiOp[], zxid: Zxid): Prepped {
    const scratch = new Map<string, NodeView | null>();
    const txns: TxnBody[] = [];
    for (let i = 0; i < ops.length; i++) {
      try {
        txns.push(this.prepOp(sessionId, ops[i] as MultiOp, scratch));
      } catch (e) {
        if (!(e instanceof PrepError)) throw e;
        const errs: ErrorCode[] = ops.map((_, j) => (j < i ? 'Ok' : j === i ? e.code : 'RuntimeInconsistency'));
        return { body: { type: 'multiError', errs }, message: `multi op ${i}: ${e.message}` };
      }
    }
    this.commit(scratch, zxid);
    return { body: { type: 'multi', txns } };
  }

  /** The closeSession txn: deletes the session's ephemerals (as prep sees them) in path order. */
  prepCloseSession(sessionId: bigint, zxid: Zxid): Prepped {
    const paths = new Set(this.tree.ephemeralsOf(sessionId));
    for (const [path, rec] of this.pending) {
      if (rec.node && rec.node.ephemeralOwner === sessionId) paths.add(path);
      else paths.delete(path);
    }
    const scratch = new Map<string, NodeView | null>();
    const deletes: Array<{ path: string; parentCVersion: number }> = [];
    for (const path of [...paths].sort()) {
      const parentPath = parentOf(path);
      const parent = this.view(parentPath, scratch);
      const parentCVersion = (parent?.cversion ?? 0) + 1;
      if (parent) scratch.set(parentPath, { ...parent, cversion: parentCVersion, numChildren: parent.numChildren - 1 });
      scratch.set(path, null);
      deletes.push({ path, parentCVersion });
    }
    this.commit(scratch, zxid);
    return { body: { type: 'closeSession', deletes } };
  }

  private prepOp(sessionId: bigint, op: MultiOp, scratch: Map<string, NodeView | null>): TxnBody {
    switch (op.op) {
      case OpCode.create:
        return this.prepCreate(sessionId, op, scratch);
      case OpCode.delete: {
        const { path } = op;
        if (path === '/' || isSystemPath(path)) throw new PrepError('BadArguments', `${path} cannot be deleted`);
        const node = this.view(path, scratch);
        if (!node) throw new PrepError('NoNode', `no node ${path}`);
        if (op.version !== -1 && op.version !== node.version) {
          throw new PrepError('BadVersion', `${path} is at version ${node.version}, not ${op.version}`);
        }
        if (node.numChildren > 0) throw new PrepError('NotEmpty', `${path} has children`);
        const parentPath = parentOf(path);
        const parent = this.view(parentPath, scratch);
        const parentCVersion = (parent?.cversion ?? 0) + 1;
        if (parent) scratch.set(parentPath, { ...parent, cversion: parentCVersion, numChildren: parent.numChildren - 1 });
        scratch.set(path, null);
        return { type: 'delete', path, parentCVersion };
      }
      case OpCode.setData: {
        const { path } = op;
        if (isSystemPath(path)) throw new PrepError('BadArguments', `${path} is reserved for the server`);
        const node = this.view(path, scratch);
        if (!node) throw new PrepError('NoNode', `no node ${path}`);
        if (op.version !== -1 && op.version !== node.version) {
          throw new PrepError('BadVersion', `${path} is at version ${node.version}, not ${op.version}`);
        }
        const version = node.version + 1;
        scratch.set(path, { ...node, version });
        return { type: 'setData', path, data: ownBytes(op.data), version };
      }
      case OpCode.check: {
        const node = this.view(op.path, scratch);
        if (!node) throw new PrepError('NoNode', `no node ${op.path}`);
        if (op.version !== -1 && op.version !== node.version) {
          throw new PrepError('BadVersion', `${op.path} is at version ${node.version}, not ${op.version}`);
        }
        return { type: 'check', path: op.path };
      }
    }
  }

  private prepCreate(
    sessionId: bigint,
    op: Extract<MultiOp, { op: typeof OpCode.create }>,
    scratch: Map<string, NodeView | null>,
  ): TxnBody {
    const { mode } = op;
    if (op.path === '/') throw new PrepError('BadArguments', `/ cannot be created`);
    if (isSystemPath(op.path)) throw new PrepError('BadArguments', `${SYSTEM_ROOT} is reserved for the server`);
    const parentPath = parentOf(op.path);
    const parent = this.view(parentPath, scratch);
    if (!parent) throw new PrepError('NoNode', `parent ${parentPath} does not exist`);
    if (parent.ephemeralOwner !== 0n) throw new PrepError('NoChildrenForEphemerals', `parent ${parentPath} is ephemeral`);
    const path = mode.endsWith('sequential') ? op.path + sequenceSuffix(parent.seq) : op.path;
    if (this.view(path, scratch)) throw new PrepError('NodeExists', `${path} already exists`);
    const ephemeral = mode === 'ephemeral' || mode === 'ephemeral-sequential';
    if (ephemeral && sessionId === 0n) throw new PrepError('BadArguments', 'ephemeral nodes need a session');
    const kind: NodeKind = mode === 'container' ? 'container' : mode.startsWith('ttl') ? 'ttl' : 'normal';
    if (kind === 'ttl' && !(typeof op.ttlMs === 'number' && op.ttlMs > 0)) {
      throw new PrepError('BadArguments', 'ttl modes need a positive ttlMs');
    }
    const parentCVersion = parent.cversion + 1;
    const parentSeq = parent.seq + 1;
    scratch.set(parentPath, { ...parent, cversion: parentCVersion, seq: parentSeq, numChildren: parent.numChildren + 1 });
    const ephemeralOwner = ephemeral ? sessionId : 0n;
    scratch.set(path, { version: 0, cversion: 0, seq: 0, ephemeralOwner, numChildren: 0, kind });
    // the path becomes the znode's key for as long as it lives: its own copy, as for the data
    const body: TxnBody = { type: 'create', path: copyString(path), data: ownBytes(op.data), ephemeralOwner, kind, parentCVersion, parentSeq };
    if (kind === 'ttl') body.ttlMs = op.ttlMs as number;
    return body;
  }
}
