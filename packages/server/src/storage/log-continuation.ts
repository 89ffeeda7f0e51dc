import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zxid } from '@zabkit/protocol';
import { fsyncDir, isNotFound, writeFileDurably } from './fs-util.js';

/**
 * `log.continues`: the zxid after which the log goes on because the state jumped past the log's end
 * (a SNAP installed at that zxid, or a reload from a snapshot newer than what a TRUNC left).
 *
 * Why a file of its own: the next segment's header records that zxid as its prevZxid, but only once a
 * record after the jump is logged. Until then the old segments alone look like a whole history that
 * ends before the jump, so a server that lost the snapshot it jumped to would start from that older
 * history (with its newer currentEpoch) and could win an election and TRUNC acknowledged writes away
 * (found by the simulator, seed 4721). Written durably at the jump, the marker makes that a gap.
 */
export const CONTINUATION_FILE = 'log.continues';

export async function readContinuation(dir: string): Promise<Zxid | null> {
  const path = join(dir, CONTINUATION_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  const t = text.trim();
  if (!/^0x[0-9a-f]{1,16}$/.test(t)) throw new Error(`${path} is corrupt: ${JSON.stringify(text.slice(0, 40))} (expected a zxid such as 0x300000010)`);
  return BigInt(t);
}

export async function writeContinuation(dir: string, zxid: Zxid): Promise<void> {
  await writeFileDurably(dir, join(dir, CONTINUATION_FILE), Buffer.from(`0x${zxid.toString(16)}\n`));
}

export async function removeContinuation(dir: string): Promise<void> {
  try {
    await unlink(join(dir, CONTINUATION_FILE));
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  await fsyncDir(dir);
}
