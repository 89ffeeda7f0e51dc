import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_EPOCH } from '@zabkit/protocol';
import { ensureDir, isNotFound, writeFileDurably } from './fs-util.js';
import type { EpochStore } from './types.js';

const ACCEPTED = 'acceptedEpoch';
const CURRENT = 'currentEpoch';

/** `acceptedEpoch` / `currentEpoch` files holding a decimal number; a missing file reads as 0. */
export class FileEpochStore implements EpochStore {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string) {}

  async load(): Promise<{ acceptedEpoch: number; currentEpoch: number }> {
    return { acceptedEpoch: await this.read(ACCEPTED), currentEpoch: await this.read(CURRENT) };
  }

  setAcceptedEpoch(epoch: number): Promise<void> {
    return this.write(ACCEPTED, epoch);
  }

  setCurrentEpoch(epoch: number): Promise<void> {
    return this.write(CURRENT, epoch);
  }

  private async read(name: string): Promise<number> {
    const path = join(this.dir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
    const t = text.trim();
    if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) throw new Error(`epoch file ${path} is corrupt: ${JSON.stringify(text)}`);
    const epoch = Number(t);
    if (epoch > MAX_EPOCH) {
      throw new Error(
        `epoch file ${path} holds ${epoch}, above the largest epoch ${MAX_EPOCH} (epochs are the top 32 bits of a zxid); ` +
          'it was written by a faulty or hostile peer: rejoin this server empty (move its data directories away)',
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
