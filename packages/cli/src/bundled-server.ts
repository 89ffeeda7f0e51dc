import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type ServerCommand = typeof import('./commands/server.js');

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The `server` command, from `dist/server.bundle.mjs` when that bundle matches the built modules, else
 * from the modules themselves. The bundle (scripts/bundle-server.mjs) is only about memory: one file
 * instead of ~100 modules is ~10 MB less RSS per server. It matches while every file it was built from
 * has the mtime and size its manifest recorded; a `tsc -b` since then, a missing input or no bundle at
 * all means the modules are loaded (the same code, as built).
 */
export async function loadServerCommand(dir = here): Promise<ServerCommand> {
  if (bundleMatches(dir)) return (await import(pathToFileURL(resolve(dir, 'server.bundle.mjs')).href)) as ServerCommand;
  return import('./commands/server.js');
}

/** Whether `dir`'s server.bundle.json lists inputs (paths relative to `dir`) that are all unchanged. */
export function bundleMatches(dir: string): boolean {
  try {
    const { inputs } = JSON.parse(readFileSync(resolve(dir, 'server.bundle.json'), 'utf8')) as { inputs: Record<string, [number, number]> };
    for (const [path, [mtimeMs, size]] of Object.entries(inputs)) {
      const st = statSync(resolve(dir, path));
      if (st.mtimeMs !== mtimeMs || st.size !== size) return false;
    }
    return Object.keys(inputs).length > 0;
  } catch {
    return false;
  }
}
