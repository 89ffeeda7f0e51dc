import { describe, expect, it } from 'vitest';
import {
  MAX_PATH_LENGTH,
  assertValidPath,
  basename,
  isValidPath,
  joinPath,
  parentOf,
  pathProblem,
  sequenceSuffix,
  withChroot,
  withoutChroot,
} from '../src/index.js';

describe('path rules', () => {
  it('accepts ordinary absolute paths and the root', () => {
    for (const p of ['/', '/a', '/a/b/c', '/zabkit', '/with space', '/dots.in.name', '/...', '/a/.b', '/ünï/çødé', '/a-b_c:d@e']) {
      expect(pathProblem(p), p).toBeNull();
      expect(isValidPath(p)).toBe(true);
    }
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['empty component', '/a//b', /empty component/],
    ['trailing slash', '/a/', /must not end with '\/'/],
    ['relative path', 'a', /must start with '\/'/],
    ['relative path with slash', 'a/b', /must start with '\/'/],
    ['empty string', '', /must not be empty/],
    ['dot component', '/a/.', /relative component '\.'/],
    ['dot-dot component', '/a/..', /relative component '\.\.'/],
    ['dot in the middle', '/a/./b', /relative component '\.'/],
    ['NUL', '/a\u0000b', /NUL/],
    ['control char \\n', '/a\nb', /control character/],
    ['control char \\x1f', '/a\u001fb', /control character/],
    ['DEL', '/a\u007fb', /control character/],
    ['C1 control', '/a\u0085b', /control character/],
    ['surrogate / private use', '/a\ud800b', /invalid character/],
    ['specials block', '/a\ufffeb', /invalid character/],
    ['over-long', '/' + 'x'.repeat(MAX_PATH_LENGTH), new RegExp(`longer than ${MAX_PATH_LENGTH}`)],
    ['not a string', 42, /must be a string/],
    ['null', null, /must be a string/],
  ];
  it.each(bad)('rejects %s and names the problem', (_name, path, message) => {
    const problem = pathProblem(path);
    expect(problem).not.toBeNull();
    expect(problem).toMatch(message);
    expect(isValidPath(path)).toBe(false);
  });

  it('a path of exactly the maximum length is fine', () => {
    const p = '/' + 'x'.repeat(MAX_PATH_LENGTH - 1);
    expect(p.length).toBe(MAX_PATH_LENGTH);
    expect(pathProblem(p)).toBeNull();
  });

  it('the message quotes the offending path', () => {
    expect(pathProblem('/a//b')).toContain('"/a//b"');
  });

  it('a trailing slash is allowed only for sequential creates', () => {
    expect(pathProblem('/queue/')).toMatch(/must not end with/);
    expect(pathProblem('/queue/', { sequential: true })).toBeNull();
    expect(pathProblem('/queue/item-', { sequential: true })).toBeNull();
    // Only one trailing slash is forgiven, and the rest of the rules still apply.
    expect(pathProblem('/queue//', { sequential: true })).not.toBeNull();
    expect(pathProblem('/a//b/', { sequential: true })).toMatch(/empty component/);
    expect(pathProblem('/a/../', { sequential: true })).toMatch(/relative component/);
  });

  it('assertValidPath throws a TypeError naming the problem', () => {
    expect(() => assertValidPath('/a/')).toThrow(TypeError);
    expect(() => assertValidPath('/a/')).toThrow(/invalid path: path must not end with '\/'/);
    expect(() => assertValidPath('/a')).not.toThrow();
    expect(() => assertValidPath('/q/', { sequential: true })).not.toThrow();
  });
});

describe('path helpers', () => {
  it('parentOf / basename / joinPath', () => {
    expect(parentOf('/a/b/c')).toBe('/a/b');
    expect(parentOf('/a')).toBe('/');
    expect(parentOf('/')).toBe('');
    expect(basename('/a/b/c')).toBe('c');
    expect(basename('/a')).toBe('a');
    expect(joinPath('/', 'a')).toBe('/a');
    expect(joinPath('/a', 'b')).toBe('/a/b');
  });

  it('chroot mapping goes both ways', () => {
    expect(withChroot('/app', '/x')).toBe('/app/x');
    expect(withChroot('/app', '/')).toBe('/app');
    expect(withChroot('/', '/x')).toBe('/x');
    expect(withChroot('', '/x')).toBe('/x');
    expect(withoutChroot('/app', '/app/x')).toBe('/x');
    expect(withoutChroot('/app', '/app')).toBe('/');
    expect(withoutChroot('/app', '/apple/x')).toBe('/apple/x');
    expect(withoutChroot('/', '/x')).toBe('/x');
  });

  it('sequenceSuffix is 10-digit zero padded, like ZooKeeper %010d', () => {
    expect(sequenceSuffix(0)).toBe('0000000000');
    expect(sequenceSuffix(42)).toBe('0000000042');
    expect(sequenceSuffix(2_147_483_647)).toBe('2147483647');
    // Past 2^31-1 the signed counter wraps negative; Java's %010d counts the sign in the width.
    expect(sequenceSuffix(2_147_483_648)).toBe('-2147483648');
    expect(sequenceSuffix(-1)).toBe('-000000001');
    expect(sequenceSuffix(-1).length).toBe(10);
  });
});
