// Packaging: every built package loads through CommonJS require and ESM import, passes publint, and the
// runtime-free packages import nothing from node:.

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const tarballs = mkdtempSync(join(tmpdir(), 'finora-pack-'));
afterAll(() => rmSync(tarballs, { recursive: true, force: true }));

/** arethetypeswrong on a packed tarball; fails with its own report. `./testing` is ESM only, so core's is checked apart. */
async function attw(tarball: string, args: string[]): Promise<void> {
  const bin = join(root, 'node_modules', '.bin', 'attw');
  try {
    await promisify(execFile)(bin, [tarball, '--format', 'ascii', '--no-color', ...args], { cwd: tarballs, encoding: 'utf8' });
  } catch (error) {
    throw new Error(`attw ${args.join(' ')}:\n${(error as { stdout?: string }).stdout ?? String(error)}`);
  }
}

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
  oauth: ['createTokenIssuer', 'createTokenVerifier'],
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

describe.each(Object.keys(packages))('@finora-auth/%s tarball', (name) => {
  it('carries a README, the LICENSE, repository/homepage/bugs, and passes arethetypeswrong', async () => {
    const dir = join(root, 'packages', name);
    const [packed] = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', tarballs], { cwd: dir, encoding: 'utf8' }),
    ) as { filename: string; files: { path: string }[] }[];
    const files = (packed?.files ?? []).map((file) => file.path);
    expect(files).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({ license: 'MIT', repository: { directory: `packages/${name}` }, homepage: expect.any(String), bugs: { url: expect.any(String) } });
    const tarball = join(tarballs, (packed as { filename: string }).filename);
    if (name === 'core') {
      await attw(tarball, ['--exclude-entrypoints', './testing']);
      await attw(tarball, ['--entrypoints', './testing', '--profile', 'esm-only']);
    } else await attw(tarball, []);
  }, 60_000);
});

describe.each(['core', 'hono', 'http', 'oauth'])('@finora-auth/%s is runtime-free', (name) => {
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
