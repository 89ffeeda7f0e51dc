import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_EPOCH } from '@zabkit/protocol';
import { ensureDir, isNotFound, writeFileDurably } from './fs-util.js';
import type { EpochStore } from './types.js';

const ACCEPTED = 'acceptedEpoch';
const CURRENT = 'currentEpoch';

/** The epoch files as found: null where a file is missing. */
export interface EpochFiles {
  acceptedEpoch: number | null;
  currentEpoch: number | null;
}

/**
 * `acceptedEpoch` / `currentEpoch` files holding a decimal number. A missing file is never read as
 * 0: a new data dir gets both written as 0 first (`initialize`), so later a missing one means damage.
 */
export class FileEpochStore implements EpochStore {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string) {}

  /** Both epochs; throws when a file is missing or unreadable (naming it). */
  async load(): Promise<{ acceptedEpoch: number; currentEpoch: number }> {
    const { acceptedEpoch, currentEpoch } = await this.readFiles();
    if (acceptedEpoch === null) throw new Error(`epoch file ${join(this.dir, ACCEPTED)} is missing`);
    if (currentEpoch === null) throw new Error(`epoch file ${join(this.dir, CURRENT)} is missing`);
    return { acceptedEpoch, currentEpoch };
  }

  /** The files as they are (null: missing); throws when one is unreadable or corrupt, naming it. */
  async readFiles(): Promise<EpochFiles> {
    return { acceptedEpoch: await this.read(ACCEPTED), currentEpoch: await this.read(CURRENT) };
  }

  /** Writes each missing epoch file as 0, durably (a brand-new data dir). */
  async initialize(): Promise<void> {
    const found = await this.readFiles();
    if (found.acceptedEpoch === null) await this.setAcceptedEpoch(0);
    if (found.currentEpoch === null) await this.setCurrentEpoch(0);
  }

  /** Paths of the two files, for messages. */
  paths(): { acceptedEpoch: string; currentEpoch: string } {
    return { acceptedEpoch: join(this.dir, ACCEPTED), currentEpoch: join(this.dir, CURRENT) };
  }

  setAcceptedEpoch(epoch: number): Promise<void> {
    return this.write(ACCEPTED, epoch);
  }

  setCurrentEpoch(epoch: number): Promise<void> {
    return this.write(CURRENT, epoch);
  }

  private async read(name: string): Promise<number | null> {
    const path = join(this.dir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new Error(`epoch file ${path} is unreadable: ${(err as Error).message}`, { cause: err });
    }
    const t = text.trim();
    if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) throw new Error(`epoch file ${path} is corrupt: ${JSON.stringify(text)}`);
    const epoch = Number(t);
    if (epoch > MAX_EPOCH) {
      throw new Error(
        `epoch file ${path} holds ${epoch}, above the largest epoch ${MAX_EPOCH} (epochs are the top 32 bits of a zxid); ` +
          'it was written by a faulty or hostile peer: rejoin this server empty (zabkit server --rejoin-empty)',
      );
    }
    return epoch;
  }

  /** Writes are serialised so two updates of one file never share a temp file. */
  private write(name: string, epoch: number): Promise<void> {
    if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
      return Promise.reject(new RangeError(`invalid epoch ${epoch}: epochs are integers in [0, ${MAX_EPOCH}]`));
    }
    const run = this.chain.then(async () => {
      await ensureDir(this.dir);
      await writeFileDurably(this.dir, join(this.dir, name), Buffer.from(`${epoch}\n`));
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
