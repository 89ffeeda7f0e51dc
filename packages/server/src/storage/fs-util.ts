import { writeSync } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory so that creates, deletes and renames inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes all of `buf` at `position` (normally one write syscall). */
export async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    done += bytesWritten;
  }
}

/** Writes `bufs` back to back at `position` with one writev (no concatenated copy), finishing a short write. */
export async function writevAll(fh: FileHandle, bufs: readonly Uint8Array[], position: number): Promise<void> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  const { bytesWritten } = await fh.writev(bufs as Uint8Array[], position);
  if (bytesWritten < total) await writeAll(fh, Buffer.concat(bufs).subarray(bytesWritten), position + bytesWritten);
}

/**
 * writeAll on the event loop thread: a write into the page cache takes microseconds, less than
 * the thread-pool round trip the async call costs (the fsync that follows stays async).
 */
export function writeAllSync(fh: FileHandle, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = writeSync(fh.fd, buf, done, buf.length - done, position + done);
    if (n <= 0) throw new Error('write made no progress');
    done += n;
  }
}

/** The first `size` bytes of a file (fewer if it is shorter), e.g. a log segment without its zero fill. */
export async function readPrefix(path: string, size: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await fh.read(buf, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } finally {
    await fh.close();
  }
}

/** Replaces `path` atomically: write a temp file, fsync it, rename over, fsync the directory. */
export async function writeFileDurably(dir: string, path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await writeAll(fh, data, 0);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dir);
}

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** mkdir -p that also fsyncs the parent of every directory it created. */
export async function ensureDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await fsyncDir(dirname(d));
    if (d === first || dirname(d) === d) break;
  }
}
