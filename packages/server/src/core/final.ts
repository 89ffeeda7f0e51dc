import { FrameKind, OpCode, type EventFrame, type ResponseBody, type ResponseFrame, type Zxid } from '@zabkit/protocol';
import type { ApplyOutcome } from './data-tree.js';
import type { WatchEvent } from './watches.js';

/** A response frame; `zxid` is filled in when it is sent (the last applied zxid then). */
export function responseFrame(
  xid: number,
  op: number,
  r: { body?: ResponseBody; err?: ResponseFrame['err']; message?: string },
): ResponseFrame {
  const f: ResponseFrame = { k: FrameKind.response, xid, zxid: 0n, op };
  if (r.err !== undefined) f.err = r.err;
  if (r.message !== undefined) f.message = r.message;
  if (r.body !== undefined) f.body = r.body;
  return f;
}

/**
 * The reply to a committed write, built from what applying its txn did.
 * A failed multi carries the failing op's code in `err` and the per-op codes
 * (Ok / the error / RuntimeInconsistency) in `body.results`.
 */
export function writeResponse(xid: number, op: number, outcome: ApplyOutcome, message: string | undefined): ResponseFrame {
  if (outcome.err !== undefined) {
    const body: ResponseBody | undefined = op === OpCode.multi ? { results: outcome.results } : undefined;
    return responseFrame(xid, op, { err: outcome.err, message: message ?? outcome.err, ...(body ? { body } : {}) });
  }
  const first = outcome.results[0];
  switch (op) {
    case OpCode.create:
      if (first?.op === OpCode.create) return responseFrame(xid, op, { body: { path: first.path, stat: first.stat } });
      break;
    case OpCode.setData:
      if (first?.op === OpCode.setData) return responseFrame(xid, op, { body: { stat: first.stat } });
      break;
    case OpCode.multi:
      return responseFrame(xid, op, { body: { results: outcome.results } });
    case OpCode.delete:
    case OpCode.check:
    case OpCode.closeSession:
      return responseFrame(xid, op, { body: {} });
  }
  return responseFrame(xid, op, { err: 'SystemError', message: `no result for operation ${op}` });
}

export function eventFrame(zxid: Zxid, e: WatchEvent): EventFrame {
  return { k: FrameKind.event, zxid, type: e.type, path: e.path };
}
