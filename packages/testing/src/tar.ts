/**
 * A minimal ustar writer: enough to hand `docker import` a near-empty root file system
 * (directories, symlinks, small files) without a tar dependency or a `tar` binary.
 */

export type TarEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; content: string | Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;

function header(name: string, opts: { mode: number; size: number; typeflag: string; linkname?: string }): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: path too long: ${name}`);
  const h = Buffer.alloc(BLOCK, 0);
  const put = (value: string, offset: number, length: number) => h.write(value, offset, length, 'utf8');
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0') + '\0';
  put(name, 0, 100);
  put(octal(opts.mode, 8), 100, 8);
  put(octal(0, 8), 108, 8); // uid
  put(octal(0, 8), 116, 8); // gid
  put(octal(opts.size, 12), 124, 12);
  put(octal(0, 12), 136, 12); // mtime: fixed, so the same layout gives the same layer
  put('        ', 148, 8); // checksum placeholder: spaces while summing
  put(opts.typeflag, 156, 1);
  if (opts.linkname !== undefined) put(opts.linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put('root', 265, 32);
  put('root', 297, 32);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

/** The whole archive in memory (the entries are tiny). */
export function tarball(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') {
      parts.push(header(path.endsWith('/') ? path : `${path}/`, { mode: e.mode ?? 0o755, size: 0, typeflag: '5' }));
    } else if (e.type === 'symlink') {
      parts.push(header(path, { mode: 0o777, size: 0, typeflag: '2', linkname: e.target }));
    } else {
      const body = typeof e.content === 'string' ? Buffer.from(e.content, 'utf8') : Buffer.from(e.content);
      parts.push(header(path, { mode: e.mode ?? 0o644, size: body.length, typeflag: '0' }));
      parts.push(body);
      const pad = (BLOCK - (body.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad, 0));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}
