import { open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Zxid } from '@zabkit/protocol';
import {
  FILE_HEADER_BYTES,
  SNAP_MAGIC,
  decodeSnapshot,
  encodeChunkHeader,
  fileHeader,
  parseSnapshotName,
  snapshotName,
  snapshotTrailer,
} from './format.js';
import { ensureDir, fsyncDir, isNotFound, writevAll } from './fs-util.js';
import type { LoadedSnapshot, SnapshotStore, SnapshotWriter } from './types.js';

export interface FileSnapshotStoreOptions {
  /** Directory of the `snapshot.<zxid>` files (created if missing). */
  dir: string;
  /** Chunks are buffered and written once this many bytes are waiting. Default 128 KiB. */
  writeBufferBytes?: number;
}

const TMP_SUFFIX = '.tmp';

/** Snapshots as `snapshot.<zxid hex>` files, published by rename once complete. See SnapshotStore. */
export class FileSnapshotStore implements SnapshotStore {
  private readonly dir: string;
  private readonly bufferBytes: number;
  private readonly active = new Set<string>();
  /**
   * Snapshots this process wrote, or read whole and found valid, with their size and mtime then:
   * purge reads one again only if those changed (it used to read every retained snapshot on every
   * purge — tens of MB read and thrown away each time, a visible RSS peak under load).
   */
  private readonly verified = new Map<string, string>();
  private seq = 0;

  constructor(options: FileSnapshotStoreOptions | string) {
    const o = typeof options === 'string' ? { dir: options } : options;
    this.dir = o.dir;
    this.bufferBytes = o.writeBufferBytes ?? 128 * 1024;
  }

  async begin(zxid: Zxid): Promise<SnapshotWriter> {
    await ensureDir(this.dir);
    const final = join(this.dir, snapshotName(zxid));
    const tmp = `${final}.${process.pid}.${++this.seq}${TMP_SUFFIX}`;
    const fh = await open(tmp, 'wx');
    this.active.add(tmp);
    return new FileSnapshotWriter(fh, tmp, final, this.dir, zxid, this.bufferBytes, async (published) => {
      this.active.delete(tmp);
      if (published) await this.markVerified(final);
    });
  }

  async loadLatest(): Promise<{ snapshot: LoadedSnapshot | null; warnings: string[] }> {
    const warnings: string[] = [];
    for (const zxid of await this.list()) {
      const path = join(this.dir, snapshotName(zxid));
      const chunks = await this.validate(path, zxid, true);
      if (typeof chunks !== 'string') {
        await this.markVerified(path);
        return { snapshot: { zxid, chunks }, warnings };
      }
      warnings.push(`snapshot ${path} is invalid (${chunks}); skipped`);
    }
    return { snapshot: null, warnings };
  }

  async list(): Promise<Zxid[]> {
    const out: Zxid[] = [];
    for (const name of await this.names()) {
      const z = parseSnapshotName(name);
      if (z !== null) out.push(z);
    }
    return out.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  }

  /**
   * Keeps the newest `retain` snapshots that validate and deletes every snapshot older
   * than the oldest of them (plus abandoned temp files). Invalid files newer than that
   * are left for an operator to inspect. Nothing is deleted if no snapshot validates.
   */
  async purge(retain: number): Promise<Zxid | null> {
    if (!Number.isInteger(retain) || retain < 1) throw new RangeError(`snapshot purge: retain must be >= 1, got ${retain}`);
    const zxids = await this.list();
    let kept = 0;
    let oldest: Zxid | null = null;
    let i = 0;
    for (; i < zxids.length && kept < retain; i++) {
      const zxid = zxids[i]!;
      const path = join(this.dir, snapshotName(zxid));
      const trusted = await this.stillVerified(path);
      if (trusted || typeof (await this.validate(path, zxid, false)) !== 'string') {
        if (!trusted) await this.markVerified(path);
        kept++;
        oldest = zxid;
      }
    }
    let changed = false;
    if (oldest !== null) {
      for (const zxid of zxids.slice(i)) {
        await this.remove(zxid);
        changed = true;
      }
    }
    for (const name of await this.names()) {
      const path = join(this.dir, name);
      if (name.startsWith('snapshot.') && name.endsWith(TMP_SUFFIX) && !this.active.has(path)) {
        await unlink(path).catch(() => {});
        changed = true;
      }
    }
    if (changed) await fsyncDir(this.dir);
    return oldest;
  }

  async removeNewerThan(zxid: Zxid): Promise<number> {
    let removed = 0;
    for (const z of await this.list()) {
      if (z <= zxid) continue;
      await this.remove(z);
      removed++;
    }
    if (removed > 0) await fsyncDir(this.dir);
    return removed;
  }

  private async remove(zxid: Zxid): Promise<void> {
    const path = join(this.dir, snapshotName(zxid));
    this.verified.delete(path);
    await unlink(path);
  }

  private async markVerified(path: string): Promise<void> {
    const id = await fileIdentity(path);
    if (id === null) this.verified.delete(path);
    else this.verified.set(path, id);
  }

  private async stillVerified(path: string): Promise<boolean> {
    const known = this.verified.get(path);
    return known !== undefined && known === (await fileIdentity(path));
  }

  private async names(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  private async validate(path: string, zxid: Zxid, keep: boolean): Promise<Uint8Array[] | string> {
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (err) {
      if (isNotFound(err)) return 'file vanished';
      throw err;
    }
    return decodeSnapshot(buf, zxid, keep);
  }
}

class FileSnapshotWriter implements SnapshotWriter {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private position = 0;
  private chunks = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly final: string,
    private readonly dir: string,
    zxid: Zxid,
    private readonly bufferBytes: number,
    /** Called once the writer is finished, with whether the snapshot was published. */
    private readonly done: (published: boolean) => Promise<void>,
  ) {
    this.push(fileHeader(SNAP_MAGIC, zxid));
    this.bufferedBytes = FILE_HEADER_BYTES;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.assertOpen();
    if (chunk.length >= 0xffff_ffff) throw new RangeError('snapshot chunk too large');
    this.push(encodeChunkHeader(chunk));
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.chunks++;
    // A chunk that fills the buffer goes out now, as it is; a smaller one is copied, since the
    // caller may reuse its buffer before the next drain.
    if (this.bufferedBytes + chunk.length >= this.bufferBytes) {
      this.push(view);
      await this.drain();
    } else {
      this.push(Buffer.from(view));
    }
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.state = 'committed';
    let published = false;
    try {
      this.push(snapshotTrailer(this.chunks));
      await this.drain();
      await this.fh.sync();
      await this.fh.close();
      await rename(this.tmp, this.final);
      await fsyncDir(this.dir);
      published = true;
    } catch (err) {
      await this.fh.close().catch(() => {});
      await unlink(this.tmp).catch(() => {});
      throw err;
    } finally {
      await this.done(published);
    }
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.buffered = [];
    try {
      await this.fh.close().catch(() => {});
      await unlink(this.tmp).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    } finally {
      await this.done(false);
    }
  }

  private push(b: Buffer): void {
    this.buffered.push(b);
    this.bufferedBytes += b.length;
  }

  private async drain(): Promise<void> {
    const bufs = this.buffered;
    const length = this.bufferedBytes;
    this.buffered = [];
    this.bufferedBytes = 0;
    await writevAll(this.fh, bufs, this.position);
    this.position += length;
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`snapshot writer already ${this.state}`);
  }
}

/** Size and mtime of a file, or null when it is gone: what must not change for it to stay verified. */
async function fileIdentity(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
