// Signing keys through the issuer: sealed under the operator secret, shared by a fleet on one store, rotated with an overlap.

import { describe, expect, it } from 'vitest';
import { SigningKeyError, createTokenIssuer, type TokenIssuer } from '@finora-auth/oauth';
import { decodeProtectedHeader } from 'jose';
import { AUDIENCE, SECRET, basic, world, type World } from './support';

const ISSUER = 'https://auth.finora.test';

function issuerOn(w: World, secret: string = SECRET): TokenIssuer {
  return createTokenIssuer({ store: w.store, issuer: ISSUER, audience: AUDIENCE, secret, now: () => w.clock.now });
}

async function issue(issuer: TokenIssuer, w: World): Promise<Response> {
  const response = await issuer.handle(
    new Request(`${ISSUER}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(w.clientId, w.clientSecret) },
      body: 'grant_type=client_credentials',
    }),
  );
  return response!;
}

async function token(issuer: TokenIssuer, w: World): Promise<string> {
  const response = await issue(issuer, w);
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('signing keys', () => {
  it('are stored sealed: the rows hold no private key, and a different operator secret cannot sign with them', async () => {
    const w = await world();
    await token(issuerOn(w), w);
    const rows = await w.store.listSigningKeys();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.encryptedPrivateKey).toMatch(/^v1\.[\w-]+\.[\w-]+$/);
    expect(rows[0]!.encryptedPrivateKey).not.toContain('"d"');
    expect(JSON.parse(rows[0]!.publicJwk)).not.toHaveProperty('d');

    // The same rows (a database copy) with another secret: no token, no rotation, no new key.
    const errors: unknown[] = [];
    const thief = createTokenIssuer({
      store: w.store,
      issuer: ISSUER,
      audience: AUDIENCE,
      secret: 'a different secret of thirty-two bytes or more!!',
      onError: (error) => errors.push(error),
    });
    const refused = await issue(thief, w);
    expect(refused.status).toBe(500);
    expect(((await refused.json()) as { error: string }).error).toBe('server_error');
    await expect(thief.rotateSigningKey()).rejects.toBeInstanceOf(SigningKeyError);
    expect(await w.store.listSigningKeys()).toHaveLength(1);
    expect(errors).toHaveLength(1);
    for (const error of [...errors, await thief.rotateSigningKey().catch((reason: unknown) => reason)]) {
      const text = `${(error as Error).message} ${String((error as Error).stack)}`;
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(rows[0]!.encryptedPrivateKey);
      expect(text).not.toContain(w.clientSecret);
    }
  });

  it('refuses an operator secret shorter than 32 bytes', async () => {
    const w = await world();
    expect(() => issuerOn(w, 'too short')).toThrow(/at least 32 bytes/);
  });

  it('are shared by every issuer on the store: each verifies the tokens another issued', async () => {
    const w = await world();
    const a = issuerOn(w);
    const b = issuerOn(w);
    const fromA = await token(a, w);
    const fromB = await token(b, w);
    expect(decodeProtectedHeader(fromA).kid).toBe(decodeProtectedHeader(fromB).kid);
    await expect(b.verifier.verify(fromA)).resolves.toMatchObject({ clientId: w.clientId });
    await expect(a.verifier.verify(fromB)).resolves.toMatchObject({ clientId: w.clientId });
  });

  it('made by two issuers at once are both valid, and the newest signs from then on', async () => {
    const w = await world();
    const a = issuerOn(w);
    const b = issuerOn(w);
    const [fromA, fromB] = await Promise.all([token(a, w), token(b, w)]);
    expect(await w.store.listSigningKeys()).toHaveLength(2);
    for (const verifier of [a.verifier, b.verifier]) {
      await expect(verifier.verify(fromA)).resolves.toBeDefined();
      await expect(verifier.verify(fromB)).resolves.toBeDefined();
    }
    w.clock.now += 31_000; // both reload their copy
    const kids = new Set([decodeProtectedHeader(await token(a, w)).kid, decodeProtectedHeader(await token(b, w)).kid]);
    expect(kids.size).toBe(1);
  });

  it('rotate with an overlap: old tokens verify while they live, the old key leaves the key set after', async () => {
    const w = await world();
    const a = issuerOn(w);
    const b = issuerOn(w);
    const before = await token(a, w);
    await b.verifier.verify(before); // b now holds a copy with the first key only
    const rotated = await a.rotateSigningKey();
    const after = await token(a, w);
    expect(decodeProtectedHeader(after).kid).toBe(rotated.kid);
    expect(decodeProtectedHeader(before).kid).not.toBe(rotated.kid);
    await expect(b.verifier.verify(after)).resolves.toBeDefined(); // a kid miss reloads the store's keys
    await expect(b.verifier.verify(before)).resolves.toBeDefined();

    const listed = await a.listSigningKeys();
    expect(listed.map((key) => [key.kid === rotated.kid, key.retiredAt === undefined, key.published])).toEqual([
      [false, false, true],
      [true, true, true],
    ]);
    const published = async () => {
      const response = (await a.handle(new Request(`${ISSUER}/.well-known/jwks.json`)))!;
      return ((await response.json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
    };
    expect(await published()).toHaveLength(2);
    w.clock.now += 906_000; // the longest token lifetime (900 s) plus the tolerance (5 s), and the reload age
    expect(await published()).toEqual([rotated.kid]);
    await expect(a.verifier.verify(before)).rejects.toMatchObject({ reason: 'invalid' });
  });
});
