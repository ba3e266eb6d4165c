// What every adapter does beyond the decision table, over real HTTP: Express 5 and 4, Koa 3 and 2, Hono, Fastify 5 and 4.
// The decision table itself (test/support/matrix-scenarios.ts) runs in test/matrix.test.ts, over every entry point and store.

import { createAuthenticator, generateApiKey } from '@finora-auth/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFixture, DAY_MS, expectedContext, T0, type Fixture } from './support/adapters-fixture';
import { HARNESSES, send, type Served } from './support/adapters';
import { bearer, expectRefusal } from './support/matrix-scenarios';

describe.each(HARNESSES)('$name', (harness) => {
  let fx: Fixture;
  let app: Served;

  beforeAll(async () => {
    fx = await createFixture();
    app = await harness.serve({ auth: { authenticator: fx.authenticator } });
  });
  afterAll(async () => {
    await app.close();
    await fx.close();
  });
  afterEach(() => {
    fx.clock.now = T0;
    fx.store.failing = false;
  });

  describe('changes after a key was cached', () => {
    it('rotation: the old and the new key both work until the old one is revoked', async () => {
      const old = await fx.issue({ name: 'cron' });
      expect((await send(app.origin, '/invoices', { Authorization: bearer(old.apiKey) })).status).toBe(200);
      const fresh = await fx.manager.rotate(old.key.id);
      expect(fresh.apiKey).not.toBe(old.apiKey);
      const both = await Promise.all([old, fresh].map((k) => send(app.origin, '/invoices', { Authorization: bearer(k.apiKey) })));
      expect(both.map((r) => r.status)).toEqual([200, 200]);
      expect(JSON.parse(both[1]!.text).auth).toEqual(expectedContext(fresh.key, 'premium', 'invoices'));
      await fx.manager.revoke(old.key.id);
      const after = await Promise.all([old, fresh].map((k) => send(app.origin, '/invoices', { Authorization: bearer(k.apiKey) })));
      expect(after.map((r) => r.status)).toEqual([401, 200]);
      expectRefusal(after[0]!, 'INVALID_API_KEY');
    });

    it('revocation is honoured at once, even for a key answered from the cache a moment before', async () => {
      const { apiKey, key } = await fx.issue();
      for (let i = 0; i < 3; i++) expect((await send(app.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
      const hits = app.hits.length;
      await fx.manager.revoke(key.id);
      const reply = await send(app.origin, '/invoices', { Authorization: bearer(apiKey) });
      expectRefusal(reply, 'INVALID_API_KEY');
      expect(JSON.parse(reply.text).error.message).toContain('revoked');
      expect(app.hits.length).toBe(hits);
    });

    it('a downgrade to free is honoured at once, even for a cached key', async () => {
      const { apiKey, key } = await fx.issue();
      expect((await send(app.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
      await fx.manager.putAccount({ id: key.accountId, tier: 'free' });
      expectRefusal(await send(app.origin, '/invoices', { Authorization: bearer(apiKey) }), 'PREMIUM_REQUIRED');
      await fx.manager.putAccount({ id: key.accountId, tier: 'premium' });
      expect((await send(app.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
    });

    it('withdrawn enterprise provisioning is honoured at once, even for a cached key', async () => {
      const { apiKey, key } = await fx.issue({ enterprise: true, surface: 'enterprise' });
      expect((await send(app.origin, '/payments', { Authorization: bearer(apiKey) })).status).toBe(200);
      await fx.manager.putAccount({ id: key.accountId, tier: 'premium', enterprise: false });
      expectRefusal(await send(app.origin, '/payments', { Authorization: bearer(apiKey) }), 'ENTERPRISE_ONLY');
      expect((await send(app.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
    });

    it('a store that fails after a key was cached is not asked again while the cached answer is fresh', async () => {
      const { apiKey } = await fx.issue();
      expect((await send(app.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
      fx.store.failing = true;
      expect((await send(app.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
      const unknown = await send(app.origin, '/invoices', { Authorization: bearer(generateApiKey('test')) });
      expectRefusal(unknown, 'AUTH_UNAVAILABLE');
    });
  });

  describe('an oversized Authorization header (64 KiB)', () => {
    const huge = `Bearer ${'a'.repeat(64 * 1024)}`;

    it("with Node's default 16 KiB head limit: 431 from Node, the handler is not run, the server keeps serving", async () => {
      const hits = app.hits.length;
      const reply = await send(app.origin, '/invoices', { Authorization: huge }).catch((error: NodeJS.ErrnoException) => error);
      // Node answers 431 and closes; the client may see the close first while it is still writing.
      if (reply instanceof Error) expect(reply.code).toMatch(/^(ECONNRESET|EPIPE)$/);
      else expect(reply.status).toBe(431);
      expect(app.hits.length).toBe(hits);
      const { apiKey } = await fx.issue();
      expect((await send(app.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
    });

    it('with a head limit that lets it through: 401 INVALID_API_KEY from the adapter', async () => {
      const big = await harness.serve({ auth: { authenticator: fx.authenticator }, maxHeaderSize: 128 * 1024 });
      try {
        const reply = await send(big.origin, '/invoices', { Authorization: huge });
        expectRefusal(reply, 'INVALID_API_KEY');
        expect(big.hits).toEqual([]);
      } finally {
        await big.close();
      }
    });
  });

  describe('(v2) OAuth tokens at the adapter', () => {
    it('a JWT sent to an authenticator with no token verifier is INVALID_API_KEY (row 2), never a lookup or a pass', async () => {
      const keysOnly = createAuthenticator({ store: fx.store, now: () => fx.clock.now });
      const served = await harness.serve({ auth: { authenticator: keysOnly } });
      try {
        const { accessToken } = await fx.token();
        const lookups = fx.store.lookups;
        expectRefusal(await send(served.origin, '/invoices', { Authorization: `Bearer ${accessToken}` }), 'INVALID_API_KEY');
        expect(fx.store.lookups).toBe(lookups);
        expect(served.hits).toEqual([]);
      } finally {
        await served.close();
        await keysOnly.close();
      }
    });

    it('a revoked service account is refused at once, even when its token was allowed (and cached) a moment before', async () => {
      const { accessToken, clientId } = await fx.token();
      expect((await send(app.origin, '/payments', { Authorization: `Bearer ${accessToken}` })).status).toBe(200);
      expect((await send(app.origin, '/payments', { Authorization: `Bearer ${accessToken}` })).status).toBe(200);
      const hits = app.hits.length;
      await fx.manager.revokeServiceAccount(clientId);
      expectRefusal(await send(app.origin, '/payments', { Authorization: `Bearer ${accessToken}` }), 'INVALID_TOKEN');
      expect(app.hits.length).toBe(hits);
    });

    it('a rotated secret ends the tokens got with the old one at once, even a cached one', async () => {
      const first = await fx.token();
      expect((await send(app.origin, '/invoices', { Authorization: `Bearer ${first.accessToken}` })).status).toBe(200);
      fx.clock.now += 1_000;
      await fx.manager.rotateServiceAccountSecret(first.clientId);
      expectRefusal(await send(app.origin, '/invoices', { Authorization: `Bearer ${first.accessToken}` }), 'INVALID_TOKEN');
    });

    it('a 64 KiB JWT-looking header let through by the server is 401 INVALID_API_KEY (over 8 KB is no token: row 2), never a 5xx', async () => {
      const big = await harness.serve({ auth: { authenticator: fx.authenticator }, maxHeaderSize: 128 * 1024 });
      try {
        const { accessToken } = await fx.token();
        const [header, payload, signature] = accessToken.split('.') as [string, string, string];
        const padded = `${header}.${payload}${'A'.repeat(64 * 1024)}.${signature}`;
        const reply = await send(big.origin, '/invoices', { Authorization: `Bearer ${padded}` });
        expectRefusal(reply, 'INVALID_API_KEY');
        expect(big.hits).toEqual([]);
      } finally {
        await big.close();
      }
    });
  });

  describe('the module option', () => {
    it('a fixed module applies to every path', async () => {
      const served = await harness.serve({ auth: { authenticator: fx.authenticator, module: 'payments' } });
      try {
        const retail = await fx.issue({ enterprise: true });
        expectRefusal(await send(served.origin, '/invoices', { Authorization: bearer(retail.apiKey) }), 'ENTERPRISE_ONLY');
        const enterprise = await fx.issue({ enterprise: true, surface: 'enterprise' });
        const reply = await send(served.origin, '/health', { Authorization: bearer(enterprise.apiKey) });
        expect(JSON.parse(reply.text).auth).toEqual(expectedContext(enterprise.key, 'premium', 'payments'));
      } finally {
        await served.close();
      }
    });

    it('a function of the request decides per request; undefined means no module', async () => {
      const served = await harness.serve({
        auth: {
          authenticator: fx.authenticator,
          module: (input: unknown) => (requestPath(input).startsWith('/health') ? undefined : 'ai'),
        },
      });
      try {
        const { apiKey, key } = await fx.issue();
        expectRefusal(await send(served.origin, '/invoices', { Authorization: bearer(apiKey) }), 'ENTERPRISE_ONLY');
        const reply = await send(served.origin, '/health', { Authorization: bearer(apiKey) });
        expect(JSON.parse(reply.text).auth).toEqual(expectedContext(key, 'premium'));
      } finally {
        await served.close();
      }
    });

    it('a function returning a name outside the catalog is an error, never a pass', async () => {
      const served = await harness.serve({ auth: { authenticator: fx.authenticator, module: () => 'paymnets' } });
      try {
        const { apiKey } = await fx.issue();
        const reply = await send(served.origin, '/payments', { Authorization: bearer(apiKey) });
        expect(reply.status).toBe(500);
        expect(JSON.parse(reply.text)).toMatchObject({ handlerError: 'TypeError' });
        expect(JSON.parse(reply.text).message).toContain('"paymnets"');
        expect(served.hits).toEqual([]);
      } finally {
        await served.close();
      }
    });

    it('{ store, ...options } builds the authenticator once, with those options', async () => {
      const served = await harness.serve({ auth: { store: fx.store, now: () => fx.clock.now, cache: false } });
      try {
        const { apiKey } = await fx.issue();
        expect((await send(served.origin, '/invoices', { Authorization: bearer(apiKey) })).status).toBe(200);
        fx.clock.now = T0 + 90 * DAY_MS;
        expectRefusal(await send(served.origin, '/invoices', { Authorization: bearer(apiKey) }), 'INVALID_API_KEY');
      } finally {
        await served.close();
      }
    });
  });
});

/** The request path, from an Express request, a Koa context or a Hono context. */
function requestPath(input: unknown): string {
  const value = input as { path?: unknown; url?: unknown; req?: { path?: unknown } };
  // Express req.path, Koa ctx.path, Hono c.req.path; a Fastify request has only url.
  const path = typeof value.path === 'string' ? value.path : (value.req?.path ?? value.url);
  return typeof path === 'string' ? path : '';
}
