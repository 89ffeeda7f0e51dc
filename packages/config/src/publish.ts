import { hasCode, mkdirp, zabError, type CallOptions, type Stat, type ZabClient } from '@zabkit/client';
import { parentOf } from '@zabkit/protocol';
import { jsonCodec, type Codec } from './codec.js';
import type { PublishOptions } from './options.js';

export interface PublishWithCodecOptions<T> extends PublishOptions {
  /** Encodes the value. Default: JSON. Example: `{ codec: stringCodec }`. */
  codec?: Codec<T>;
}

const MAX_ATTEMPTS = 10;

/**
 * Writes `value` to the config node, creating it (and, by default, its
 * parents) if missing. With `expectedVersion` it is a compare-and-set: a
 * concurrent change rejects with `BadVersionError` (code 'BadVersion') and
 * nothing is written. Resolves with the node's new stat.
 *
 * A ConnectionLoss / OperationTimeout rejection means the outcome is unknown
 * (the write may have been applied): read the node to find out.
 */
export async function publish<T>(client: ZabClient, path: string, value: T, options: PublishWithCodecOptions<T> = {}): Promise<Stat> {
  const codec = options.codec ?? (jsonCodec() as Codec<T>);
  const data = codec.encode(value);
  const call: CallOptions = {};
  if (options.signal) call.signal = options.signal;
  if (options.timeoutMs !== undefined) call.timeoutMs = options.timeoutMs;
  const { expectedVersion } = options;

  const create = async (): Promise<Stat> => {
    if (options.createParents !== false) await mkdirp(client, parentOf(path), call);
    return (await client.createWithStat(path, data, { ...call, mode: 'persistent' })).stat;
  };

  if (expectedVersion === null) {
    try {
      return await create();
    } catch (err) {
      if (hasCode(err, 'NodeExists')) throw zabError('BadVersion', `${path} already exists (expected it not to)`, { path, cause: err });
      throw err;
    }
  }
  if (expectedVersion !== undefined) {
    try {
      return await client.setData(path, data, { ...call, version: expectedVersion });
    } catch (err) {
      if (hasCode(err, 'NoNode')) throw zabError('BadVersion', `${path} does not exist (expected version ${expectedVersion})`, { path, cause: err });
      throw err;
    }
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.setData(path, data, call);
    } catch (err) {
      if (!hasCode(err, 'NoNode') || attempt >= MAX_ATTEMPTS) throw err;
    }
    try {
      return await create();
    } catch (err) {
      // someone created it first: overwrite it on the next round
      if (!hasCode(err, 'NodeExists') || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

/** `publish` bound to one client, node and codec. Holds no resources; `close()` exists for symmetry with the other handles. */
export class ConfigPublisher<T = unknown> {
  constructor(
    private readonly client: ZabClient,
    readonly path: string,
    private readonly defaults: { codec?: Codec<T>; createParents?: boolean } = {},
  ) {}

  publish(value: T, options: PublishOptions = {}): Promise<Stat> {
    return publish(this.client, this.path, value, { ...this.defaults, ...options });
  }

  /** Deletes the node (with `expectedVersion`, only at that version). Missing is fine. */
  async remove(options: PublishOptions = {}): Promise<void> {
    const call: CallOptions & { version?: number } = {};
    if (options.signal) call.signal = options.signal;
    if (options.timeoutMs !== undefined) call.timeoutMs = options.timeoutMs;
    if (typeof options.expectedVersion === 'number') call.version = options.expectedVersion;
    try {
      await this.client.delete(this.path, call);
    } catch (err) {
      if (!hasCode(err, 'NoNode')) throw err;
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
