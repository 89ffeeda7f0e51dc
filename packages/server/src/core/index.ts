export type * from './api.js';
export type * from './txn.js';
export { resolveCoreOptions } from './options.js';
export { encodeTxn, decodeTxn } from './txn-codec.js';
export { DataTree, dataOf, statOf, type ZNode, type Trigger, type ApplyOutcome } from './data-tree.js';
export { SNAPSHOT_CHUNK_SIZE } from './snapshot.js';
export * from './zab/index.js';
