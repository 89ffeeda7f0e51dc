import { WRITE_OPS } from './messages.js';
import { MAX_EPOCH, MAX_PING_TOUCHES, MAX_U64, maxTxnBytesFor, peerFrameLimitFor } from './peer-limits.js';
import { PeerKind } from './peer.js';
import { describeValue, requestDataBytes, validateRequest } from './validate.js';

/** Length of a session password, as every server makes them. */
export const SESSION_PASSWD_BYTES = 16;
/** A session timeout beyond this (about 24 days, the largest 32-bit ms value) is nobody's. */
export const MAX_SESSION_TIMEOUT_MS = 0x7fff_ffff;

/** What a receiver knows that the checks need. */
export interface PeerValidationContext {
  /** Every server of the ensemble (voters and observers). */
  serverIds: ReadonlySet<number>;
  /** The voting participants: a vote's leader must be one. */
  voterIds: ReadonlySet<number>;
  /** The ensemble's znode data limit (a forwarded request's data must fit in it). */
  maxDataBytes: number;
  /** The sender (as its link authenticated it). */
  from: number;
}

const STATES = new Set<unknown>(['LOOKING', 'LEADING', 'FOLLOWING', 'OBSERVING']);
type Fields = Record<string, unknown>;
type Check = (m: Fields, ctx: PeerValidationContext) => string | null;

// Senders encode zxids and session ids as bigints, which msgpackr (int64AsType 'bigint') always
// decodes as bigints, whatever their size; epochs, counters and ids go as numbers.
const u64 = (m: Fields, f: string): string | null =>
  typeof m[f] === 'bigint' && (m[f] as bigint) >= 0n && (m[f] as bigint) <= MAX_U64 ? null : `${f} must be a bigint in [0, 2^64)`;
const zxid = u64;
/** A zxid of a txn: counters start at 1 in every epoch. */
const txnZxid = (m: Fields, f: string): string | null =>
  zxid(m, f) ?? (((m[f] as bigint) & 0xffff_ffffn) === 0n ? `${f} has counter 0, which no txn has` : null);
const u32 = (m: Fields, f: string, min = 0): string | null =>
  Number.isInteger(m[f]) && (m[f] as number) >= min && (m[f] as number) <= MAX_EPOCH ? null : `${f} must be an integer in [${min}, 2^32)`;
const epoch = (m: Fields, f: string): string | null => u32(m, f);
const bool = (m: Fields, f: string): string | null => (typeof m[f] === 'boolean' ? null : `${f} must be a boolean`);
const bytes = (m: Fields, f: string, max: number): string | null => {
  const v = m[f];
  if (!(v instanceof Uint8Array)) return `${f} must be bytes`;
  return v.byteLength > max ? `${f} holds ${v.byteLength} bytes, more than ${max}` : null;
};
const sessionId = (m: Fields, f: string): string | null =>
  u64(m, f) ?? ((m[f] as bigint) === 0n ? `${f} must not be 0` : null);

function checkRequest(m: Fields, ctx: PeerValidationContext): string | null {
  const bad = sessionId(m, 'sessionId') ?? (Number.isSafeInteger(m.cxid) ? null : 'cxid must be an integer');
  if (bad) return bad;
  const req = m.req as Fields | null;
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return 'req must be a map';
  if (req.op === 'createSession') {
    if (!Number.isInteger(req.timeoutMs) || (req.timeoutMs as number) <= 0 || (req.timeoutMs as number) > MAX_SESSION_TIMEOUT_MS) {
      return 'createSession timeoutMs must be a positive 32-bit integer';
    }
    return bytes(req, 'passwd', SESSION_PASSWD_BYTES) ?? ((req.passwd as Uint8Array).byteLength === 0 ? 'createSession passwd is empty' : null);
  }
  // A learner forwards only writes, and only ones it validated as it would answer a client.
  if (!WRITE_OPS.has(req.op as number)) return `request op ${describeValue(req.op)} is not a write`;
  const problem = validateRequest(req);
  if (problem) return `request: ${problem}`;
  const n = requestDataBytes(req as never);
  return n > ctx.maxDataBytes ? `request carries ${n} bytes of data, the limit is ${ctx.maxDataBytes}` : null;
}

function checkVote(m: Fields, ctx: PeerValidationContext): string | null {
  const bad = zxid(m, 'zxid') ?? epoch(m, 'peerEpoch') ?? u32(m, 'electionEpoch') ?? (STATES.has(m.state) ? null : `unknown state ${describeValue(m.state)}`);
  if (bad) return bad;
  if (!Number.isInteger(m.leader)) return 'leader must be an integer';
  // A looking observer's first vote names itself (a placeholder the voters ignore).
  const placeholder = m.leader === ctx.from && !ctx.voterIds.has(ctx.from) && m.state === 'LOOKING';
  return ctx.voterIds.has(m.leader as number) || placeholder ? null : `vote for ${m.leader as number}, which is not a voter`;
}

const CHECKS: Readonly<Record<number, Check>> = {
  [PeerKind.vote]: checkVote,
  [PeerKind.followerInfo]: (m) => epoch(m, 'acceptedEpoch') ?? zxid(m, 'lastZxid') ?? bool(m, 'observer'),
  [PeerKind.leaderInfo]: (m) => epoch(m, 'newEpoch'),
  [PeerKind.ackEpoch]: (m) => epoch(m, 'currentEpoch') ?? zxid(m, 'lastZxid'),
  [PeerKind.diff]: (m) => zxid(m, 'lastZxid'),
  [PeerKind.trunc]: (m) => zxid(m, 'zxid'),
  [PeerKind.snap]: (m, ctx) => zxid(m, 'zxid') ?? u32(m, 'index') ?? bool(m, 'last') ?? bytes(m, 'chunk', peerFrameLimitFor(ctx.maxDataBytes)),
  [PeerKind.newLeader]: (m) => zxid(m, 'zxid') ?? (((m.zxid as bigint) & 0xffff_ffffn) === 0n ? null : 'NEWLEADER zxid must have counter 0'),
  [PeerKind.ack]: (m) => zxid(m, 'zxid'),
  [PeerKind.upToDate]: () => null,
  [PeerKind.proposal]: (m, ctx) => txnZxid(m, 'zxid') ?? bytes(m, 'txn', maxTxnBytesFor(ctx.maxDataBytes)),
  [PeerKind.commit]: (m) => txnZxid(m, 'zxid'),
  [PeerKind.inform]: (m, ctx) => txnZxid(m, 'zxid') ?? bytes(m, 'txn', maxTxnBytesFor(ctx.maxDataBytes)),
  [PeerKind.ping]: (m) => {
    const t = m.touches;
    if (!Array.isArray(t)) return 'touches must be an array';
    if (t.length > MAX_PING_TOUCHES) return `ping touches ${t.length} sessions, more than ${MAX_PING_TOUCHES}`;
    for (const id of t) if (typeof id !== 'bigint' || id <= 0n || id > MAX_U64) return 'touches must hold session ids (bigints)';
    return null;
  },
  [PeerKind.request]: (m, ctx) => checkRequest(m, ctx),
  [PeerKind.sync]: (m) => u32(m, 'id', 1),
  [PeerKind.syncReply]: (m) => u32(m, 'id', 1) ?? zxid(m, 'zxid'),
  [PeerKind.revalidate]: (m) => sessionId(m, 'sessionId'),
  [PeerKind.revalidateReply]: (m) => sessionId(m, 'sessionId') ?? bool(m, 'valid'),
};

/**
 * Why a decoded peer message from server `ctx.from` is malformed, or null when it is one a correct
 * server could have sent: known kind, every field of the right type (numbers vs bigints), in
 * range (epochs and counters 32-bit, zxids 64-bit), sizes bounded. Hello and batch frames are the
 * transport's and are refused here. Never throws.
 */
export function validatePeerMessage(msg: unknown, ctx: PeerValidationContext): string | null {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return 'message is not a map';
  if (!ctx.serverIds.has(ctx.from)) return `message from unknown server ${ctx.from}`;
  const m = msg as Fields;
  const check = typeof m.k === 'number' ? CHECKS[m.k] : undefined;
  if (!check) return `unknown message kind ${describeValue(m.k)}`;
  const problem = check(m, ctx);
  return problem === null ? null : `kind ${m.k as number}: ${problem}`;
}

