import type { CreateMode } from '@zabkit/protocol';
import type { DataInput } from './data.js';
import type { Op, OpResult } from './ops.js';
import type { CallOptions } from './options.js';

export type Committer = (ops: readonly Op[], options: CallOptions) => Promise<OpResult[]>;

/**
 * Fluent builder for an atomic multi:
 * `await client.transaction().create('/a', 'x').setData('/b', 'y', { version: 3 }).delete('/c').check('/d', 0).commit()`.
 */
export class Transaction {
  private readonly list: Op[] = [];

  constructor(private readonly committer: Committer) {}

  /** The ops added so far, in order. */
  get ops(): readonly Op[] {
    return this.list;
  }

  create(path: string, data: DataInput = null, options: { mode?: CreateMode; ttlMs?: number } = {}): this {
    const op: Op = { type: 'create', path, data };
    if (options.mode !== undefined) op.mode = options.mode;
    if (options.ttlMs !== undefined) op.ttlMs = options.ttlMs;
    this.list.push(op);
    return this;
  }

  setData(path: string, data: DataInput, options: { version?: number } = {}): this {
    this.list.push({ type: 'setData', path, data, version: options.version ?? -1 });
    return this;
  }

  delete(path: string, options: { version?: number } = {}): this {
    this.list.push({ type: 'delete', path, version: options.version ?? -1 });
    return this;
  }

  /** Fails the transaction unless `path` is at `version` (-1: merely exists). */
  check(path: string, version: number = -1): this {
    this.list.push({ type: 'check', path, version });
    return this;
  }

  commit(options: CallOptions = {}): Promise<OpResult[]> {
    return this.committer([...this.list], options);
  }
}
