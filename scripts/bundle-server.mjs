#!/usr/bin/env node
// Bundles the `zabkit server` command (our packages and ws; msgpackr stays a package, for its native
// string extractor) into packages/cli/dist/server.bundle.mjs, after `tsc -b`. Why: a server process
// that loads one file instead of ~100 modules takes ~10 MB less RSS. The manifest beside it records
// every input's mtime and size, so that the CLI uses the bundle only while it matches the built
// modules (packages/cli/src/bundled-server.ts) and otherwise loads the modules themselves.
import { build } from 'esbuild';
import { statSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(root, 'packages/cli/dist');
const entry = resolve(dist, 'commands/server.js');
const outfile = resolve(dist, 'server.bundle.mjs');

const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  metafile: true,
  logLevel: 'warning',
  // ws and msgpackr look for these optional native helpers at run time; they stay out of the bundle
  external: ['msgpackr', 'msgpackr-extract', 'bufferutil', 'utf-8-validate'],
  // ws is CommonJS: its require() of node builtins needs a real require in an ES module
  banner: { js: "import { createRequire as __zabkitCreateRequire } from 'node:module'; const require = __zabkitCreateRequire(import.meta.url);" },
});

const inputs = {};
for (const path of Object.keys(result.metafile.inputs)) {
  const abs = resolve(root, path);
  const st = statSync(abs);
  inputs[relative(dist, abs)] = [st.mtimeMs, st.size];
}
writeFileSync(resolve(dist, 'server.bundle.json'), JSON.stringify({ inputs }));
console.log(`bundled the server command: ${relative(root, outfile)} (${Object.keys(inputs).length} modules)`);
