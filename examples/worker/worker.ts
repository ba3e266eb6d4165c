// A Cloudflare Worker (Hono 4) guarded by finoraAuth, asking the gateway for keys through HttpKeyStore over fetch.

import { Hono, type MiddlewareHandler } from 'hono';
import { createAuthenticator } from '@finora-auth/core';
import { finoraAuth, type FinoraAuthEnv } from '@finora-auth/hono';
import { HttpKeyStore } from '@finora-auth/http';

interface Bindings {
  /** The gateway running `finora-auth serve --internal-token-file PATH`. */
  FINORA_GATEWAY_URL: string;
  /** The contents of that file. */
  FINORA_INTERNAL_TOKEN: string;
}

/**
 * A Worker hears no revocation stream, so an answer is trusted for the cache TTL at most: a revoked key is refused
 * within REVOCATION_BOUND_MS. A shorter TTL means more lookups at the gateway.
 */
const REVOCATION_BOUND_MS = 2_000;

// Built on the first request: bindings arrive with it, and an isolate keeps the cache between requests.
// On Workers finoraAuth hands authenticator.flush() to c.executionCtx.waitUntil after each allowed request: usage
// and rate-limit counts reach the gateway after the response (no timer outlives a request here).
let guard: MiddlewareHandler<FinoraAuthEnv> | undefined;

const app = new Hono<FinoraAuthEnv & { Bindings: Bindings }>();
app.get('/healthz', (c) => c.text('ok'));
app.use('/v1/*', (c, next) => {
  guard ??= finoraAuth({
    authenticator: createAuthenticator({
      store: new HttpKeyStore({ url: c.env.FINORA_GATEWAY_URL, token: c.env.FINORA_INTERNAL_TOKEN }),
      cache: { ttlMs: REVOCATION_BOUND_MS, negativeTtlMs: REVOCATION_BOUND_MS },
    }),
  });
  return guard(c, next);
});
app.get('/v1/:module', (c) => c.json({ module: c.get('auth').module, account: c.get('auth').accountId }));

export default app;
