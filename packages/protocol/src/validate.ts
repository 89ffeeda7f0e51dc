import { CREATE_MODES, OpCode, type MultiOp, type Request } from './messages.js';
import { pathProblem } from './paths.js';

const MODES = new Set<string>(CREATE_MODES);

/**
 * A decoded value for an error message, never throwing: msgpack maps decode to plain objects,
 * so a hostile `{ toString: 1 }` would make String() throw, and JSON.stringify throws on bigints.
 */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v);
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'an array' : `a value of type ${typeof v}`;
}
const isBytesOrNull = (v: unknown): boolean => v === null || v instanceof Uint8Array;
const isVersion = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= -1 && (v as number) <= 0x7fffffff;
const isSequential = (mode: unknown): boolean => typeof mode === 'string' && mode.endsWith('sequential');

/** Total bytes of znode data a request carries (for the size limit). */
export function requestDataBytes(req: Request): number {
  switch (req.op) {
    case OpCode.create:
    case OpCode.setData:
      return req.data?.byteLength ?? 0;
    case OpCode.multi:
      return req.ops.reduce((n, op) => n + requestDataBytes(op), 0);
    default:
      return 0;
  }
}

function checkPath(path: unknown, sequential = false): string | null {
  const p = pathProblem(path, { sequential });
  return p === null ? null : p;
}

function validateOp(req: Record<string, unknown>, inMulti: boolean): string | null {
  switch (req.op) {
    case OpCode.create: {
      if (!MODES.has(req.mode as string)) return `unknown create mode ${describeValue(req.mode)}`;
      const bad = checkPath(req.path, isSequential(req.mode));
      if (bad) return bad;
      if (!isBytesOrNull(req.data)) return 'data must be bytes or null';
      const ttl = (req.mode as string).startsWith('ttl');
      if (ttl) {
        if (!Number.isInteger(req.ttlMs) || (req.ttlMs as number) <= 0) return 'ttl modes need a positive integer ttlMs';
      } else if (req.ttlMs !== undefined && req.ttlMs !== null) {
        return `ttlMs is only allowed with ttl modes, not ${req.mode as string}`;
      }
      return null;
    }
    case OpCode.delete:
    case OpCode.check:
      return checkPath(req.path) ?? (isVersion(req.version) ? null : 'version must be an integer >= -1');
    case OpCode.setData:
      return (
        checkPath(req.path) ??
        (isBytesOrNull(req.data) ? null : 'data must be bytes or null') ??
        (isVersion(req.version) ? null : 'version must be an integer >= -1')
      );
    default:
      if (inMulti) return `operation ${describeValue(req.op)} is not allowed in a multi`;
  }
  switch (req.op) {
    case OpCode.exists:
    case OpCode.getData:
      return checkPath(req.path) ?? (typeof req.watch === 'boolean' ? null : 'watch must be a boolean');
    case OpCode.getChildren:
      return (
        checkPath(req.path) ??
        (typeof req.watch === 'boolean' ? null : 'watch must be a boolean') ??
        (typeof req.withStat === 'boolean' ? null : 'withStat must be a boolean')
      );
    case OpCode.sync:
    case OpCode.getAllChildrenNumber:
      return checkPath(req.path);
    case OpCode.getEphemerals:
      return typeof req.prefix === 'string' && req.prefix.startsWith('/') ? null : "prefix must be a string starting with '/'";
    case OpCode.multi: {
      if (!Array.isArray(req.ops)) return 'multi needs an ops array';
      for (let i = 0; i < req.ops.length; i++) {
        const op = req.ops[i] as unknown;
        if (op === null || typeof op !== 'object') return `multi op ${i} is not an object`;
        const bad = validateOp(op as Record<string, unknown>, true);
        if (bad) return `multi op ${i}: ${bad}`;
      }
      return null;
    }
    case OpCode.setWatches: {
      if (typeof req.relativeZxid !== 'bigint') return 'relativeZxid must be a bigint';
      for (const key of ['dataWatches', 'existWatches', 'childWatches'] as const) {
        const list = req[key];
        if (!Array.isArray(list)) return `${key} must be an array`;
        for (const p of list) {
          const bad = checkPath(p);
          if (bad) return `${key}: ${bad}`;
        }
      }
      return null;
    }
    case OpCode.ping:
    case OpCode.closeSession:
      return null;
    default:
      return `unknown operation ${describeValue(req.op)}`;
  }
}

/** Returns why a decoded request is malformed (a BadArguments reply), or null when it is well formed. */
export function validateRequest(req: unknown): string | null {
  if (req === null || typeof req !== 'object') return 'request is not an object';
  return validateOp(req as Record<string, unknown>, false);
}

export function isMultiOp(req: Request): req is MultiOp {
  return req.op === OpCode.create || req.op === OpCode.delete || req.op === OpCode.setData || req.op === OpCode.check;
}
