// A Hono app that accepts service-account tokens (built @finora-auth/hono, core and oauth), bundled by test/oauth-runtimes.test.ts for Node, workerd, Bun and Deno.

import { createAuthenticator, createKeyManager, MemoryKeyStore } from '@finora-auth/core';
import { finoraAuth, type FinoraAuthEnv } from '@finora-auth/hono';
// By path: the root workspace does not depend on @finora-auth/oauth by name (its dist is what the runtimes run).
import { createTokenIssuer, createTokenVerifier, type TokenIssuer } from '../../packages/oauth/dist/index.js';
import { Hono, type MiddlewareHandler } from 'hono';

const ISSUER = 'https://auth.finora.test';
const AUDIENCE = 'https://api.finora.test';

export interface RuntimeTokens {
  /** A full-access service account's token, got by client_secret_basic. */
  full: string;
  fullClientId: string;
  /** A read-only service account's token, got by client_secret_post. */
  reader: string;
  /** A token of a service account revoked after it was issued. */
  revoked: string;
}

interface World {
  guard: MiddlewareHandler<FinoraAuthEnv>;
  tokens: RuntimeTokens;
}

async function tokenFor(issuer: TokenIssuer, clientId: string, clientSecret: string, via: 'basic' | 'post'): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (via === 'basic') {
    headers.Authorization = `Basic ${btoa(`${clientId}:${clientSecret}`)}`;
  } else {
    form.set('client_id', clientId);
    form.set('client_secret', clientSecret);
  }
  const answer = await issuer.handle(new Request(`${ISSUER}/oauth/token`, { method: 'POST', headers, body: form }));
  const body = (await answer!.json()) as { access_token?: string };
  if (typeof body.access_token !== 'string') throw new Error(`token request failed with ${answer!.status}`);
  return body.access_token;
}

async function build(): Promise<World> {
  const store = new MemoryKeyStore();
  const manager = createKeyManager({ store });
  const issuer = createTokenIssuer({ store, issuer: ISSUER, audience: AUDIENCE, secret: crypto.getRandomValues(new Uint8Array(32)) });
  await manager.putAccount({ id: 'bank', tier: 'premium', enterprise: true });
  const full = await manager.createServiceAccount({ accountId: 'bank', environment: 'live', name: 'treasury sync' });
  const reader = await manager.createServiceAccount({ accountId: 'bank', environment: 'test', scopes: ['read'] });
  const gone = await manager.createServiceAccount({ accountId: 'bank', environment: 'live' });
  const tokens: RuntimeTokens = {
    full: await tokenFor(issuer, full.clientId, full.clientSecret, 'basic'),
    fullClientId: full.clientId,
    reader: await tokenFor(issuer, reader.clientId, reader.clientSecret, 'post'),
    revoked: await tokenFor(issuer, gone.clientId, gone.clientSecret, 'basic'),
  };
  await manager.revokeServiceAccount(gone.clientId);
  // The verifier a Worker would configure: the issuer's published key set, verified here with no store of keys.
  const jwks = await (await issuer.handle(new Request(`${ISSUER}/.well-known/jwks.json`)))!.json();
  const verifier = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks });
  return { guard: finoraAuth({ authenticator: createAuthenticator({ store, tokens: verifier }) }), tokens };
}

let world: Promise<World> | undefined;
// Built on the first request: workerd allows no random values or timers at module scope.
const getWorld = () => (world ??= build());

export const app = new Hono<FinoraAuthEnv>();

// Test-only: hands the suite the tokens this process issued (they exist nowhere else).
app.post('/__tokens', async (c) => c.json((await getWorld()).tokens));
app.use(async (c, next) => (await getWorld()).guard(c, next));
for (const route of ['/health', '/invoices', '/invoices/:id', '/payments', '/payments/:id']) {
  app.on(['GET', 'POST'], route, (c) => c.json({ route, auth: c.get('auth') }));
}
