export type * from './core/txn.js';
export type * from './core/api.js';
export * from './storage/types.js';
