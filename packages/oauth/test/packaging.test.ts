// Packaging of the built package: require and import give the same exports, publint passes, nothing from node: is imported.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');

// Node's own resolution of the package name (a package may refer to itself through its exports), not vitest's alias.
function load(how: 'require' | 'import'): string[] {
  const script =
    how === 'require'
      ? "console.log(JSON.stringify(Object.keys(require('@finora-auth/oauth'))))"
      : "import('@finora-auth/oauth').then((m) => console.log(JSON.stringify(Object.keys(m))))";
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: pkg, encoding: 'utf8' })) as string[];
}

describe('@finora-auth/oauth (built)', () => {
  it('loads with require and with import, with the same exports', () => {
    const required = load('require');
    expect(required.sort()).toEqual(load('import').filter((key) => key !== 'default').sort());
    for (const symbol of ['createTokenIssuer', 'createTokenVerifier', 'SigningKeyError']) expect(required).toContain(symbol);
  });

  it('ships declarations for both module systems, passes publint and imports nothing from node:', async () => {
    const dist = readdirSync(join(pkg, 'dist'));
    expect(dist).toEqual(expect.arrayContaining(['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']));
    const { publint } = await import('publint');
    const { messages } = await publint({ pkgDir: pkg, level: 'warning', pack: 'npm' });
    expect(messages).toEqual([]);
    for (const file of dist.filter((name) => /\.c?js$/.test(name))) {
      expect(readFileSync(join(pkg, 'dist', file), 'utf8'), file).not.toMatch(/(from\s*|require\(\s*|import\(\s*)["']node:/);
    }
  });
});
