// One vitest run for every package and the cross-adapter/cross-store suites; workspace packages resolve to source.

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@finora-auth\/core\/testing$/, replacement: src('core/src/testing.ts') },
      { find: /^@finora-auth\/(core|express|koa|hono|fastify|sqlite|redis|postgres|gateway|oauth|http)$/, replacement: src('$1/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
