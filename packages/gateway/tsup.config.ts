// Builds the library (ESM + CommonJS + types) and the `finora-auth` executable (src/cli.ts keeps its shebang).

import { chmod } from 'node:fs/promises';
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  target: 'es2022',
  platform: 'node',
  async onSuccess() {
    await chmod('dist/cli.js', 0o755);
  },
});
