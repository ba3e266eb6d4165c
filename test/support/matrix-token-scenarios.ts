// (v2) The decision table's rows for OAuth access tokens (rows 2, 5t, 6, 7 and 7s for a service account), and the forgeries of the attack list.

import type { Fixture } from './adapters-fixture';
import type { Given, Scenario } from './matrix-scenarios';

const encoder = new TextEncoder();
const b64url = (bytes: Uint8Array | string) => Buffer.from(typeof bytes === 'string' ? encoder.encode(bytes) : bytes).toString('base64url');
const parts = (token: string) => token.split('.') as [string, string, string];
const decoded = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

/** The claims of a real token (so a forgery differs from a valid one only where it means to), and its header's `kid`. */
async function realToken(fx: Fixture): Promise<{ header: Record<string, unknown>; claims: Record<string, unknown> }> {
  const { accessToken } = await fx.token();
  const [header, payload] = parts(accessToken);
  return { header: decoded(header), claims: decoded(payload) };
}

/** A JWS signed by a P-256 key this test made, which no key set holds. */
async function signedOutside(header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, encoder.encode(input));
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

/** The classic confusion attack: HS256 with the issuer's published public key (as its JWK JSON) as the HMAC secret. */
async function signedWithPublicKeyAsHmac(fx: Fixture, header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  const jwks = (await (await fx.issuer.handle(new Request('https://auth.finora.test/.well-known/jwks.json')))!.json()) as { keys: object[] };
  const secret = encoder.encode(JSON.stringify(jwks.keys[0]));
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const input = `${b64url(JSON.stringify({ ...header, alg: 'HS256' }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(input))))}`;
}

const bearerOf = (token: string): Given => ({ authorization: `Bearer ${token}` });
const invalidToken = { refused: 'INVALID_TOKEN' as const };
/** A forged or unacceptable token, made from a real one by `forge`. */
const forged = (name: string, forge: (fx: Fixture, token: string) => Promise<string> | string): Scenario => ({
  name,
  async given(fx) {
    const { accessToken } = await fx.token();
    return bearerOf(await forge(fx, accessToken));
  },
  expect: invalidToken,
});
const allowedToken = (name: string, options: Parameters<Fixture['token']>[0], rest: Partial<Scenario> = {}): Scenario => ({
  name,
  async given(fx) {
    const { accessToken, holder } = await fx.token(options);
    return { authorization: `Bearer ${accessToken}`, key: holder };
  },
  expect: { allowed: true },
  ...rest,
});

export const TOKEN_SCENARIOS: Scenario[] = [
  // allowed: a verified token of a live service account, by either client-authentication method
  allowedToken('a token got by client_secret_basic, on an enterprise module', { name: 'treasury sync' }, { path: '/v1/payments/9', module: 'payments' }),
  allowedToken('a token got by client_secret_post, on a retail module', { via: 'post' }),
  allowedToken('a token on a path with no module', {}, { path: '/health', module: undefined }),
  allowedToken('a full-access token writing', {}, { method: 'POST' }),
  // 7s: the token's scopes (the service account's, or narrower when asked) are judged like a key's
  allowedToken('a read-only token reading', { scopes: ['read'] }),
  allowedToken('a token narrowed to payments:read at the endpoint, reading payments', { scope: 'payments:read' }, { path: '/payments', module: 'payments' }),
  {
    name: 'a read-only token writing',
    method: 'POST',
    async given(fx) {
      return bearerOf((await fx.token({ scopes: ['read'] })).accessToken);
    },
    expect: { refused: 'INSUFFICIENT_SCOPE', scope: 'invoices:write' },
  },
  {
    name: 'a token narrowed to payments:read, on invoices',
    async given(fx) {
      return bearerOf((await fx.token({ scope: 'payments:read' })).accessToken);
    },
    expect: { refused: 'INSUFFICIENT_SCOPE', scope: 'invoices:read' },
  },
  // 5t: verification
  forged('a token with its signature changed', (_fx, token) => {
    const [header, payload, signature] = parts(token);
    return `${header}.${payload}.${signature.slice(0, -4)}${signature.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
  }),
  {
    name: 'a read-only token with its scope widened to write in the payload (signature kept)',
    method: 'POST',
    async given(fx) {
      const [header, payload, signature] = parts((await fx.token({ scopes: ['read'] })).accessToken);
      return bearerOf(`${header}.${b64url(JSON.stringify({ ...decoded(payload), scope: 'write' }))}.${signature}`);
    },
    expect: invalidToken,
  },
  {
    // No signature part: not a compact JWS at all, so row 2 answers before any verification or lookup.
    name: 'a token re-headed with alg none and no signature',
    async given(fx) {
      const [header, payload] = parts((await fx.token()).accessToken);
      return bearerOf(`${b64url(JSON.stringify({ ...decoded(header), alg: 'none' }))}.${payload}.`);
    },
    expect: { refused: 'INVALID_API_KEY' },
  },
  forged('a token re-headed with alg none, the old signature kept', (_fx, token) => {
    const [header, payload, signature] = parts(token);
    return `${b64url(JSON.stringify({ ...decoded(header), alg: 'none' }))}.${payload}.${signature}`;
  }),
  forged('a token whose kid points nowhere', (_fx, token) => {
    const [header, payload, signature] = parts(token);
    return `${b64url(JSON.stringify({ ...decoded(header), kid: 'no-such-key' }))}.${payload}.${signature}`;
  }),
  {
    name: 'HS256 signed with the public key as the HMAC secret',
    async given(fx) {
      const { header, claims } = await realToken(fx);
      return bearerOf(await signedWithPublicKeyAsHmac(fx, header, claims));
    },
    expect: invalidToken,
  },
  {
    name: "a valid ES256 signature from a key outside the key set (under the real key's kid)",
    async given(fx) {
      const { header, claims } = await realToken(fx);
      return bearerOf(await signedOutside(header, claims));
    },
    expect: invalidToken,
  },
  {
    name: 'a token from another issuer on the same store and keys (wrong iss)',
    async given(fx) {
      return bearerOf((await fx.token({ issuer: 'other-iss' })).accessToken);
    },
    expect: invalidToken,
  },
  {
    name: 'a token for another audience (wrong aud)',
    async given(fx) {
      return bearerOf((await fx.token({ issuer: 'other-aud' })).accessToken);
    },
    expect: invalidToken,
  },
  {
    // The verifier's 5 s tolerance is for clocks that disagree on nbf and iat; the core judges exp itself, exactly,
    // on its own clock (as it judges a key's expiry), so a token cached as verified ends on time too.
    name: 'a token 1 ms past its exp',
    async given(fx) {
      const { accessToken, holder } = await fx.token();
      fx.clock.now = holder.expiresAt.getTime() + 1;
      return bearerOf(accessToken);
    },
    expect: invalidToken,
  },
  {
    name: 'a token past its exp by more than the clock tolerance',
    async given(fx) {
      const { accessToken, holder } = await fx.token();
      fx.clock.now = holder.expiresAt.getTime() + 60_000;
      return bearerOf(accessToken);
    },
    expect: invalidToken,
  },
  {
    name: 'a token 1 ms before its exp',
    async given(fx) {
      const { accessToken, holder } = await fx.token();
      fx.clock.now = holder.expiresAt.getTime() - 1;
      return { authorization: `Bearer ${accessToken}`, key: holder };
    },
    expect: { allowed: true },
  },
  {
    name: 'a token of a service account revoked since',
    async given(fx) {
      const { accessToken, clientId } = await fx.token();
      await fx.manager.revokeServiceAccount(clientId);
      return bearerOf(accessToken);
    },
    expect: invalidToken,
  },
  {
    name: "a token issued before its service account's secret was rotated",
    async given(fx) {
      const { accessToken, clientId } = await fx.token();
      fx.clock.now += 1_000; // the new secret is younger than the token
      await fx.manager.rotateServiceAccountSecret(clientId);
      return bearerOf(accessToken);
    },
    expect: invalidToken,
  },
  // 6 and 7: the service account's account is judged like a key's
  {
    name: 'a token whose account is free now',
    async given(fx) {
      const { accessToken, holder } = await fx.token();
      await fx.manager.putAccount({ id: holder.accountId, tier: 'free' });
      return bearerOf(accessToken);
    },
    expect: { refused: 'PREMIUM_REQUIRED' },
  },
  {
    name: 'a token whose account lost enterprise provisioning',
    path: '/payments',
    module: 'payments',
    async given(fx) {
      const { accessToken, holder } = await fx.token();
      await fx.manager.putAccount({ id: holder.accountId, tier: 'premium', enterprise: false });
      return bearerOf(accessToken);
    },
    expect: { refused: 'ENTERPRISE_ONLY' },
  },
  // 8: a verified token still needs its service account from the store
  {
    name: 'a valid token while the store fails',
    async given(fx) {
      const { accessToken } = await fx.token();
      fx.store.failing = true;
      return bearerOf(accessToken);
    },
    expect: { refused: 'AUTH_UNAVAILABLE' },
  },
];
