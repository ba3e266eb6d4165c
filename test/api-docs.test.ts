// The API reference builds from the TSDoc comments (scripts/api-docs.mjs, TypeDoc, which itself fails on a broken
// {@link}), covers every package's public exports, and no page links to a page or anchor that is not there.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'finora-api-docs-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function htmlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? htmlFiles(path) : name.endsWith('.html') ? [path] : [];
  });
}

const ids = new Map<string, Set<string>>();
function anchors(file: string): Set<string> {
  let found = ids.get(file);
  if (!found) {
    found = new Set([...readFileSync(file, 'utf8').matchAll(/\s(?:id|name)="([^"]+)"/g)].map((m) => m[1] as string));
    ids.set(file, found);
  }
  return found;
}

describe('API reference', () => {
  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [join(root, 'scripts', 'api-docs.mjs'), '--out', out], { cwd: root, encoding: 'utf8' });
  }, 240_000);

  it('has a page for every package, named by its import specifier, with its main exports', () => {
    const modules = readFileSync(join(out, 'modules.html'), 'utf8');
    for (const name of ['core', 'core/testing', 'express', 'koa', 'hono', 'fastify', 'sqlite', 'redis', 'postgres', 'http', 'oauth', 'gateway']) {
      expect(modules).toContain(`@finora-auth/${name}`);
    }
    const pages = htmlFiles(out).map((file) => relative(out, file));
    for (const page of ['functions/_finora-auth_core.createAuthenticator.html', 'functions/_finora-auth_core.createKeyManager.html', 'interfaces/_finora-auth_core.KeyStore.html', 'classes/_finora-auth_sqlite.SqliteKeyStore.html']) {
      expect(pages).toContain(page);
    }
  });

  it('links only to pages and anchors that exist', () => {
    const broken: string[] = [];
    for (const file of htmlFiles(out)) {
      for (const [, href] of readFileSync(file, 'utf8').matchAll(/\shref="([^"]+)"/g)) {
        if (!href || /^(?:[a-z]+:|\/\/|mailto:)/i.test(href)) continue; // external: not this reference's to keep
        const [path, anchor] = href.split('#') as [string, string | undefined];
        const target = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
        if (!existsSync(target)) broken.push(`${relative(out, file)} → ${href}`);
        else if (anchor && target.endsWith('.html') && !anchors(target).has(decodeURIComponent(anchor))) {
          broken.push(`${relative(out, file)} → ${href} (no such anchor)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
