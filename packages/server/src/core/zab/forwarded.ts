import { SESSION_PASSWD_BYTES, WRITE_OPS, requestDataBytes, validateRequest, type ErrorCode, type Request } from '@zabkit/protocol';
import { clampTimeout } from '../sessions.js';
import type { NodeContext } from './context.js';
import type { Proposer } from './proposer.js';

/** A write forwarded by a learner, or the session creation it asks for. */
export type ForwardedRequest = Request | { op: 'createSession'; timeoutMs: number; passwd: Uint8Array };

/**
 * Why the leader must not prep a write forwarded by a learner: the same checks a client's request
 * gets where it arrives (Replica.request), since a learner may be buggy or compromised. The
 * answer is an error txn, so the learner's client is told.
 */
export function forwardedWriteProblem(req: unknown, maxDataBytes: number): { err: ErrorCode; message: string } | null {
  const problem = validateRequest(req);
  if (problem !== null) return { err: 'BadArguments', message: problem };
  const r = req as Request;
  if (!WRITE_OPS.has(r.op)) return { err: 'BadArguments', message: `operation ${r.op} is not a write` };
  const n = requestDataBytes(r);
  if (n > maxDataBytes) return { err: 'RequestTooLarge', message: `request carries ${n} bytes of data, the limit is ${maxDataBytes}` };
  return null;
}

/**
 * Why a createSession forwarded by learner `from` must be dropped: a session id outside that
 * server's id space (its id in the top byte, see sessionIdBase), an id in use, a timeout that is
 * not a positive integer (it is clamped afterwards, as a local one), or a passwd not of the normal length.
 */
export function forwardedCreateSessionProblem(
  from: number,
  sessionId: unknown,
  req: { timeoutMs: unknown; passwd: unknown },
  inUse: (id: bigint) => boolean,
): string | null {
  if (typeof sessionId !== 'bigint' || sessionId <= 0n || sessionId >> 56n !== BigInt(from)) {
    return `session id ${String(sessionId)} is not in server ${from}'s id space`;
  }
  if (inUse(sessionId)) return `session id 0x${sessionId.toString(16)} is already in use`;
  if (!Number.isInteger(req.timeoutMs) || (req.timeoutMs as number) <= 0) return `timeout ${String(req.timeoutMs)} is not a positive integer`;
  if (!(req.passwd instanceof Uint8Array) || req.passwd.byteLength !== SESSION_PASSWD_BYTES) {
    return `passwd is not ${SESSION_PASSWD_BYTES} bytes`;
  }
  return null;
}

/**
 * The leader's handling of a PeerKind.request from learner `from`: checked as above, then proposed.
 * Only the server the session's client is on (as its creation or revalidation recorded) may write for it.
 */
export function handleForwarded(ctx: NodeContext, proposer: Proposer, from: number, sessionId: bigint, cxid: number, req: ForwardedRequest, now: number): void {
  const { maxDataBytes, minSessionTimeoutMs, maxSessionTimeoutMs } = ctx.options;
  if (req.op === 'createSession') {
    const problem = forwardedCreateSessionProblem(from, sessionId, req, (id) => proposer.sessionIdUsed(id));
    if (problem !== null) {
      ctx.log(`dropping a createSession from ${from}: ${problem}`);
      return;
    }
    proposer.createSession(sessionId, clampTimeout(req.timeoutMs, minSessionTimeoutMs, maxSessionTimeoutMs), req.passwd, from, now);
    return;
  }
  const bad = forwardedWriteProblem(req, maxDataBytes);
  if (bad !== null) {
    ctx.log(`refusing a write from ${from} for session 0x${sessionId.toString(16)}: ${bad.message}`);
    proposer.reject(sessionId, cxid, bad.err, now);
    return;
  }
  if (proposer.ownerOf(sessionId) !== from) {
    proposer.reject(sessionId, cxid, 'SessionMoved', now);
    return;
  }
  proposer.submit(sessionId, cxid, req, from, now);
}
