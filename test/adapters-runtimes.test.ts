// The built @finora-auth/hono on every runtime it promises: Node, Cloudflare's workerd, Bun and Deno, over real HTTP.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeKeys } from './support/adapters-runtime-app';
import { send, type Reply } from './support/adapters';

const root = join(import.meta.dirname, '..');
const require = createRequire(join(root, 'package.json'));
const appSource = join(import.meta.dirname, 'support', 'adapters-runtime-app.ts');

/**
 * The runtime's own binary, from the platform package its npm package depends on. The npm packages' `bin`
 * entries are Node scripts that spawn it as a grandchild (which a kill would orphan), and Bun's needs a
 * postinstall that pnpm does not run.
 */
function platformBinary(npmPackage: string, platformPackage: string, file: string): string {
  const packageRequire = createRequire(require.resolve(`${npmPackage}/package.json`));
  return join(dirname(packageRequire.resolve(`${platformPackage}/package.json`)), file);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Runtime {
  name: string;
  /** The entry that serves `app`, printing `{"port":N}` once listening, where the runtime chooses the port. */
  entry: string;
  platform: 'node' | 'neutral';
  conditions: string[];
  start(bundle: string, dir: string): Promise<{ child: ChildProcess; port: number }>;
}

/** Starts `command`, waits for the `{"port":N}` line it prints (or for `port` to accept connections). */
function launch(command: string, args: string[], cwd: string, port?: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  let settled = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start in 20 s:\n${output}`)), 20_000);
    const done = (value: number) => {
      settled = true;
      clearTimeout(timer);
      resolve({ child, port: value });
    };
    child.on('exit', (code) => {
      settled = true;
      reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
      const match = /\{"port":(\d+)\}/.exec(output);
      if (match) done(Number(match[1]));
    });
    if (port !== undefined) {
      const poll = async () => {
        try {
          await send(`http://127.0.0.1:${port}`, '/health');
          done(port);
        } catch {
          if (!settled) setTimeout(poll, 100);
        }
      };
      setTimeout(poll, 200);
    }
  });
}

const RUNTIMES: Runtime[] = [
  {
    name: 'node (@hono/node-server)',
    entry: `import { serve } from '@hono/node-server'; import { app } from ${JSON.stringify(appSource)};
      serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => console.log(JSON.stringify({ port: info.port })));`,
    platform: 'node',
    conditions: [],
    start: (bundle, dir) => launch(process.execPath, [bundle], dir),
  },
  {
    name: 'workerd',
    entry: `import { app } from ${JSON.stringify(appSource)}; export default { fetch: app.fetch };`,
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    async start(bundle, dir) {
      const port = await freePort();
      const config = join(dir, 'config.capnp');
      writeFileSync(
        config,
        `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "${basename(bundle)}")],
  compatibilityDate = "2025-09-01",
);
`,
      );
      return launch(platformBinary('workerd', '@cloudflare/workerd-linux-64', 'bin/workerd'), ['serve', config], dir, port);
    },
  },
  {
    name: 'bun',
    entry: `import { app } from ${JSON.stringify(appSource)};
      const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: app.fetch });
      console.log(JSON.stringify({ port: server.port }));`,
    platform: 'neutral',
    conditions: ['bun'],
    start: (bundle, dir) => launch(platformBinary('bun', '@oven/bun-linux-x64', 'bin/bun'), [bundle], dir),
  },
  {
    name: 'deno',
    entry: `import { app } from ${JSON.stringify(appSource)};
      Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => console.log(JSON.stringify({ port })) }, app.fetch);`,
    platform: 'neutral',
    conditions: ['deno'],
    start: (bundle, dir) =>
      launch(platformBinary('deno', '@deno/linux-x64-glibc', 'deno'), ['run', '--allow-net=127.0.0.1', '--no-prompt', bundle], dir),
  },
];

type KeyName = 'none' | 'malformed' | 'retail' | 'enterprise' | 'revoked' | 'free';

interface Case {
  name: string;
  path: string;
  key: KeyName;
  expect: { status: 401 | 403; code: string; challenge: string } | { status: 200; module?: string; as: 'retail' | 'enterprise' };
}

const INVALID = 'Bearer realm="finora", error="invalid_token"';
const SCOPE = 'Bearer realm="finora", error="insufficient_scope"';

const CASES: Case[] = [
  { name: 'no key', path: '/invoices', key: 'none', expect: { status: 401, code: 'MISSING_API_KEY', challenge: 'Bearer realm="finora"' } },
  { name: 'a malformed header', path: '/invoices', key: 'malformed', expect: { status: 401, code: 'INVALID_API_KEY', challenge: INVALID } },
  { name: 'a revoked key', path: '/invoices', key: 'revoked', expect: { status: 401, code: 'INVALID_API_KEY', challenge: INVALID } },
  { name: 'a free account', path: '/health', key: 'free', expect: { status: 403, code: 'PREMIUM_REQUIRED', challenge: SCOPE } },
  { name: 'a retail key on a retail module', path: '/invoices/7', key: 'retail', expect: { status: 200, module: 'invoices', as: 'retail' } },
  { name: 'a retail key, no module', path: '/health', key: 'retail', expect: { status: 200, as: 'retail' } },
  { name: 'a retail key on payments', path: '/payments', key: 'retail', expect: { status: 403, code: 'ENTERPRISE_ONLY', challenge: SCOPE } },
  { name: 'a retail key on /%70ayments', path: '/%70ayments', key: 'retail', expect: { status: 403, code: 'ENTERPRISE_ONLY', challenge: SCOPE } },
  { name: 'a retail key on /x/../payments', path: '/x/../payments', key: 'retail', expect: { status: 403, code: 'ENTERPRISE_ONLY', challenge: SCOPE } },
  {
    name: 'a retail key on /payments/..%2finvoices',
    path: '/payments/..%2finvoices',
    key: 'retail',
    expect: { status: 403, code: 'ENTERPRISE_ONLY', challenge: SCOPE },
  },
  { name: 'an enterprise key on payments', path: '/payments/1', key: 'enterprise', expect: { status: 200, module: 'payments', as: 'enterprise' } },
];

describe.each(RUNTIMES)('$name', (runtime) => {
  let dir: string;
  let child: ChildProcess | undefined;
  let origin: string;
  let keys: RuntimeKeys;

  beforeAll(async () => {
    const dist = join(root, 'packages', 'hono', 'dist', 'index.js');
    if (!existsSync(dist) || statSync(dist).mtimeMs < statSync(join(root, 'packages', 'hono', 'src', 'index.ts')).mtimeMs) {
      throw new Error('packages/hono/dist is missing or older than its source: run `pnpm run build` first (pnpm test does)');
    }
    dir = mkdtempSync(join(tmpdir(), 'finora-runtime-'));
    const bundle = join(dir, 'server.mjs');
    await build({
      stdin: { contents: runtime.entry, resolveDir: root, loader: 'ts' },
      bundle: true,
      format: 'esm',
      platform: runtime.platform,
      mainFields: ['module', 'main'],
      conditions: runtime.conditions,
      target: 'es2022',
      outfile: bundle,
      logLevel: 'silent',
    });
    const started = await runtime.start(bundle, dir);
    child = started.child;
    origin = `http://127.0.0.1:${started.port}`;
    const reply = await send(origin, '/__keys', {}, 'POST');
    expect(reply.status, reply.text).toBe(200);
    keys = JSON.parse(reply.text) as RuntimeKeys;
  }, 60_000);

  afterAll(() => {
    child?.removeAllListeners('exit');
    child?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(CASES)('$name', async (testCase) => {
    const header = (name: KeyName): Record<string, string> => {
      if (name === 'none') return {};
      if (name === 'malformed') return { Authorization: `Token ${keys.retail}` };
      return { Authorization: `Bearer ${keys[name]}` };
    };
    const reply: Reply = await send(origin, testCase.path, header(testCase.key));
    const { expect: expected } = testCase;
    expect(reply.status, reply.text).toBe(expected.status);
    if (expected.status !== 200) {
      expect(reply.headers['content-type']).toBe('application/json');
      expect(reply.headers['cache-control']).toBe('no-store');
      expect(reply.headers['www-authenticate']).toBe(expected.challenge);
      expect(JSON.parse(reply.text)).toEqual({ error: { code: expected.code, message: expect.any(String) } });
      return;
    }
    const key = expected.as === 'retail' ? keys.retailKey : keys.enterpriseKey;
    const auth = (JSON.parse(reply.text) as { auth: Record<string, unknown> }).auth;
    const context: Record<string, unknown> = {
      keyId: key.id,
      accountId: 'bank',
      environment: key.environment,
      billable: key.environment === 'live',
      tier: 'premium',
      surface: key.surface,
      expiresAt: key.expiresAt,
      credential: 'api_key',
      scopes: ['write'],
    };
    if (expected.module) context.module = expected.module;
    if (key.name) context.keyName = key.name;
    expect(auth).toEqual(context);
  });
});
