// The build every library package shares: ESM + CommonJS + type declarations from src/index.ts.

import { defineConfig, type Options } from 'tsup';

/** `neutral` for the runtime-free packages (core's main entry, hono), `node` for the rest. */
export function packageBuild(platform: 'node' | 'neutral', overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    target: 'es2022',
    platform,
    ...overrides,
  });
}
