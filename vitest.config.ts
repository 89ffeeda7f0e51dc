import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Tests import workspace packages from source; spawned server processes run the built dist.
export default defineConfig({
  resolve: {
    alias: {
      '@zabkit/protocol': src('protocol'),
      '@zabkit/server': src('server'),
      '@zabkit/client': src('client'),
      zabkit: src('cli'),
      '@zabkit/lock': src('lock'),
      '@zabkit/leader': src('leader'),
      '@zabkit/queue': src('queue'),
      '@zabkit/barrier': src('barrier'),
      '@zabkit/config': src('config'),
      '@zabkit/registry': src('registry'),
      '@zabkit/testing': src('testing'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
