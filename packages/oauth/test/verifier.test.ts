// The verifier against forged and malformed tokens: every attack is `invalid`, and no message carries the token.

import { describe, expect, it } from 'vitest';
import { TokenVerificationError } from '@finora-auth/core';
import { createTokenVerifier } from '@finora-auth/oauth';
import { SignJWT, base64url, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

const ISSUER = 'https://auth.finora.test';
const AUDIENCE = 'https://api.finora.test';
const NOW = Date.UTC(2026, 4, 1);
const nowSeconds = NOW / 1000;

const signing = await generateKeyPair('ES256', { extractable: true });
const publicJwk: JWK = { ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
const outsider = await generateKeyPair('ES256');
const verifier = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [publicJwk] }, now: () => NOW });

const CLAIMS = { client_id: 'sa_0123456789abcdef01234567', scope: 'invoices:read', fsa: NOW - 86_400_000 };

interface Mint {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  key?: CryptoKey | Uint8Array;
}

function mint({ header = {}, claims = {}, key = signing.privateKey }: Mint = {}): Promise<string> {
  return new SignJWT({ ...CLAIMS, sub: CLAIMS.client_id, iss: ISSUER, aud: AUDIENCE, iat: nowSeconds, nbf: nowSeconds, exp: nowSeconds + 900, jti: 'j1', ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header } as { alg: string })
    .sign(key);
}

async function refusal(token: string): Promise<TokenVerificationError> {
  const error = await verifier.verify(token).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TokenVerificationError);
  const refused = error as TokenVerificationError;
  expect(refused.message).not.toContain(token);
  expect(refused.message).not.toContain(token.split('.')[1]);
  return refused;
}

const expectInvalid = async (token: string) => expect((await refusal(token)).reason).toBe('invalid');

describe('createTokenVerifier', () => {
  it('verifies a well-formed token and returns its claims for the core', async () => {
    expect(await verifier.verify(await mint())).toEqual({
      clientId: CLAIMS.client_id,
      tokenId: 'j1',
      scopes: ['invoices:read'],
      expiresAt: NOW + 900_000,
      issuedAt: NOW,
      secretCreatedAt: CLAIMS.fsa,
    });
    expect((await verifier.verify(await mint({ header: { typ: 'application/at+jwt' } }))).tokenId).toBe('j1');
  });

  it('refuses alg none, with or without a signature part', async () => {
    const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
    const body = encode({ ...CLAIMS, sub: CLAIMS.client_id, iss: ISSUER, aud: AUDIENCE, iat: nowSeconds, exp: nowSeconds + 900, jti: 'j' });
    await expectInvalid(`${encode({ alg: 'none', typ: 'at+jwt' })}.${body}.`);
    await expectInvalid(`${encode({ alg: 'none', typ: 'at+jwt', kid: 'k1' })}.${body}.AAAA`);
  });

  it('refuses HS256 signed with the public key as the HMAC secret', async () => {
    for (const secret of [JSON.stringify(publicJwk), publicJwk.x!, `${publicJwk.x}${publicJwk.y}`]) {
      await expectInvalid(await mint({ header: { alg: 'HS256' }, key: new TextEncoder().encode(secret) }));
    }
  });

  it('refuses a valid signature from a key outside the key set, and a kid that points nowhere', async () => {
    await expectInvalid(await mint({ key: outsider.privateKey }));
    await expectInvalid(await mint({ header: { kid: 'nowhere' } }));
  });

  it('refuses a wrong iss, aud or typ, and a missing finora claim', async () => {
    await expectInvalid(await mint({ claims: { iss: 'https://evil.test' } }));
    await expectInvalid(await mint({ claims: { aud: 'https://other-api.test' } }));
    await expectInvalid(await mint({ header: { typ: 'JWT' } }));
    await expectInvalid(await mint({ header: { typ: undefined } }));
    await expectInvalid(await mint({ claims: { sub: 'sa_someone_else' } }));
    await expectInvalid(await mint({ claims: { fsa: undefined } }));
    await expectInvalid(await mint({ claims: { jti: undefined } }));
    await expectInvalid(await mint({ claims: { scope: undefined } }));
  });

  it('refuses an expired token and one not yet valid, beyond a 5 s tolerance', async () => {
    await expectInvalid(await mint({ claims: { exp: nowSeconds - 6 } }));
    await expectInvalid(await mint({ claims: { nbf: nowSeconds + 60 } }));
    await expect(verifier.verify(await mint({ claims: { exp: nowSeconds - 3 } }))).resolves.toBeDefined();
    await expect(verifier.verify(await mint({ claims: { nbf: nowSeconds + 3 } }))).resolves.toBeDefined();
  });

  it('refuses a 64 KB JWT-looking token without parsing it', async () => {
    const huge = `eyJ${'A'.repeat(32_768)}.${'B'.repeat(32_768)}.sig`;
    const refused = await refusal(huge);
    expect(refused.reason).toBe('invalid');
    expect(refused.message.length).toBeLessThan(200);
  });

  it('accepts only the algorithms it is given, and never a symmetric one or none', async () => {
    const es384 = await generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await exportJWK(es384.publicKey)), kid: 'k384', alg: 'ES384' };
    const token = await mint({ header: { alg: 'ES384', kid: 'k384' }, key: es384.privateKey });
    const strict = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [jwk] }, now: () => NOW });
    await expect(strict.verify(token)).rejects.toMatchObject({ reason: 'invalid' });
    const listed = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [jwk] }, algorithms: ['ES384'], now: () => NOW });
    await expect(listed.verify(token)).resolves.toMatchObject({ tokenId: 'j1' });
    for (const algorithms of [['HS256'], ['none'], ['ES256', 'HS512'], []]) {
      expect(() => createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [] }, algorithms })).toThrow(TypeError);
    }
  });

  it('treats a key source that throws as unavailable, never as a pass', async () => {
    const failing = createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwks: { getKeySet: () => Promise.reject(new Error('store down')) },
      now: () => NOW,
    });
    await expect(failing.verify(await mint())).rejects.toMatchObject({ reason: 'unavailable' });
  });
});
