// The token endpoint over real HTTP: both client authentication methods, scopes, every RFC 6749 §5.2 error, the throttle.

import { afterEach, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '@finora-auth/oauth';
import { AUDIENCE, basic, serveIssuer, tokenRequest, world, type Served } from './support';

let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

const CLIENT_CREDENTIALS = { grant_type: 'client_credentials' };

describe('POST /oauth/token', () => {
  it.each(['client_secret_basic', 'client_secret_post'])('issues a verifiable token to a client using %s', async (method) => {
    const w = await world(['invoices:write', 'payments:read']);
    served = await serveIssuer(w.store);
    const reply =
      method === 'client_secret_basic'
        ? await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) })
        : await tokenRequest(served.origin, { ...CLIENT_CREDENTIALS, client_id: w.clientId, client_secret: w.clientSecret });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    expect(reply.headers.get('pragma')).toBe('no-cache');
    expect(reply.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900, scope: 'invoices:write payments:read' });

    const verifier = createTokenVerifier({ issuer: served.origin, audience: AUDIENCE, jwks: `${served.origin}/.well-known/jwks.json` });
    const token = await verifier.verify(reply.body.access_token as string);
    expect(token).toMatchObject({ clientId: w.clientId, scopes: ['invoices:write', 'payments:read'] });
    expect(token.expiresAt - token.issuedAt).toBe(900_000);
    const [info] = await w.manager.listServiceAccounts('bank');
    expect(token.secretCreatedAt).toBe(info!.createdAt.getTime());
  });

  it('narrows scopes on request and refuses to widen them', async () => {
    const w = await world(['invoices:write', 'payments:read']);
    served = await serveIssuer(w.store);
    const auth = { Authorization: basic(w.clientId, w.clientSecret) };
    const narrowed = await tokenRequest(served.origin, { ...CLIENT_CREDENTIALS, scope: 'invoices:read' }, auth);
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.scope).toBe('invoices:read');
    for (const scope of ['payments:write', 'write', 'read', 'ai:read', 'nonsense:read', ' ']) {
      const widened = await tokenRequest(served.origin, { ...CLIENT_CREDENTIALS, scope }, auth);
      expect(widened.status, scope).toBe(400);
      expect(widened.body.error, scope).toBe('invalid_scope');
    }
  });

  it('gives a full-access service account normalised scopes on request', async () => {
    const w = await world();
    served = await serveIssuer(w.store);
    const auth = { Authorization: basic(w.clientId, w.clientSecret) };
    expect((await tokenRequest(served.origin, CLIENT_CREDENTIALS, auth)).body.scope).toBe('write');
    const asked = await tokenRequest(served.origin, { ...CLIENT_CREDENTIALS, scope: 'invoices:read read invoices:read' }, auth);
    expect(asked.body.scope).toBe('read');
  });

  describe('errors (RFC 6749 §5.2)', () => {
    const expectInvalidClient = (reply: { status: number; headers: Headers; body: Record<string, unknown> }) => {
      expect(reply.status).toBe(401);
      expect(reply.body.error).toBe('invalid_client');
      expect(reply.headers.get('www-authenticate')).toBe('Basic realm="finora"');
      expect(reply.headers.get('cache-control')).toBe('no-store');
    };

    it('invalid_request: no grant_type, both auth methods at once, a repeated parameter, not a form', async () => {
      const w = await world();
      served = await serveIssuer(w.store);
      const auth = { Authorization: basic(w.clientId, w.clientSecret) };
      const noGrant = await tokenRequest(served.origin, {}, auth);
      expect([noGrant.status, noGrant.body.error]).toEqual([400, 'invalid_request']);
      const both = await tokenRequest(served.origin, { ...CLIENT_CREDENTIALS, client_id: w.clientId, client_secret: w.clientSecret }, auth);
      expect([both.status, both.body.error]).toEqual([400, 'invalid_request']);
      const repeated = await fetch(`${served.origin}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...auth },
        body: 'grant_type=client_credentials&grant_type=client_credentials',
      });
      expect([repeated.status, ((await repeated.json()) as { error: string }).error]).toEqual([400, 'invalid_request']);
      const asJson = await fetch(`${served.origin}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...auth },
        body: JSON.stringify(CLIENT_CREDENTIALS),
      });
      expect([asJson.status, ((await asJson.json()) as { error: string }).error]).toEqual([415, 'invalid_request']);
      const huge = await fetch(`${served.origin}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...auth },
        body: `grant_type=client_credentials&pad=${'x'.repeat(20_000)}`,
      });
      expect(huge.status).toBe(413);
      const get = await fetch(`${served.origin}/oauth/token`);
      expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    });

    it('unsupported_grant_type for any other grant', async () => {
      const w = await world();
      served = await serveIssuer(w.store);
      for (const grant of ['password', 'authorization_code', 'refresh_token', 'client_credentials ']) {
        const reply = await tokenRequest(served.origin, { grant_type: grant }, { Authorization: basic(w.clientId, w.clientSecret) });
        expect([reply.status, reply.body.error], grant).toEqual([400, 'unsupported_grant_type']);
      }
    });

    it('invalid_client with a Basic challenge: wrong secret, unknown client, no credentials, malformed Basic, revoked, expired', async () => {
      const w = await world();
      served = await serveIssuer(w.store, { now: () => w.clock.now });
      // The last character changed to another one (a secret ending in 0 made "…0" the right secret: a 1-in-16 flake).
      const altered = `${w.clientSecret.slice(0, -1)}${w.clientSecret.endsWith('0') ? '1' : '0'}`;
      const wrong = await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, altered) });
      expectInvalidClient(wrong);
      expectInvalidClient(await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic('sa_000000000000000000000000', w.clientSecret) }));
      expectInvalidClient(await tokenRequest(served.origin, CLIENT_CREDENTIALS));
      expectInvalidClient(await tokenRequest(served.origin, { ...CLIENT_CREDENTIALS, client_id: w.clientId }));
      expectInvalidClient(await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: 'Basic %%%' }));
      expectInvalidClient(await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: `Bearer ${w.clientSecret}` }));
      // Expired: the clock passes the secret's 90 days.
      w.clock.now += 91 * 86_400_000;
      expectInvalidClient(await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) }));
      w.clock.now -= 91 * 86_400_000;
      await w.manager.revokeServiceAccount(w.clientId);
      expectInvalidClient(await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) }));
      for (const reply of [wrong]) expect(JSON.stringify(reply.body)).not.toContain(w.clientSecret.slice(8));
    });

    it('a rotated secret: the old one is invalid_client, the new one works', async () => {
      const w = await world();
      served = await serveIssuer(w.store, { now: () => w.clock.now });
      const { clientSecret } = await w.manager.rotateServiceAccountSecret(w.clientId);
      expectInvalidClient(await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) }));
      expect((await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, clientSecret) })).status).toBe(200);
    });

    it('unauthorized_client: the account went free, or lost enterprise provisioning', async () => {
      const w = await world();
      served = await serveIssuer(w.store);
      const auth = { Authorization: basic(w.clientId, w.clientSecret) };
      await w.manager.updateAccount('bank', { tier: 'free' });
      expect((await tokenRequest(served.origin, CLIENT_CREDENTIALS, auth)).body.error).toBe('unauthorized_client');
      await w.manager.updateAccount('bank', { tier: 'premium', enterprise: false });
      const reply = await tokenRequest(served.origin, CLIENT_CREDENTIALS, auth);
      expect([reply.status, reply.body.error]).toEqual([400, 'unauthorized_client']);
    });

    it('temporarily_unavailable (503, Retry-After) when the store fails', async () => {
      const w = await world();
      served = await serveIssuer(
        Object.assign(Object.create(w.store) as typeof w.store, { findServiceAccount: () => Promise.reject(new Error('store down')) }),
      );
      const reply = await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) });
      expect([reply.status, reply.body.error, reply.headers.get('retry-after')]).toEqual([503, 'temporarily_unavailable', '5']);
    });
  });

  it('throttles failed client authentication per client id and per caller address (429, Retry-After)', async () => {
    const w = await world();
    served = await serveIssuer(w.store, { now: () => w.clock.now, throttle: { maxFailures: 3, windowMs: 60_000 } });
    const wrong = { Authorization: basic(w.clientId, `${w.clientSecret.slice(0, -4)}0000`) };
    for (let i = 0; i < 3; i++) expect((await tokenRequest(served.origin, CLIENT_CREDENTIALS, wrong)).status).toBe(401);
    const refused = await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) });
    expect([refused.status, refused.headers.get('retry-after')]).toEqual([429, '60']);
    // The same address, another client id: refused too (the address is over its count).
    const other = await w.manager.createServiceAccount({ accountId: 'bank', environment: 'test' });
    expect((await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(other.clientId, other.clientSecret) })).status).toBe(429);
    w.clock.now += 60_001;
    expect((await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) })).status).toBe(200);
  });
});

describe('published documents', () => {
  it('serves RFC 8414 metadata and the key set with short public caching', async () => {
    const w = await world();
    served = await serveIssuer(w.store);
    const metadata = await fetch(`${served.origin}/.well-known/oauth-authorization-server`);
    expect(metadata.headers.get('cache-control')).toBe('public, max-age=60');
    expect(await metadata.json()).toEqual({
      issuer: served.origin,
      token_endpoint: `${served.origin}/oauth/token`,
      jwks_uri: `${served.origin}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      response_types_supported: [],
    });
    const empty = (await (await fetch(`${served.origin}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    expect(empty.keys).toEqual([]); // the first token request makes the first key
    expect((await tokenRequest(served.origin, CLIENT_CREDENTIALS, { Authorization: basic(w.clientId, w.clientSecret) })).status).toBe(200);
    const jwks = (await (await fetch(`${served.origin}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(await served.issuer.handle(new Request(`${served.origin}/elsewhere`))).toBeNull();
  });
});
