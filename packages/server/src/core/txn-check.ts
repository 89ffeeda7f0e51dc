import { MAX_SESSION_TIMEOUT_MS, SESSION_PASSWD_BYTES, pathProblem } from '@zabkit/protocol';
import type { Txn, TxnBody } from './txn.js';

/** cversion / version may wrap negative as ZooKeeper's int32 does; parentSeq too. */
const isInt32ish = (v: unknown): boolean => Number.isInteger(v) && Math.abs(v as number) <= 0xffff_ffff;

function bodyProblem(b: TxnBody, maxDataBytes: number, inMulti: boolean): string | null {
  switch (b.type) {
    case 'createSession':
      if (inMulti) return 'createSession inside a multi';
      if (!Number.isInteger(b.timeoutMs) || b.timeoutMs <= 0 || b.timeoutMs > MAX_SESSION_TIMEOUT_MS) return `session timeout ${b.timeoutMs}`;
      return b.passwd.byteLength === 0 || b.passwd.byteLength > SESSION_PASSWD_BYTES ? `session passwd of ${b.passwd.byteLength} bytes` : null;
    case 'closeSession':
      if (inMulti) return 'closeSession inside a multi';
      for (const d of b.deletes ?? []) {
        const p = pathProblem(d.path);
        if (p) return `closeSession delete: ${p}`;
        if (!isInt32ish(d.parentCVersion)) return 'closeSession delete: bad parentCVersion';
      }
      return null;
    case 'create': {
      const p = pathProblem(b.path);
      if (p) return `create: ${p}`;
      if (b.path === '/') return 'create of /';
      if (b.data !== null && b.data.byteLength > maxDataBytes) return `create of ${b.data.byteLength} bytes of data, the limit is ${maxDataBytes}`;
      if (b.ephemeralOwner < 0n) return 'create: negative ephemeralOwner';
      if (!isInt32ish(b.parentCVersion) || !isInt32ish(b.parentSeq)) return 'create: bad parent counters';
      if (b.ttlMs !== undefined && (!Number.isInteger(b.ttlMs) || b.ttlMs <= 0)) return 'create: bad ttlMs';
      return null;
    }
    case 'delete':
      return pathProblem(b.path) ?? (b.path === '/' ? 'delete of /' : isInt32ish(b.parentCVersion) ? null : 'delete: bad parentCVersion');
    case 'setData': {
      const p = pathProblem(b.path);
      if (p) return `setData: ${p}`;
      if (b.data !== null && b.data.byteLength > maxDataBytes) return `setData of ${b.data.byteLength} bytes of data, the limit is ${maxDataBytes}`;
      return isInt32ish(b.version) ? null : 'setData: bad version';
    }
    case 'check':
      return pathProblem(b.path);
    case 'multi': {
      if (inMulti) return 'multi inside a multi';
      let bytes = 0;
      for (const sub of b.txns) {
        const p = bodyProblem(sub, maxDataBytes, true);
        if (p) return `multi: ${p}`;
        if ((sub.type === 'create' || sub.type === 'setData') && sub.data) bytes += sub.data.byteLength;
      }
      return bytes > maxDataBytes ? `multi carries ${bytes} bytes of data, the limit is ${maxDataBytes}` : null;
    }
    case 'error':
    case 'multiError':
    case 'noop':
      return null;
  }
}

/**
 * Why a decoded txn from the leader could not have come from a correct leader's prep, or null:
 * header fields in range, the zxid the message named, valid paths, data within the limit. A
 * learner drops a leader that sends such a txn instead of logging it.
 */
export function txnProblem(txn: Txn, expectedZxid: bigint, maxDataBytes: number): string | null {
  const h = txn.hdr;
  if (h.zxid !== expectedZxid) return `txn zxid 0x${h.zxid.toString(16)} in a message for 0x${expectedZxid.toString(16)}`;
  if (h.sessionId < 0n || h.sessionId >= 1n << 64n) return 'txn sessionId out of range';
  if (!Number.isSafeInteger(h.cxid) || !Number.isFinite(h.time)) return 'txn cxid or time is not an integer';
  return bodyProblem(txn.body, maxDataBytes, false);
}
