// The built @finora-auth/hono on every runtime it promises: Node, Cloudflare's workerd, Bun and Deno, over real HTTP.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeKeys } from './support/adapters-runtime-app';
import { send, type Reply } from './support/adapters';
import { launch, platformBinary, startBundle, startWorkerd, stopBundle, type BundleRuntime, type RunningBundle } from './support/runtime-launch';

const root = join(import.meta.dirname, '..');
const appSource = join(import.meta.dirname, 'support', 'adapters-runtime-app.ts');

interface Runtime extends BundleRuntime {
  name: string;
  /** The entry that serves `app`, printing `{"port":N}` once listening, where the runtime chooses the port. */
  entry: string;
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
    start: startWorkerd,
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
  let running: RunningBundle | undefined;
  let origin: string;
  let keys: RuntimeKeys;

  beforeAll(async () => {
    const dist = join(root, 'packages', 'hono', 'dist', 'index.js');
    if (!existsSync(dist) || statSync(dist).mtimeMs < statSync(join(root, 'packages', 'hono', 'src', 'index.ts')).mtimeMs) {
      throw new Error('packages/hono/dist is missing or older than its source: run `pnpm run build` first (pnpm test does)');
    }
    running = await startBundle(runtime, runtime.entry, { loader: 'ts' });
    origin = running.origins[0]!;
    const reply = await send(origin, '/__keys', {}, 'POST');
    expect(reply.status, reply.text).toBe(200);
    keys = JSON.parse(reply.text) as RuntimeKeys;
  }, 60_000);

  afterAll(() => stopBundle(running));

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
