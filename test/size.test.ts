// scripts/size.mjs, the Worker bundle check: it measures the built packages, refuses Node imports, and names an overrun.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUNDLES, measure, measureBundle } from '../scripts/size.mjs';

const root = join(import.meta.dirname, '..');

// It measures dist, so dist must be current (built under the gateway tests' lock, never twice at once).
beforeAll(() => {
  execFileSync(
    'flock',
    [join(tmpdir(), 'finora-auth-gateway-build.lock'), process.execPath, join(root, 'packages', 'gateway', 'test', 'build-stale.mjs'), 'core', 'hono', 'oauth', 'http'],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 240_000 },
  );
}, 300_000);

describe('scripts/size.mjs', () => {
  it('bundles core + Hono (and the verifier, the HTTP store, a whole Worker) with no Node polyfill', async () => {
    const { rows } = await measure();
    expect(rows.map((row: { id: string }) => row.id)).toEqual(['core+hono', 'core+hono+lru-cache', 'core+hono+verifier', 'core+hono+http', 'worker']);
    for (const row of rows) {
      expect(row.nodePolyfills, row.id).toEqual([]);
      expect(row.gzipBytes, row.id).toBeGreaterThan(1_000);
      expect(row.gzipBytes, row.id).toBeLessThan(row.minifiedBytes);
    }
    expect(rows[0].largestInputs.map((input: { input: string }) => input.input)).toContain('packages/core/dist/index.js');
  });

  it('fails on a node: import instead of counting it, saying why', async () => {
    await expect(measureBundle({ id: 'probe', source: "export { createHash } from 'node:crypto';", external: [] })).rejects.toThrow(
      /probe: a Node import in a Worker bundle.*\n.*node:crypto/,
    );
  });

  it('runs in the root build, so a build past a budget fails', () => {
    const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(scripts.build).toMatch(/&& node scripts\/size\.mjs$/);
    expect(scripts.test).toMatch(/^pnpm run build && /);
  });

  it('reports a bundle over its budget with its size and the budget', async () => {
    const [coreHono] = BUNDLES;
    const { failures } = await measure([{ ...coreHono, budget: 1_024 }]);
    expect(failures).toEqual([expect.stringMatching(/^core\+hono: \d+\.\d\d KB gzipped, over its budget of 1\.00 KB/)]);
  });
});
