import { frameLimitFor } from './codec.js';

/** Epochs are the top 32 bits of a zxid: no epoch may exceed this. */
export const MAX_EPOCH = 0xffff_ffff;
/** Largest legitimate 64-bit id or zxid on the wire (2^64 - 1). */
export const MAX_U64 = (1n << 64n) - 1n;
/** Session ids a learner may report as touched in one ping reply. */
export const MAX_PING_TOUCHES = 1 << 20;
/** A snapshot chunk is cut once it holds this many bytes (or SNAPSHOT_CHUNK_SIZE rows). */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

/**
 * The largest txn a request within the client frame limit can become: prep turns each op into a
 * txn body that is at most about 4x its request form (a create `{op, path, data, mode}` gains
 * ephemeralOwner, kind, parentCVersion, parentSeq and a 10-digit sequence suffix), plus headers.
 */
export const maxTxnBytesFor = (maxDataBytes: number): number => 4 * frameLimitFor(maxDataBytes) + 4096;

/**
 * The largest legitimate peer frame: a PROPOSAL / INFORM of a maximal txn, a forwarded request
 * (a client frame plus a few fields), a snapshot chunk (SNAPSHOT_CHUNK_BYTES plus one node of
 * maxDataBytes), or a batch (peer-outbound's BATCH_MAX_BYTES, 256 KiB), plus framing.
 * Not covered: a closeSession txn of a session holding so many ephemerals that their paths
 * alone exceed this (as with ZooKeeper's jute.maxbuffer).
 */
export const peerFrameLimitFor = (maxDataBytes: number): number => maxTxnBytesFor(maxDataBytes) + 64 * 1024;
