import { OpCode, withChroot, withoutChroot, type CreateMode, type MultiOp, type MultiResult, type Stat, type ErrorCode } from '@zabkit/protocol';
import { toBytes, type DataInput } from './data.js';

/** One operation of a `multi` (see also the fluent `transaction()` builder). */
export type Op =
  | { type: 'create'; path: string; data?: DataInput; mode?: CreateMode; ttlMs?: number }
  | { type: 'delete'; path: string; version?: number }
  | { type: 'setData'; path: string; data: DataInput; version?: number }
  | { type: 'check'; path: string; version: number };

/** Outcome of one op of a multi. Paths are relative to the client's chroot. */
export type OpResult =
  | { type: 'create'; path: string; stat: Stat }
  | { type: 'delete' }
  | { type: 'setData'; stat: Stat }
  | { type: 'check' }
  | { type: 'error'; code: ErrorCode };

/** Turns user ops into wire ops, applying the chroot and encoding data. */
export function toWireOps(ops: readonly Op[], chroot: string): MultiOp[] {
  return ops.map((op): MultiOp => {
    const path = withChroot(chroot, op.path);
    switch (op.type) {
      case 'create': {
        const out: MultiOp = { op: OpCode.create, path, data: toBytes(op.data ?? null), mode: op.mode ?? 'persistent' };
        if (op.ttlMs !== undefined) out.ttlMs = op.ttlMs;
        return out;
      }
      case 'delete':
        return { op: OpCode.delete, path, version: op.version ?? -1 };
      case 'setData':
        return { op: OpCode.setData, path, data: toBytes(op.data), version: op.version ?? -1 };
      case 'check':
        return { op: OpCode.check, path, version: op.version };
      default:
        throw new TypeError(`unknown multi op type ${JSON.stringify((op as { type?: unknown }).type)}`);
    }
  });
}

export function fromWireResult(r: MultiResult, chroot: string): OpResult {
  switch (r.op) {
    case OpCode.create:
      return { type: 'create', path: withoutChroot(chroot, r.path), stat: r.stat };
    case OpCode.delete:
      return { type: 'delete' };
    case OpCode.setData:
      return { type: 'setData', stat: r.stat };
    case OpCode.check:
      return { type: 'check' };
    default:
      return { type: 'error', code: r.err };
  }
}
