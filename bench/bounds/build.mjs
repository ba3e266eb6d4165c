// Builds the upper-bound servers in bench/bounds/ from the shipped sources, with esbuild, into
// packages/gateway/node_modules/.cache/finora-bench-bounds/<name>/index.js: there, `@finora-auth/core` and
// `undici` resolve to the gateway's own dependencies (the same modules its dist uses), and git ignores it.

import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outRoot = join(here, '..', '..', 'packages', 'gateway', 'node_modules', '.cache', 'finora-bench-bounds');

/** Builds bench/bounds/<name>.ts; returns the directory holding its index.js. */
export async function buildBound(name) {
  const outdir = join(outRoot, name);
  await build({
    entryPoints: [join(here, `${name}.ts`)],
    outfile: join(outdir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['@finora-auth/core', 'undici'],
    logLevel: 'warning',
  });
  return outdir;
}
