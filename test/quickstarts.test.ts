// The README's quick starts work for an npm user: the packages are packed (`pnpm pack`), installed with npm into a
// scratch project outside the workspace (the frameworks from the npm registry; better-sqlite3 is the workspace's
// own built copy of the same version, linked in: it has no prebuilt binary reachable here, so from npm it compiles
// from source for minutes, and that compile is not what this file tests), and the Express,
// Koa and Hono programs are taken from the README, compiled with tsc --strict against the installed types and run;
// the first key comes from the installed `finora-auth` command, which then runs the gateway quick start.
//
// The only change made to a pasted program is its port (3000 → a free one), so parallel runs cannot collide.
// Slow (the install takes minutes on a cold npm cache): one file, generous timeouts. Stale packages are rebuilt
// first, and packed under the gateway tests' build lock.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, underBuildLock } from './support/build-lock';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
/** What the quick starts and the command need; fastify, redis and postgres have suites of their own. */
const OURS = ['core', 'express', 'koa', 'hono', 'sqlite', 'oauth', 'gateway'];
const builtSqlite = dirname(realpathSync(createRequire(join(root, 'packages', 'sqlite', 'package.json')).resolve('better-sqlite3/package.json')));
const FROM_NPM = ['express', 'koa', 'hono', '@hono/node-server', 'typescript@~5.9', '@types/node@20', '@types/express', '@types/koa'];

const scratch = mkdtempSync(join(tmpdir(), 'finora-quickstarts-'));
const app = join(scratch, 'app');
const children: ChildProcess[] = [];
let key = '';
let keyId = '';

/** The ts block under a README heading that starts with `heading`. */
function quickStart(heading: string): string {
  const section = readme.split(/^### /m).find((part) => part.startsWith(heading));
  const code = /^```ts\n([\s\S]*?)^```$/m.exec(section ?? '')?.[1];
  if (!code) throw new Error(`README has no ts block under "### ${heading}"`);
  return code;
}

/** The sh block of the README's quick start that issues the first key. */
function firstKeyBlock(): string {
  const section = readme.split(/^## /m).find((part) => part.startsWith('Quick start')) ?? '';
  const block = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '').find((code) => code.includes('keys create'));
  if (!block) throw new Error('README quick start has no runnable sh block that issues a key');
  return block;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const env = () => ({ ...process.env, PATH: `${join(app, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`, FINORA_AUTH_STORE: '' });

/** `npx finora-auth …` in the scratch project, as an npm user runs it. */
async function cli(...args: string[]): Promise<string> {
  const { stdout } = await run('npx', ['--no-install', 'finora-auth', ...args], { cwd: app, env: env(), encoding: 'utf8', timeout: 30_000 });
  return stdout;
}

/** Starts a process in the scratch project and waits for `ready` in its output (stdout or stderr). */
async function start(command: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(command, args, { cwd: app, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} ${args.join(' ')} not ready within 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  const tarballs = join(scratch, 'tgz');
  mkdirSync(tarballs, { recursive: true });
  mkdirSync(app, { recursive: true });
  await ensureBuilt(OURS);
  for (const name of OURS) {
    await underBuildLock('npx', ['-y', 'pnpm@10.34.9', 'pack', '--pack-destination', tarballs], { cwd: join(root, 'packages', name) });
  }
  const files = readdirSync(tarballs);
  // `overrides` too: a dependency of one tarball on another (gateway → core) must get the tarball, never the registry.
  const ours: Record<string, string> = Object.fromEntries(
    OURS.map((name) => [`@finora-auth/${name}`, `file:../tgz/${files.find((file) => file.startsWith(`finora-auth-${name}-`))}`]),
  );
  ours['better-sqlite3'] = `file:${builtSqlite}`; // in dependencies and overrides alike, as npm requires
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module', dependencies: ours, overrides: ours }));
  // No install scripts: none of these needs one, and the linked better-sqlite3 is built already.
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', ...FROM_NPM], { cwd: app, encoding: 'utf8', timeout: 540_000 });
}, 600_000);

afterAll(async () => {
  await Promise.all(children.map(stop));
  rmSync(scratch, { recursive: true, force: true });
}, 30_000);

describe('from packed tarballs, installed with npm outside the workspace', () => {
  it('the README issues the first key with the installed command (npx finora-auth)', async () => {
    const block = firstKeyBlock().replace(/^finora-auth /gm, 'npx --no-install finora-auth ');
    await run('bash', ['-euo', 'pipefail', '-c', block], { cwd: app, env: env(), encoding: 'utf8', timeout: 60_000 });
    const created = JSON.parse(await cli('keys', 'create', '--account', 'acme', '--env', 'test', '--json'));
    key = created.apiKey;
    keyId = created.key.id;
    expect(key).toMatch(/^test_sk_[0-9a-f]{48}$/);
    expect(await cli('keys', 'list', '--account', 'acme')).toContain('quickstart');
  }, 90_000);

  it('the command says what to install for a redis:// or postgres:// store, since the default install carries SQLite only', async () => {
    const failure = (await cli('accounts', 'list', '--store', 'redis://127.0.0.1:6379').then(
      () => ({ stderr: '' }),
      (error: { stderr?: string }) => error,
    )) as { stderr?: string };
    expect(failure.stderr).toContain('install @finora-auth/redis ioredis to use redis:// stores');
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('ioredis');
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('pg');
  }, 60_000);

  const apps = [
    { heading: 'Express 4 and 5', file: 'express', allowed: '/v1/invoices' },
    { heading: 'Koa 2 and 3', file: 'koa', allowed: '/v1/invoices' },
    { heading: 'Hono 4', file: 'hono', allowed: '/v1/reports' },
  ];

  it('the Express, Koa and Hono quick starts compile with tsc --strict against the installed packages', async () => {
    for (const { heading, file } of apps) writeFileSync(join(app, `${file}.ts`), quickStart(heading));
    const tsc = join(app, 'node_modules', '.bin', 'tsc');
    const flags = ['--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--outDir', 'build'];
    const result = await run(tsc, [...flags, ...apps.map(({ file }) => `${file}.ts`)], { cwd: app, encoding: 'utf8' }).catch((error: { stdout?: string }) => error);
    expect((result as { stdout?: string }).stdout ?? '').toBe('');
  }, 120_000);

  it.each(apps)('the $heading quick start runs: 200 with the account, 403 for an enterprise module, 401 without a key', async ({ file, allowed }) => {
    const port = await freePort();
    const source = readFileSync(join(app, 'build', `${file}.js`), 'utf8').replace(/\b3000\b/g, String(port));
    writeFileSync(join(app, 'build', `${file}.port.js`), source);
    const child = await start(process.execPath, [join('build', `${file}.port.js`)], /listening on/);
    try {
      const base = `http://127.0.0.1:${port}`;
      const ok = await fetch(`${base}${allowed}`, { headers: { authorization: `Bearer ${key}` } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ account: 'acme' });
      const enterprise = await fetch(`${base}/v1/payments`, { headers: { authorization: `Bearer ${key}` } });
      expect(enterprise.status).toBe(403);
      expect(await enterprise.json()).toMatchObject({ error: { code: 'ENTERPRISE_ONLY' } });
      const missing = await fetch(`${base}${allowed}`);
      expect(missing.status).toBe(401);
      expect(await missing.json()).toMatchObject({ error: { code: 'MISSING_API_KEY' } });
    } finally {
      await stop(child);
    }
  }, 60_000);

  it('the gateway quick start proxies an allowed request with the identity headers, and a revocation reaches it within 1 s', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const upstream = createHttpServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('content-type', 'application/json');
      res.end('{"from":"upstream"}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    const port = await freePort();
    // The bin npx runs, started directly: a signal to npx would not reach the gateway it started.
    const gateway = await start(join(app, 'node_modules', '.bin', 'finora-auth'), ['serve', '--port', String(port), '--upstream', upstreamUrl], /listening on/);
    try {
      const url = `http://127.0.0.1:${port}/v1/invoices`;
      const through = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      expect(through.status).toBe(200);
      expect(await through.json()).toEqual({ from: 'upstream' });
      expect(seen.at(-1)).toMatchObject({ 'finora-account-id': 'acme', 'finora-key-id': keyId, 'finora-module': 'invoices' });
      expect(seen.at(-1)).not.toHaveProperty('authorization');
      const refused = await fetch(`http://127.0.0.1:${port}/v1/payments`, { headers: { authorization: `Bearer ${key}` } });
      expect(refused.status).toBe(403);
      expect(seen).toHaveLength(1);
      await cli('keys', 'revoke', keyId);
      const revokedAt = performance.now();
      // Asked until the gateway refuses (the event, not a guessed delay); the contract's bound is 1 s.
      while ((await fetch(url, { headers: { authorization: `Bearer ${key}` } })).status !== 401) {
        expect(performance.now() - revokedAt).toBeLessThan(1_000);
      }
    } finally {
      await stop(gateway);
      await new Promise((resolve) => upstream.close(resolve));
    }
  }, 60_000);
});
