import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const coreDir = fileURLToPath(new URL('../../src/core', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const FORBIDDEN: Array<[string, RegExp]> = [
  ['node: import', /from\s+['"]node:|import\(\s*['"]node:|require\(\s*['"]node:/],
  ['ws import', /from\s+['"]ws['"]|import\(\s*['"]ws['"]/],
  ['Date.now', /Date\.now/],
  ['new Date', /new\s+Date\b/],
  ['Math.random', /Math\.random/],
  ['setTimeout', /setTimeout/],
  ['setInterval', /setInterval/],
  ['setImmediate', /setImmediate/],
  ['performance', /\bperformance\b/],
  ['process', /\bprocess\./],
];

describe('the core is pure', () => {
  const all = files(coreDir);

  it('finds the core sources, the ZAB ones under src/core/zab included', () => {
    expect(all.length).toBeGreaterThan(5);
    const names = all.map((f) => f.slice(coreDir.length + 1).replace(/\\/g, '/'));
    expect(names).toEqual(expect.arrayContaining(['data-tree.ts', 'zab/replica.ts', 'zab/zab-node.ts', 'zab/leader.ts', 'zab/learner.ts', 'zab/proposer.ts', 'zab/election.ts']));
  });

  it.each(all.map((f) => [f.slice(coreDir.length + 1), f]))('%s uses no clock, randomness, timers or I/O', (_name, file) => {
    // Comments may talk about what the code must not do; only code counts.
    const text = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|[^:])\/\/.*$/gm, '$1');
    const hits = FORBIDDEN.filter(([, re]) => re.test(text)).map(([what]) => what);
    expect(hits).toEqual([]);
  });

  it('imports only @zabkit/protocol and relative modules', () => {
    for (const file of all) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
        const spec = m[1] as string;
        expect(spec === '@zabkit/protocol' || spec.startsWith('./') || spec.startsWith('../'), `${file}: ${spec}`).toBe(true);
      }
    }
  });
});
