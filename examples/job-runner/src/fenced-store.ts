import { BadVersionError, NoNodeError, NodeExistsError, mkdirp, type ZabClient } from '@zabkit/client';

/** A record as the store keeps it: the value and the fencing token that wrote it. */
export interface StoredRecord {
  key: string;
  /** Fencing token of the write, as a hex string (`0x...`). */
  token: string;
  value: unknown;
}

/** Thrown by `FencedStore.write` for a token lower than one the store has already accepted. */
export class StaleTokenError extends Error {
  constructor(
    readonly key: string,
    readonly token: bigint,
    readonly highest: bigint,
  ) {
    super(`stale fencing token ${hex(token)} for ${key} (the store has seen ${hex(highest)})`);
    this.name = 'StaleTokenError';
  }
}

export const hex = (token: bigint): string => `0x${token.toString(16)}`;

/**
 * Stands for your database: one znode per key at `<dir>/<key>` holding the
 * value and the fencing token that wrote it. A write carrying a token lower
 * than the stored one is refused. The check and the write are one
 * compare-and-set (`setData` with the version read), so two writers can
 * never both pass the check against the same stored token.
 *
 * A lock alone cannot stop a holder that lost its lock without noticing (a
 * long GC pause, a partition, an expired session) from writing late: only the
 * storage can, by remembering the highest token it has seen.
 */
export class FencedStore {
  constructor(
    private readonly client: ZabClient,
    readonly dir: string,
  ) {}

  async write(key: string, token: bigint, value: unknown): Promise<void> {
    const path = `${this.dir}/${key}`;
    const data = JSON.stringify({ key, token: hex(token), value } satisfies StoredRecord);
    for (let attempt = 0; attempt < 20; attempt++) {
      let current: { record: StoredRecord; version: number } | null = null;
      try {
        const { data: raw, stat } = await this.client.getString(path);
        current = { record: JSON.parse(raw ?? '{}') as StoredRecord, version: stat.version };
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
      try {
        if (current === null) {
          await mkdirp(this.client, this.dir);
          await this.client.create(path, data);
          return;
        }
        const highest = BigInt(current.record.token);
        if (token < highest) throw new StaleTokenError(key, token, highest);
        await this.client.setData(path, data, { version: current.version });
        return;
      } catch (err) {
        // someone wrote in between: read again and re-check the token
        if (err instanceof BadVersionError || err instanceof NodeExistsError || err instanceof NoNodeError) continue;
        throw err;
      }
    }
    throw new Error(`fenced write of ${key}: too much contention`);
  }

  async read(key: string): Promise<StoredRecord | undefined> {
    try {
      const { data } = await this.client.getString(`${this.dir}/${key}`);
      return JSON.parse(data ?? '{}') as StoredRecord;
    } catch (err) {
      if (err instanceof NoNodeError) return undefined;
      throw err;
    }
  }
}
