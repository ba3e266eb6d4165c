// The verifier with a JWKS URL over real HTTP: an endpoint that hangs, answers garbage or 500 is `unavailable`, unless a key is cached.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenVerifier, type TokenVerifierOptions } from '@finora-auth/oauth';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const ISSUER = 'https://auth.finora.test';
const AUDIENCE = 'https://api.finora.test';
const keys = await generateKeyPair('ES256');
const jwks = { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] };

type Mode = 'ok' | 'hang' | 'garbage' | 'not-a-key-set' | '500';
let server: Server | undefined;
let requests = 0;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
  requests = 0;
});

/** A JWKS endpoint whose behaviour the test switches with `mode.value`. */
async function endpoint(initial: Mode) {
  const mode = { value: initial };
  server = createServer((_request, response) => {
    requests++;
    if (mode.value === 'hang') return; // never answers
    if (mode.value === '500') return void response.writeHead(500).end('oops');
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(mode.value === 'garbage' ? '{"keys": [' : mode.value === 'not-a-key-set' ? '{"hello":1}' : JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, mode };
}

const token = (kid = 'k1') =>
  new SignJWT({ client_id: 'sa_1', scope: 'read', fsa: 1 })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('sa_1')
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti('j')
    .sign(keys.privateKey);

const verifierFor = (url: string, options: Partial<TokenVerifierOptions> = {}) =>
  createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: url, timeoutMs: 300, ...options });

describe('a JWKS URL', () => {
  it('fetches the key set once and verifies from the cache', async () => {
    const { url } = await endpoint('ok');
    const verifier = verifierFor(url);
    await verifier.verify(await token());
    await verifier.verify(await token());
    expect(requests).toBe(1);
  });

  it.each<Mode>(['hang', 'garbage', 'not-a-key-set', '500'])('is unavailable, not a pass, when the endpoint answers %s with no cached key', async (mode) => {
    const { url } = await endpoint(mode);
    const jwt = await token();
    const error = await verifierFor(url).verify(jwt).catch((reason: unknown) => reason);
    expect(error).toMatchObject({ name: 'TokenVerificationError', reason: 'unavailable' });
    expect((error as Error).message).not.toContain(jwt);
  });

  it('still verifies with a cached key while the endpoint answers 500, even past the cache age (stale on error)', async () => {
    const { url, mode } = await endpoint('ok');
    const verifier = verifierFor(url, { cacheMaxAgeMs: 0 });
    await verifier.verify(await token());
    mode.value = '500';
    await expect(verifier.verify(await token())).resolves.toMatchObject({ clientId: 'sa_1' });
    // An unknown kid is the token's fault even then.
    await expect(verifier.verify(await token('k2'))).rejects.toMatchObject({ reason: 'invalid' });
    const noStale = verifierFor(url, { cacheMaxAgeMs: 0, staleIfErrorMs: 0 });
    mode.value = 'ok';
    await noStale.verify(await token());
    mode.value = 'hang';
    await expect(noStale.verify(await token())).rejects.toMatchObject({ reason: 'unavailable' });
  });

  it('refetches on an unknown kid at most once per cooldown', async () => {
    const { url } = await endpoint('ok');
    const verifier = verifierFor(url, { cooldownMs: 60_000 });
    await verifier.verify(await token());
    for (let i = 0; i < 5; i++) await expect(verifier.verify(await token(`random-${i}`))).rejects.toMatchObject({ reason: 'invalid' });
    expect(requests).toBe(1);
  });
});
