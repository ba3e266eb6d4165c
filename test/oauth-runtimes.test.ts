// The built @finora-auth/oauth verifier on every runtime it promises (Node, workerd, Bun, Deno): a token issued here verifies there;
// and the built Hono adapter over createAuthenticator({ tokens }) judging service-account tokens there, over real HTTP.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryKeyStore, createKeyManager } from '@finora-auth/core';
import { createTokenIssuer } from '@finora-auth/oauth';
import { send } from './support/adapters';
import type { RuntimeTokens } from './support/oauth-runtime-app';
import { launch, platformBinary, startBundle, startWorkerd, stopBundle, type BundleRuntime, type RunningBundle } from './support/runtime-launch';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'packages', 'oauth', 'dist', 'index.js');
const tokenApp = join(import.meta.dirname, 'support', 'oauth-runtime-app.ts');
const ISSUER = 'https://auth.finora.test';
const AUDIENCE = 'https://api.finora.test';

interface Runtime extends BundleRuntime {
  name: string;
  /** Serves `handler` (defined before this text in the bundle), printing `{"port":N}` where the runtime picks the port. */
  serve: string;
}

const RUNTIMES: Runtime[] = [
  {
    name: 'node',
    serve: `import { serve } from '@hono/node-server';
      serve({ fetch: handler, port: 0, hostname: '127.0.0.1' }, (info) => console.log(JSON.stringify({ port: info.port })));`,
    platform: 'node',
    conditions: [],
    start: (bundle, dir) => launch(process.execPath, [bundle], dir),
  },
  {
    name: 'workerd',
    serve: 'export default { fetch: handler };',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    start: startWorkerd,
  },
  {
    name: 'bun',
    serve: `const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: handler });
      console.log(JSON.stringify({ port: server.port }));`,
    platform: 'neutral',
    conditions: ['bun'],
    start: (bundle, dir) => launch(platformBinary('bun', '@oven/bun-linux-x64', 'bin/bun'), [bundle], dir),
  },
  {
    name: 'deno',
    serve: `Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => console.log(JSON.stringify({ port })) }, handler);`,
    platform: 'neutral',
    conditions: ['deno'],
    start: (bundle, dir) =>
      launch(platformBinary('deno', '@deno/linux-x64-glibc', 'deno'), ['run', '--allow-net=127.0.0.1', '--no-prompt', bundle], dir),
  },
];

/** A token and key set from the issuer, made here, baked into the bundle; the runtime only verifies. */
let fixture: { token: string; forged: string; jwks: unknown; clientId: string };

beforeAll(async () => {
  if (!existsSync(dist) || statSync(dist).mtimeMs < statSync(join(root, 'packages', 'oauth', 'src', 'verifier.ts')).mtimeMs) {
    throw new Error('packages/oauth/dist is missing or older than its source: run `pnpm run build` first (pnpm test does)');
  }
  const store = new MemoryKeyStore();
  const manager = createKeyManager({ store });
  await manager.putAccount({ id: 'bank', tier: 'premium', enterprise: true });
  const { clientId, clientSecret } = await manager.createServiceAccount({ accountId: 'bank', environment: 'live', scopes: ['payments:read'] });
  const issuer = createTokenIssuer({ store, issuer: ISSUER, audience: AUDIENCE, secret: crypto.getRandomValues(new Uint8Array(32)) });
  const reply = (await issuer.handle(
    new Request(`${ISSUER}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    }),
  ))!;
  const token = ((await reply.json()) as { access_token: string }).access_token;
  const jwks = await (await issuer.handle(new Request(`${ISSUER}/.well-known/jwks.json`)))!.json();
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'write' })).toString('base64url');
  fixture = { token, forged: `${header}.${widened}.${signature}`, jwks, clientId };
});

const app = () => `import { createTokenVerifier } from ${JSON.stringify(dist)};
const verifier = createTokenVerifier({ issuer: ${JSON.stringify(ISSUER)}, audience: ${JSON.stringify(AUDIENCE)}, jwks: ${JSON.stringify(fixture.jwks)} });
const TOKENS = { '/verify': ${JSON.stringify(fixture.token)}, '/forged': ${JSON.stringify(fixture.forged)} };
async function handler(request) {
  const { pathname } = new URL(request.url);
  if (pathname === '/health') return new Response('ok');
  try {
    return Response.json({ ok: true, claims: await verifier.verify(TOKENS[pathname]) });
  } catch (error) {
    return Response.json({ ok: false, name: error.name, reason: error.reason });
  }
}
`;

describe.each(RUNTIMES)('$name', (runtime) => {
  let running: RunningBundle | undefined;
  let origin: string;

  beforeAll(async () => {
    running = await startBundle(runtime, `${app()}\n${runtime.serve}`);
    origin = running.origins[0]!;
  }, 60_000);

  afterAll(() => stopBundle(running));

  it('verifies a token the issuer signed', async () => {
    const reply = await send(origin, '/verify');
    expect(reply.status, reply.text).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ ok: true, claims: { clientId: fixture.clientId, scopes: ['payments:read'] } });
  });

  it('refuses the same token with its scope widened (the signature no longer matches)', async () => {
    const reply = await send(origin, '/forged');
    expect(JSON.parse(reply.text)).toEqual({ ok: false, name: 'TokenVerificationError', reason: 'invalid' });
  });
});

describe.each(RUNTIMES)('the Hono adapter judging tokens on $name', (runtime) => {
  let running: RunningBundle | undefined;
  let tokens: RuntimeTokens;
  const get = (path: string, token: string, method = 'GET') => send(running!.origins[0]!, path, { Authorization: `Bearer ${token}` }, method);
  const refusal = (reply: { status: number; text: string; headers: Record<string, string | string[] | undefined> }) => ({
    status: reply.status,
    challenge: reply.headers['www-authenticate'],
    code: (JSON.parse(reply.text) as { error?: { code: string } }).error?.code,
  });

  beforeAll(async () => {
    for (const name of ['hono', 'core']) {
      const built = join(root, 'packages', name, 'dist', 'index.js');
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(root, 'packages', name, 'src', 'index.ts')).mtimeMs) {
        throw new Error(`packages/${name}/dist is missing or older than its source: run \`pnpm run build\` first (pnpm test does)`);
      }
    }
    const contents = `import { app } from ${JSON.stringify(tokenApp)};\nconst handler = app.fetch;\n${runtime.serve}`;
    running = await startBundle(runtime, contents, { loader: 'ts' });
    const reply = await send(running.origins[0]!, '/__tokens', {}, 'POST');
    expect(reply.status, reply.text).toBe(200);
    tokens = JSON.parse(reply.text) as RuntimeTokens;
  }, 60_000);

  afterAll(() => stopBundle(running));

  it('allows a token got by client_secret_basic, as an OAuth credential of its service account', async () => {
    const reply = await get('/payments/7', tokens.full);
    expect(reply.status, reply.text).toBe(200);
    expect((JSON.parse(reply.text) as { auth: Record<string, unknown> }).auth).toMatchObject({
      credential: 'oauth_token',
      keyId: tokens.fullClientId,
      clientId: tokens.fullClientId,
      accountId: 'bank',
      environment: 'live',
      surface: 'enterprise',
      module: 'payments',
      keyName: 'treasury sync',
      scopes: ['write'],
      tokenId: expect.any(String),
    });
  });

  it('allows a read-only token got by client_secret_post to read, and refuses it a write with INSUFFICIENT_SCOPE', async () => {
    expect((await get('/invoices', tokens.reader)).status).toBe(200);
    expect(refusal(await get('/invoices', tokens.reader, 'POST'))).toEqual({
      status: 403,
      challenge: 'Bearer realm="finora", error="insufficient_scope", scope="invoices:write"',
      code: 'INSUFFICIENT_SCOPE',
    });
  });

  it("refuses a revoked service account's token, and a read-only token widened to write, with INVALID_TOKEN", async () => {
    const [header, payload, signature] = tokens.reader.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const widened = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: 'write' })).toString('base64url')}.${signature}`;
    for (const token of [tokens.revoked, widened]) {
      expect(refusal(await get('/invoices', token, 'POST'))).toEqual({
        status: 401,
        challenge: 'Bearer realm="finora", error="invalid_token"',
        code: 'INVALID_TOKEN',
      });
    }
  });
});
