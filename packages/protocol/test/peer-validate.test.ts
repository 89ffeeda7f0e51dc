import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_DATA_BYTES,
  MAX_EPOCH,
  MAX_PING_TOUCHES,
  OpCode,
  PeerKind,
  SESSION_PASSWD_BYTES,
  decode,
  encode,
  makeZxid,
  maxTxnBytesFor,
  peerFrameLimitFor,
  validatePeerMessage,
  type PeerMessage,
  type PeerValidationContext,
} from '../src/index.js';

// Servers 1-3 vote, 4 observes.
const ctx: PeerValidationContext = {
  serverIds: new Set([1, 2, 3, 4]),
  voterIds: new Set([1, 2, 3]),
  maxDataBytes: 1024,
  from: 2,
};
const z = makeZxid(3, 7);
const passwd = new Uint8Array(SESSION_PASSWD_BYTES).fill(9);

/** One message of every kind as a correct server sends it. */
const good: Record<string, PeerMessage> = {
  vote: { k: PeerKind.vote, leader: 3, zxid: z, peerEpoch: 3, electionEpoch: 12, state: 'LOOKING' },
  followerInfo: { k: PeerKind.followerInfo, acceptedEpoch: 3, lastZxid: z, observer: false },
  leaderInfo: { k: PeerKind.leaderInfo, newEpoch: 4 },
  ackEpoch: { k: PeerKind.ackEpoch, currentEpoch: 3, lastZxid: z },
  diff: { k: PeerKind.diff, lastZxid: z },
  trunc: { k: PeerKind.trunc, zxid: 0n },
  snap: { k: PeerKind.snap, zxid: z, index: 2, last: true, chunk: new Uint8Array(100) },
  newLeader: { k: PeerKind.newLeader, zxid: makeZxid(4, 0) },
  ack: { k: PeerKind.ack, zxid: makeZxid(4, 0) },
  upToDate: { k: PeerKind.upToDate },
  proposal: { k: PeerKind.proposal, zxid: z, txn: new Uint8Array(40) },
  commit: { k: PeerKind.commit, zxid: z },
  inform: { k: PeerKind.inform, zxid: z, txn: new Uint8Array(40) },
  ping: { k: PeerKind.ping, touches: [5n, 1n << 63n] },
  emptyPing: { k: PeerKind.ping, touches: [] },
  request: { k: PeerKind.request, sessionId: 2n << 56n, cxid: 3, req: { op: OpCode.setData, path: '/a', data: new Uint8Array(1024), version: -1 } },
  multi: {
    k: PeerKind.request,
    sessionId: 9n,
    cxid: 0,
    req: { op: OpCode.multi, ops: [{ op: OpCode.create, path: '/q/', data: null, mode: 'persistent-sequential' }, { op: OpCode.check, path: '/q', version: 1 }] },
  },
  closeSession: { k: PeerKind.request, sessionId: 9n, cxid: 4, req: { op: OpCode.closeSession } },
  createSession: { k: PeerKind.request, sessionId: 2n << 56n, cxid: 0, req: { op: 'createSession', timeoutMs: 4000, passwd } },
  sync: { k: PeerKind.sync, id: 1 },
  syncReply: { k: PeerKind.syncReply, id: 1, zxid: z },
  revalidate: { k: PeerKind.revalidate, sessionId: 9n },
  revalidateReply: { k: PeerKind.revalidateReply, sessionId: 9n, valid: false },
};

/** Each: the good message to start from, the fields to change, and what the reason must mention. */
const bad: Array<[string, keyof typeof good, Record<string, unknown>, RegExp]> = [
  ['vote leader not a voter', 'vote', { leader: 4 }, /not a voter/],
  ['vote leader unknown', 'vote', { leader: 99 }, /not a voter/],
  ['vote leader not an integer', 'vote', { leader: '3' }, /leader/],
  ['vote zxid as a number', 'vote', { zxid: 7 }, /zxid/],
  ['vote zxid negative', 'vote', { zxid: -1n }, /zxid/],
  ['vote zxid of 2^64', 'vote', { zxid: 1n << 64n }, /zxid/],
  ['vote peerEpoch of 2^32', 'vote', { peerEpoch: MAX_EPOCH + 1 }, /peerEpoch/],
  ['vote peerEpoch as a bigint', 'vote', { peerEpoch: 3n }, /peerEpoch/],
  ['vote electionEpoch fractional', 'vote', { electionEpoch: 1.5 }, /electionEpoch/],
  ['vote state unknown', 'vote', { state: 'RULING' }, /state/],
  ['vote state a bigint', 'vote', { state: 7n }, /unknown state 7/],
  ['vote state a map with a toString key', 'vote', { state: { toString: 1 } }, /unknown state a value of type object/],
  ['request op a map with a toString key', 'request', { req: { op: { toString: 1 } } }, /request op a value of type object is not a write/],
  ['followerInfo acceptedEpoch 2^53', 'followerInfo', { acceptedEpoch: 2 ** 53 }, /acceptedEpoch/],
  ['followerInfo acceptedEpoch as a bigint', 'followerInfo', { acceptedEpoch: 3n }, /acceptedEpoch/],
  ['followerInfo acceptedEpoch 2^32', 'followerInfo', { acceptedEpoch: 2 ** 32 }, /acceptedEpoch/],
  ['followerInfo acceptedEpoch negative', 'followerInfo', { acceptedEpoch: -1 }, /acceptedEpoch/],
  ['followerInfo lastZxid missing', 'followerInfo', { lastZxid: undefined }, /lastZxid/],
  ['followerInfo observer not a boolean', 'followerInfo', { observer: 1 }, /observer/],
  ['leaderInfo newEpoch 2^32', 'leaderInfo', { newEpoch: 2 ** 32 }, /newEpoch/],
  ['leaderInfo newEpoch NaN', 'leaderInfo', { newEpoch: Number.NaN }, /newEpoch/],
  ['ackEpoch currentEpoch a string', 'ackEpoch', { currentEpoch: '3' }, /currentEpoch/],
  ['ackEpoch lastZxid a string', 'ackEpoch', { lastZxid: '7' }, /lastZxid/],
  ['diff lastZxid a number', 'diff', { lastZxid: 0 }, /lastZxid/],
  ['trunc zxid missing', 'trunc', { zxid: undefined }, /zxid/],
  ['snap chunk not bytes', 'snap', { chunk: [1, 2] }, /chunk/],
  ['snap chunk too large', 'snap', { chunk: new Uint8Array(peerFrameLimitFor(1024) + 1) }, /chunk holds/],
  ['snap index negative', 'snap', { index: -1 }, /index/],
  ['snap last missing', 'snap', { last: undefined }, /last/],
  ['snap old format (chunks array)', 'snap', { chunk: undefined, chunks: [new Uint8Array(1)] }, /chunk/],
  ['newLeader counter not 0', 'newLeader', { zxid: makeZxid(4, 1) }, /counter 0/],
  ['ack zxid a number', 'ack', { zxid: 1 }, /zxid/],
  ['proposal counter 0', 'proposal', { zxid: makeZxid(4, 0) }, /counter 0/],
  ['proposal txn not bytes', 'proposal', { txn: 'x' }, /txn/],
  ['proposal txn too large', 'proposal', { txn: new Uint8Array(maxTxnBytesFor(1024) + 1) }, /txn holds/],
  ['commit zxid a number', 'commit', { zxid: 5 }, /zxid/],
  ['inform txn missing', 'inform', { txn: undefined }, /txn/],
  ['ping touches not an array', 'ping', { touches: 5n }, /touches/],
  ['ping touches numbers', 'ping', { touches: [5] }, /touches/],
  ['ping touches session 0', 'ping', { touches: [0n] }, /touches/],
  ['ping touches too many', 'ping', { touches: new Array(MAX_PING_TOUCHES + 1).fill(1n) }, /more than/],
  ['request sessionId a number', 'request', { sessionId: 9 }, /sessionId/],
  ['request sessionId 0', 'request', { sessionId: 0n }, /sessionId/],
  ['request cxid fractional', 'request', { cxid: 0.5 }, /cxid/],
  ['request without req', 'request', { req: null }, /req/],
  ['request path without leading slash', 'request', { req: { op: OpCode.setData, path: 'a', data: null, version: -1 } }, /start with/],
  ['request data over the limit', 'request', { req: { op: OpCode.setData, path: '/a', data: new Uint8Array(1025), version: -1 } }, /1025 bytes/],
  ['request a read', 'request', { req: { op: OpCode.getData, path: '/a', watch: false } }, /not a write/],
  ['request unknown op', 'request', { req: { op: 77 } }, /not a write/],
  [
    'multi data over the limit',
    'multi',
    { req: { op: OpCode.multi, ops: [1, 2].map(() => ({ op: OpCode.create, path: '/x', data: new Uint8Array(600), mode: 'persistent' })) } },
    /1200 bytes/,
  ],
  ['createSession timeout 1e15', 'createSession', { req: { op: 'createSession', timeoutMs: 1e15, passwd } }, /timeoutMs/],
  ['createSession timeout 0', 'createSession', { req: { op: 'createSession', timeoutMs: 0, passwd } }, /timeoutMs/],
  ['createSession timeout fractional', 'createSession', { req: { op: 'createSession', timeoutMs: 10.5, passwd } }, /timeoutMs/],
  ['createSession passwd too long', 'createSession', { req: { op: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(4096) } }, /passwd/],
  ['createSession passwd empty', 'createSession', { req: { op: 'createSession', timeoutMs: 4000, passwd: new Uint8Array(0) } }, /passwd/],
  ['createSession passwd a string', 'createSession', { req: { op: 'createSession', timeoutMs: 4000, passwd: 'pw' } }, /passwd/],
  ['sync id 0', 'sync', { id: 0 }, /id/],
  ['syncReply zxid a number', 'syncReply', { zxid: 3 }, /zxid/],
  ['revalidate sessionId a string', 'revalidate', { sessionId: '9' }, /sessionId/],
  ['revalidateReply valid missing', 'revalidateReply', { valid: undefined }, /valid/],
];

describe('validatePeerMessage', () => {
  it.each(Object.entries(good))('accepts a correct %s, also after a trip through the codec', (_name, msg) => {
    expect(validatePeerMessage(msg, ctx)).toBeNull();
    expect(validatePeerMessage(decode(encode(msg)), ctx)).toBeNull();
  });

  it.each(bad)('refuses %s', (_name, base, change, reason) => {
    const msg = { ...good[base], ...change };
    expect(validatePeerMessage(msg, ctx)).toMatch(reason);
    // and as it arrives, where msgpack can carry it (not 2^64)
    let wire: unknown = null;
    try {
      wire = decode(encode(msg));
    } catch {
      return;
    }
    expect(validatePeerMessage(wire, ctx)).toMatch(reason);
  });

  it('refuses what is not a peer message, unknown kinds, transport frames and unknown senders', () => {
    for (const v of [null, 5, 'x', [good.ack], {}, { k: 99 }, { k: { toString: 1 } }, { k: 5n }, { k: PeerKind.hello, sid: 2, channel: 'quorum', protocolVersion: 1 }, { k: PeerKind.batch, msgs: [] }]) {
      expect(validatePeerMessage(v, ctx)).not.toBeNull();
    }
    expect(validatePeerMessage(good.ack, { ...ctx, from: 9 })).toMatch(/unknown server 9/);
  });

  it("takes a looking observer's vote for itself (its placeholder), but no other vote for a non-voter", () => {
    const placeholder = { ...good.vote, leader: 4 };
    expect(validatePeerMessage(placeholder, { ...ctx, from: 4 })).toBeNull();
    expect(validatePeerMessage({ ...placeholder, state: 'OBSERVING' }, { ...ctx, from: 4 })).toMatch(/not a voter/);
    expect(validatePeerMessage(placeholder, { ...ctx, from: 3 })).toMatch(/not a voter/);
  });

  it('bounds the peer frame well below the old 1 GiB yet above the largest client frame', () => {
    const limit = peerFrameLimitFor(DEFAULT_MAX_DATA_BYTES);
    expect(limit).toBeLessThan(16 * 1024 * 1024);
    expect(limit).toBeGreaterThan(maxTxnBytesFor(DEFAULT_MAX_DATA_BYTES));
    expect(maxTxnBytesFor(DEFAULT_MAX_DATA_BYTES)).toBeGreaterThan(2 * DEFAULT_MAX_DATA_BYTES);
  });
});
