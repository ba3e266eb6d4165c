// Packaging: every built package loads through CommonJS require and ESM import, passes publint, and the
// runtime-free packages import nothing from node:.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

const packages: Record<string, string[]> = {
  core: ['createAuthenticator', 'createKeyManager', 'MemoryKeyStore', 'moduleFromPath', 'parseAuthorization'],
  express: ['finoraAuth'],
  koa: ['finoraAuth'],
  hono: ['finoraAuth'],
  fastify: ['finoraAuth'],
  sqlite: ['SqliteKeyStore'],
  redis: ['RedisKeyStore'],
  postgres: ['PostgresKeyStore'],
  http: ['HttpKeyStore', 'HttpKeyStoreError'],
  gateway: [],
};

// Run in a child process so Node's own resolution (package.json exports) is what is tested, not vitest's aliases.
function load(name: string, how: 'require' | 'import'): string[] {
  const script =
    how === 'require'
      ? `console.log(JSON.stringify(Object.keys(require('@finora-auth/${name}'))))`
      : `import('@finora-auth/${name}').then((m) => console.log(JSON.stringify(Object.keys(m))))`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }));
}

describe.each(Object.entries(packages))('@finora-auth/%s', (name, exports) => {
  it('loads with require and with import, with the same exports', () => {
    const required = load(name, 'require');
    const imported = load(name, 'import').filter((key) => key !== 'default');
    expect(required.sort()).toEqual(imported.sort());
    for (const symbol of exports) expect(required).toContain(symbol);
  });

  it('ships type declarations for both module systems and passes publint', async () => {
    const dist = readdirSync(join(root, 'packages', name, 'dist'));
    expect(dist).toEqual(expect.arrayContaining(['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']));
    const { publint } = await import('publint');
    const { messages } = await publint({ pkgDir: join(root, 'packages', name), level: 'warning', pack: 'npm' });
    expect(messages).toEqual([]);
  });
});

describe.each(['core', 'hono', 'http'])('@finora-auth/%s is runtime-free', (name) => {
  it('has no node: import in its built output', () => {
    const dir = join(root, 'packages', name, 'dist');
    for (const file of readdirSync(dir).filter((f) => /\.(c?js)$/.test(f))) {
      const text = readFileSync(join(dir, file), 'utf8');
      expect(text, file).not.toMatch(/(from\s*|require\(\s*|import\(\s*)["']node:/);
    }
  });
});

it('exports the store conformance kit as ESM, for the vitest suites of third-party stores', () => {
  // vitest refuses to be loaded outside a test run, so only resolution is checked here; every store suite runs the kit.
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('@finora-auth/core/testing'))"], {
    cwd: root,
    encoding: 'utf8',
  });
  expect(out.trim()).toMatch(/packages\/core\/dist\/testing\.js$/);
});
