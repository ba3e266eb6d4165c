import { defineConfig } from 'tsup';

const shared = { dts: true, target: 'es2022', platform: 'neutral', external: ['vitest', 'lru-cache'] } as const;

export default defineConfig([
  { ...shared, entry: ['src/index.ts'], format: ['esm', 'cjs'], clean: true },
  // The conformance kit runs under vitest, which cannot be loaded with require(): ESM only.
  { ...shared, entry: ['src/testing.ts'], format: ['esm'] },
]);
