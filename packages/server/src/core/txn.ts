import type { Data, ErrorCode, Zxid } from '@zabkit/protocol';

/**
 * A transaction: the replicated, idempotent form of a write. Prep turns a
 * request into one, the log persists it, apply (final) changes the tree with
 * it. Every field needed to apply it is inside, so applying it twice (replay
 * over a fuzzy snapshot) gives the same tree.
 */
export interface TxnHeader {
  /** Session that issued the write; 0n for system txns (container / TTL cleanup). */
  sessionId: bigint;
  /** The client's request id (xid), so the serving server can answer it. */
  cxid: number;
  zxid: Zxid;
  /** Leader's wall clock (ms) when proposed; becomes ctime / mtime. */
  time: number;
}

export type NodeKind = 'normal' | 'container' | 'ttl';

export type TxnBody =
  | { type: 'createSession'; timeoutMs: number; passwd: Uint8Array }
  /**
   * Deletes every ephemeral of the session, in path order, then the session.
   * `deletes` (filled in by prep) lists those ephemerals with each parent's
   * cversion after the delete, so a replay over a fuzzy snapshot is idempotent;
   * when absent the tree's own list is used and parents' cversions are bumped.
   */
  | { type: 'closeSession'; deletes?: Array<{ path: string; parentCVersion: number }> }
  | {
      type: 'create';
      /** Final path, sequence suffix included. */
      path: string;
      data: Data;
      ephemeralOwner: bigint;
      kind: NodeKind;
      ttlMs?: number;
      /** Parent's cversion after this create. */
      parentCVersion: number;
      /** Parent's sequence counter after this create. */
      parentSeq: number;
    }
  | { type: 'delete'; path: string; parentCVersion: number }
  /** `version` is the node's version after this write. */
  | { type: 'setData'; path: string; data: Data; version: number }
  | { type: 'check'; path: string }
  | { type: 'multi'; txns: TxnBody[] }
  | { type: 'error'; err: ErrorCode }
  /** A failed multi: one error per op (Ok before the failure, the error, RuntimeInconsistency after). */
  | { type: 'multiError'; errs: ErrorCode[] }
  /** Written by a new leader at the start of an epoch (issue 3); changes nothing. */
  | { type: 'noop' };

export interface Txn {
  hdr: TxnHeader;
  body: TxnBody;
}
