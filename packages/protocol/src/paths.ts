/** Path rules ZooKeeper users know: absolute, no empty / `.` / `..` components, no trailing slash. */

export const MAX_PATH_LENGTH = 4096;
/** Reserved system root; it and its children cannot be deleted or written by clients. */
export const SYSTEM_ROOT = '/zabkit';

const SLASH = 0x2f;
const DOT = 0x2e;

/** Returns a human readable reason the path is invalid, or null when it is valid. */
export function pathProblem(path: unknown, opts: { sequential?: boolean } = {}): string | null {
  if (typeof path !== 'string') return 'path must be a string';
  if (path.length === 0) return 'path must not be empty';
  if (path[0] !== '/') return `path must start with '/': ${JSON.stringify(path)}`;
  if (path.length > MAX_PATH_LENGTH) return `path longer than ${MAX_PATH_LENGTH} characters`;
  if (path === '/') return null;
  // A sequential create may end in '/' (the server appends the counter): "/queue/".
  const end = opts.sequential && path.charCodeAt(path.length - 1) === SLASH ? path.length - 1 : path.length;
  if (path.charCodeAt(end - 1) === SLASH) return `path must not end with '/': ${JSON.stringify(path)}`;
  // One pass, no split: every request's path goes through here, on the client and the server.
  let start = 1; // first character of the current component
  for (let i = 1; i <= end; i++) {
    const c = i < end ? path.charCodeAt(i) : SLASH;
    if (c === SLASH) {
      const len = i - start;
      if (len === 0) return `path has an empty component: ${JSON.stringify(path)}`;
      if (path.charCodeAt(start) === DOT && (len === 1 || (len === 2 && path.charCodeAt(start + 1) === DOT))) {
        return `relative component '${path.slice(start, i)}' in path: ${JSON.stringify(path)}`;
      }
      start = i + 1;
    } else if (c === 0) return `path contains a NUL character: ${JSON.stringify(path)}`;
    else if ((c > 0x00 && c < 0x20) || (c >= 0x7f && c <= 0x9f)) return `path contains a control character: ${JSON.stringify(path)}`;
    else if ((c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)) return `path contains an invalid character: ${JSON.stringify(path)}`;
  }
  return null;
}

export function isValidPath(path: unknown, opts: { sequential?: boolean } = {}): path is string {
  return pathProblem(path, opts) === null;
}

/** Throws a BadArguments-style Error when the path is invalid. */
export function assertValidPath(path: unknown, opts: { sequential?: boolean } = {}): asserts path is string {
  const problem = pathProblem(path, opts);
  if (problem !== null) throw new TypeError(`invalid path: ${problem}`);
}

export function parentOf(path: string): string {
  if (path === '/') return '';
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** Applies a chroot prefix (`/app`) to a client path. */
export function withChroot(chroot: string, path: string): string {
  if (!chroot || chroot === '/') return path;
  return path === '/' ? chroot : chroot + path;
}

/** Strips a chroot prefix from a server path; returns the path unchanged if outside the chroot. */
export function withoutChroot(chroot: string, path: string): string {
  if (!chroot || chroot === '/') return path;
  if (path === chroot) return '/';
  return path.startsWith(chroot + '/') ? path.slice(chroot.length) : path;
}

/** Formats the 10-digit zero-padded sequence suffix. */
export function sequenceSuffix(n: number): string {
  // ZooKeeper formats a signed 32-bit counter with %010d; past 2^31-1 it wraps negative,
  // and Java counts the '-' in the width of 10 ("-000000001").
  const v = n | 0;
  return v < 0 ? `-${String(-v).padStart(9, '0')}` : String(v).padStart(10, '0');
}
