import type { Zxid } from './zxid.js';

/** The metadata every znode carries, field for field as ZooKeeper's Stat. */
export interface Stat {
  /** zxid of the create that made this node. */
  czxid: Zxid;
  /** zxid of the last change to this node's data (or its create). */
  mzxid: Zxid;
  /** zxid of the last change to this node's children (or its create). */
  pzxid: Zxid;
  /** ms since epoch when created (the leader's clock at proposal). */
  ctime: number;
  /** ms since epoch of the last data change. */
  mtime: number;
  /** number of data changes. */
  version: number;
  /** number of child changes. */
  cversion: number;
  /** number of ACL changes (always 0: ACLs are not implemented yet). */
  aversion: number;
  /** session id owning this ephemeral node, 0n otherwise. */
  ephemeralOwner: bigint;
  dataLength: number;
  numChildren: number;
}
