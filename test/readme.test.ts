// The README, the guides and the package READMEs work as pasted: every fenced `ts` block type-checks under --strict against the built
// packages, and every fenced `sh` block runs in a temporary directory with `finora-auth` on the PATH.
//
// A block whose info string says `no-run` (```sh no-run, ```ts no-run) is left out: a long-running command
// (`serve`), one that needs a placeholder filled in (`key_…`, a URL of yours), or one that installs from npm.
// Those paths are run end to end from packed tarballs by test/quickstarts.test.ts. Every other block must work.
// The `sh` blocks of one document run in order in one directory, as one shell session (a later block may use the
// files and the variables an earlier one made), under `bash -euo pipefail`, each within a minute. Stale packages are
// rebuilt first; the type-checks run under the gateway tests' build lock, so no parallel test file rebuilds a dist
// halfway through one.

import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, underBuildLock } from './support/build-lock';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const guides = join(root, 'docs', 'guides');
/** The documents a newcomer follows: the README, the guides, the KeyStore page and the packages' own READMEs. */
const documents = [
  'README.md',
  'docs/key-store.md',
  ...['core', 'express', 'koa', 'hono', 'fastify', 'sqlite', 'redis', 'postgres', 'gateway'].map((name) => `packages/${name}/README.md`),
  ...(existsSync(guides) ? readdirSync(guides).filter((f) => f.endsWith('.md')).map((f) => `docs/guides/${f}`) : []),
];

interface Block {
  document: string;
  lang: 'ts' | 'sh';
  line: number;
  code: string;
}

/** Fenced ts/sh blocks of a Markdown file, without the `no-run` ones. */
function blocks(document: string): Block[] {
  const text = readFileSync(join(root, document), 'utf8');
  const out: Block[] = [];
  for (const match of text.matchAll(/^```(ts|sh)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    if (/\bno-run\b/.test(match[2] ?? '')) continue;
    const line = text.slice(0, match.index).split('\n').length;
    out.push({ document, lang: match[1] as 'ts' | 'sh', line, code: match[3] ?? '' });
  }
  return out;
}

const all = documents.flatMap(blocks);
const scratch = mkdtempSync(join(tmpdir(), 'finora-readme-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A folder outside the workspace that resolves the workspace's packages (their built dist) like an app would. */
function project(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

const fileName = (block: Block) => `${block.document.replace(/[/.]/g, '_')}_L${block.line}.ts`;

async function typecheck(dir: string, files: string[]): Promise<string> {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const flags = ['--strict', '--noEmit', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
  try {
    await underBuildLock(tsc, [...flags, ...files], { cwd: dir, timeout: 120_000 });
    return '';
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}

beforeAll(() => ensureBuilt(['core', 'express', 'koa', 'hono', 'fastify', 'sqlite', 'redis', 'postgres', 'oauth', 'gateway']), 300_000);

describe('TypeScript blocks', () => {
  const ts = all.filter((block) => block.lang === 'ts');

  it('there are quick starts to check (Express, Koa, Hono, Fastify, the key manager)', () => {
    expect(ts.filter((block) => block.document === 'README.md').length).toBeGreaterThanOrEqual(5);
  });

  it('every one compiles under --strict against the built packages, as a whole program', async () => {
    const dir = project('typecheck');
    for (const block of ts) writeFileSync(join(dir, fileName(block)), block.code);
    const errors = await typecheck(dir, ts.map(fileName));
    // Each error line starts with the file it is in, which names the document and the line of its block.
    expect(errors).toBe('');
  }, 120_000);

  it('the Koa quick start types ctx.state.auth: a typo in a field does not compile', async () => {
    const koa = ts.find((block) => block.document === 'README.md' && block.code.includes("from '@finora-auth/koa'"));
    expect(koa?.code).toContain('ctx.state.auth.accountId');
    const dir = project('koa-typo');
    writeFileSync(join(dir, 'koa.ts'), (koa as Block).code.replace('ctx.state.auth.accountId', 'ctx.state.auth.acountId'));
    expect(await typecheck(dir, ['koa.ts'])).toMatch(/Property 'acountId' does not exist on type 'AuthContext'/);
  }, 60_000);

  it('the Hono quick start types c.get("auth"): a typo in a field does not compile', async () => {
    const hono = ts.find((block) => block.document === 'README.md' && block.code.includes("from '@finora-auth/hono'"));
    expect(hono?.code).toContain("c.get('auth').accountId");
    const dir = project('hono-typo');
    writeFileSync(join(dir, 'hono.ts'), (hono as Block).code.replace("c.get('auth').accountId", "c.get('auth').acountId"));
    expect(await typecheck(dir, ['hono.ts'])).toMatch(/Property 'acountId' does not exist/);
  }, 60_000);

  it('no quick start fixes one module on a whole app (it would judge /v1/payments as that module)', () => {
    for (const block of ts.filter((b) => b.document === 'README.md')) {
      expect(block.code, `README.md line ${block.line}`).not.toMatch(/finoraAuth\(\{[^}]*module:/);
    }
  });
});

describe.each(documents)('shell blocks of %s', (document) => {
  const sh = all.filter((block) => block.document === document && block.lang === 'sh');
  if (sh.length === 0) {
    it('has none to run', () => expect(sh).toEqual([]));
    return;
  }
  const dir = join(scratch, 'sh', document.replace(/[/.]/g, '_'));
  const bin = join(scratch, 'bin');

  it.each(sh.map((block) => [block.line, block] as const))('the block at line %i runs as pasted', async (_line, block) => {
    mkdirSync(dir, { recursive: true });
    if (!existsSync(join(bin, 'finora-auth'))) {
      mkdirSync(bin, { recursive: true });
      // What `npm i -g @finora-auth/gateway` puts on the PATH: the package's bin, through node.
      writeFileSync(join(bin, 'finora-auth'), `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'packages/gateway/bin/finora-auth.js')}" "$@"\n`);
      chmodSync(join(bin, 'finora-auth'), 0o755);
    }
    const env: Record<string, string | undefined> = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
    delete env.FINORA_AUTH_STORE;
    // One shell session per document, as a reader has: variables a block sets (KEY_ID=…) carry to the next ones.
    writeFileSync(join(dir, '.block.sh'), block.code);
    const script = [
      'if [ -f .session.sh ]; then source .session.sh; fi',
      '__before=$(compgen -v | sort)',
      'source ./.block.sh',
      'comm -13 <(echo "$__before") <(compgen -v | sort) | { grep -Ev "^(_|__.*|BASH.*|PIPESTATUS|COMP.*)$" || true; } | while read -r v; do declare -p "$v"; done >> .session.sh',
    ].join('\n');
    try {
      await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env, timeout: 60_000, encoding: 'utf8' });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`${block.document} line ${block.line} (in ${relative(root, dir) || dir}) failed:\n${stderr ?? ''}\n${stdout ?? ''}`);
    }
  }, 70_000);
});
