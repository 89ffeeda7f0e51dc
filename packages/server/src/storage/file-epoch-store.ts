import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
    return Number(t);
  }

  /** Writes are serialised so two updates of one file never share a temp file. */
  private write(name: string, epoch: number): Promise<void> {
    if (!Number.isSafeInteger(epoch) || epoch < 0) return Promise.reject(new RangeError(`invalid epoch ${epoch}`));
    const run = this.chain.then(async () => {
      await ensureDir(this.dir);
      await writeFileDurably(this.dir, join(this.dir, name), Buffer.from(`${epoch}\n`));
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
