import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bundleMatches, loadServerCommand } from '../../packages/cli/src/bundled-server.js';

/**
 * The CLI runs `zabkit server` from dist/server.bundle.mjs only while the bundle's manifest matches
 * every file it was built from; otherwise from the modules. A fake bundle makes the choice visible:
 * its command returns 42, the real one returns 2 for missing --config.
 */
describe('zabkit server: the bundle is used only while it matches what it was built from', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zabkit-bundle-'));
    await writeFile(join(dir, 'server.bundle.mjs'), 'export async function runServerCommand() { return 42; }\n');
    await writeFile(join(dir, 'input.js'), 'export const a = 1;\n');
    const st = await stat(join(dir, 'input.js'));
    await writeFile(join(dir, 'server.bundle.json'), JSON.stringify({ inputs: { 'input.js': [st.mtimeMs, st.size] } }));
    vi.spyOn(console, 'error').mockImplementation(() => {});
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('a matching bundle runs', async () => {
    expect(bundleMatches(dir)).toBe(true);
    expect(await (await loadServerCommand(dir)).runServerCommand([])).toBe(42);
  });

  it('an input rebuilt since the bundle (new size) means the modules run', async () => {
    await writeFile(join(dir, 'input.js'), 'export const a = 12345;\n');
    expect(bundleMatches(dir)).toBe(false);
    expect(await (await loadServerCommand(dir)).runServerCommand([])).toBe(2);
  });

  it('a missing input or manifest means the modules run', async () => {
    await rm(join(dir, 'input.js'));
    expect(bundleMatches(dir)).toBe(false);
    await rm(join(dir, 'server.bundle.json'));
    expect(bundleMatches(dir)).toBe(false);
    expect(await (await loadServerCommand(dir)).runServerCommand([])).toBe(2);
  });
});
