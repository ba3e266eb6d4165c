// OAuth access tokens in the engine, with a fake TokenVerifier: verification outcomes, the service account judged
// from the store (revocation, rotation, expiry, scopes, tier, provisioning) and the caches that must not outlive it.

import { describe, expect, it } from 'vitest';
import {
  createAuthenticator,
  createKeyManager,
  MemoryKeyStore,
  TokenVerificationError,
  type AuthResult,
  type DecisionEvent,
  type KeyStore,
  type TokenVerifier,
  type VerifiedToken,
} from '../src/index';
import { clock, DAY } from './fixtures';

const MINUTE = 60_000;
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A verifier that knows the tokens it was told about: its answers are set per token, and its calls counted. */
class FakeVerifier implements TokenVerifier {
  calls = 0;
  readonly #answers = new Map<string, () => Promise<VerifiedToken>>();
  #serial = 0;

  /** A new compact-JWS-shaped token (its text means nothing; only this verifier knows what it stands for). */
  mint(claims: VerifiedToken): string {
    const token = `${base64url({ alg: 'ES256', typ: 'at+jwt' })}.${base64url({ n: ++this.#serial })}.c2lnbmF0dXJl`;
    this.#answers.set(token, async () => ({ ...claims, scopes: [...claims.scopes] }));
    return token;
  }

  answer(token: string, fn: () => Promise<VerifiedToken>): void {
    this.#answers.set(token, fn);
  }

  verify(token: string, options?: { signal?: AbortSignal }): Promise<VerifiedToken> {
    this.calls++;
    const answer = this.#answers.get(token);
    if (!answer) return Promise.reject(new TokenVerificationError('invalid', 'bad signature'));
    if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
    return answer();
  }
}

async function setup(options: { cache?: false } = {}) {
  const store = new MemoryKeyStore();
  const time = clock();
  const manager = createKeyManager({ store, now: time.now });
  await manager.putAccount({ id: 'acct_ent', tier: 'accountant_pro', enterprise: true });
  const verifier = new FakeVerifier();
  const events: DecisionEvent[] = [];
  const auth = createAuthenticator({ store, now: time.now, tokens: verifier, onDecision: (e) => events.push(e), lookupTimeoutMs: 50, ...options });
  const { clientId, serviceAccount } = await manager.createServiceAccount({
    accountId: 'acct_ent',
    environment: 'live',
    name: 'erp sync',
    scopes: ['invoices:write', 'payments:read'],
  });
  const secretCreatedAt = async () => (await store.findServiceAccount(clientId))!.serviceAccount.secretCreatedAt;
  const claims = async (overrides: Partial<VerifiedToken> = {}): Promise<VerifiedToken> => ({
    clientId,
    tokenId: `jti_${Math.random().toString(36).slice(2)}`,
    scopes: ['invoices:write', 'payments:read'],
    issuedAt: time.now(),
    expiresAt: time.now() + 15 * MINUTE,
    secretCreatedAt: await secretCreatedAt(),
    ...overrides,
  });
  const mint = async (overrides: Partial<VerifiedToken> = {}) => verifier.mint(await claims(overrides));
  return { store, time, manager, verifier, auth, events, clientId, serviceAccount, claims, mint };
}

const bearer = (token: string) => `Bearer ${token}`;
const code = (result: AuthResult) => (result.ok ? 'OK' : result.error.code);

describe('OAuth tokens in the engine', () => {
  it('without a verifier, a JWT is malformed (row 2) and no one is asked', async () => {
    const { store, mint, verifier, time } = await setup();
    const token = await mint();
    const auth = createAuthenticator({ store, now: time.now });
    const result = await auth.authenticate({ authorization: bearer(token) });
    expect(result.ok ? undefined : result.error).toMatchObject({ status: 401, code: 'INVALID_API_KEY' });
    expect(result.decision.reason).toBe('malformed');
    expect(verifier.calls).toBe(0);
  });

  it('allows a verified token of a live service account and hands over the token’s context and decision', async () => {
    const { auth, clientId, claims, verifier, time } = await setup();
    const token = verifier.mint(await claims({ tokenId: 'jti_1', scopes: ['invoices:read'] }));
    const result = await auth.authenticate({ authorization: bearer(token), module: 'invoices', method: 'GET' });
    expect(result.ok && result.context).toEqual({
      keyId: clientId,
      accountId: 'acct_ent',
      environment: 'live',
      billable: true,
      tier: 'accountant_pro',
      surface: 'enterprise',
      module: 'invoices',
      expiresAt: new Date(time.now() + 15 * MINUTE),
      keyName: 'erp sync',
      credential: 'oauth_token',
      scopes: ['invoices:read'],
      clientId,
      tokenId: 'jti_1',
    });
    expect(result.ok && result.headers).toEqual({});
    expect(result.decision).toMatchObject({ outcome: 'allowed', credential: 'oauth_token', keyId: clientId, clientId, tokenId: 'jti_1', accountId: 'acct_ent' });
    expect(result.decision.keyHint).toBeUndefined();
    expect(JSON.stringify(result.decision)).not.toContain(token.split('.')[1]);
  });

  it('refuses a token that fails verification with 401 INVALID_TOKEN, and one the key set cannot judge with 503', async () => {
    const { auth, verifier } = await setup();
    const forged = `${base64url({ alg: 'ES256' })}.${base64url({ sub: 'x' })}.Zm9yZ2Vk`;
    const invalid = await auth.authenticate({ authorization: bearer(forged) });
    expect(invalid.ok ? undefined : invalid.error).toMatchObject({
      status: 401,
      code: 'INVALID_TOKEN',
      headers: { 'WWW-Authenticate': 'Bearer realm="finora", error="invalid_token"' },
    });
    expect(invalid.decision).toMatchObject({ reason: 'invalid-token', credential: 'oauth_token' });

    for (const failure of [new TokenVerificationError('unavailable', 'jwks down'), new Error('surprise'), 'not even an error']) {
      const token = `${base64url({ alg: 'ES256' })}.${base64url({ failure: String(failure) })}.eA`;
      verifier.answer(token, () => Promise.reject(failure));
      const result = await auth.authenticate({ authorization: bearer(token) });
      expect(result.ok ? undefined : result.error).toMatchObject({ status: 503, code: 'AUTH_UNAVAILABLE', headers: { 'Retry-After': '1' } });
      expect(result.decision.reason).toBe('token-unavailable');
    }
  });

  it('gives 503 when verification outlasts the lookup timeout, aborting it', async () => {
    const { auth, verifier } = await setup();
    const token = `${base64url({ alg: 'ES256' })}.${base64url({ slow: true })}.eA`;
    let aborted = false;
    verifier.verify = (_token, options) =>
      new Promise((_, reject) => options?.signal?.addEventListener('abort', () => ((aborted = true), reject(options.signal?.reason))));
    const result = await auth.authenticate({ authorization: bearer(token) });
    expect(code(result)).toBe('AUTH_UNAVAILABLE');
    expect(aborted).toBe(true);
  });

  it('treats a verifier answer of the wrong shape as a fault, never a pass', async () => {
    const { auth, verifier } = await setup();
    const token = `${base64url({ alg: 'ES256' })}.${base64url({ odd: true })}.eA`;
    verifier.answer(token, async () => ({ clientId: 42 }) as unknown as VerifiedToken);
    expect(code(await auth.authenticate({ authorization: bearer(token) }))).toBe('AUTH_UNAVAILABLE');
  });

  it('refuses a token whose service account is unknown, or whose scope claim is not a scope list', async () => {
    const { auth, mint } = await setup();
    const unknown = await auth.authenticate({ authorization: bearer(await mint({ clientId: 'sa_000000000000000000000000' })) });
    expect(code(unknown)).toBe('INVALID_TOKEN');
    expect(unknown.decision).toMatchObject({ reason: 'unknown', clientId: 'sa_000000000000000000000000' });
    for (const scopes of [[], ['admin']]) expect(code(await auth.authenticate({ authorization: bearer(await mint({ scopes })) }))).toBe('INVALID_TOKEN');
  });

  it('verifies a token once and remembers it until its exp, then judges it expired', async () => {
    const { auth, mint, verifier, time } = await setup();
    const token = await mint();
    for (let i = 0; i < 3; i++) expect(code(await auth.authenticate({ authorization: bearer(token) }))).toBe('OK');
    expect(verifier.calls).toBe(1);
    time.advance(15 * MINUTE);
    const late = await auth.authenticate({ authorization: bearer(token) });
    expect(code(late)).toBe('INVALID_TOKEN');
    expect(late.decision.reason).toBe('invalid-token');
  });

  it('refuses the tokens of a revoked service account at once, even when it was cached a moment before', async () => {
    const { auth, mint, manager, clientId } = await setup();
    const token = await mint();
    expect(code(await auth.authenticate({ authorization: bearer(token) }))).toBe('OK');
    await manager.revokeServiceAccount(clientId);
    const result = await auth.authenticate({ authorization: bearer(token) });
    expect(code(result)).toBe('INVALID_TOKEN');
    expect(result.decision.reason).toBe('revoked');
  });

  it('ends the tokens minted before a secret rotation at once, and accepts those minted after', async () => {
    const { auth, mint, manager, clientId, time } = await setup();
    const before = await mint();
    expect(code(await auth.authenticate({ authorization: bearer(before) }))).toBe('OK');
    time.advance(MINUTE);
    await manager.rotateServiceAccountSecret(clientId);
    const result = await auth.authenticate({ authorization: bearer(before) });
    expect(code(result)).toBe('INVALID_TOKEN');
    expect(result.decision.reason).toBe('token-superseded');
    expect(code(await auth.authenticate({ authorization: bearer(await mint()) }))).toBe('OK');
  });

  it('refuses tokens once the service account’s secret has expired, and warns of that expiry beforehand', async () => {
    const { auth, mint, time, serviceAccount } = await setup();
    time.set(serviceAccount.expiresAt.getTime() - DAY);
    const warned = await auth.authenticate({ authorization: bearer(await mint()) });
    expect(warned.ok && warned.headers).toEqual({ 'Finora-Key-Expires-At': serviceAccount.expiresAt.toISOString() });
    time.set(serviceAccount.expiresAt.getTime());
    const result = await auth.authenticate({ authorization: bearer(await mint()) });
    expect(code(result)).toBe('INVALID_TOKEN');
    expect(result.decision.reason).toBe('expired');
  });

  it('refuses a token claiming more than its service account has now', async () => {
    const { auth, mint } = await setup();
    const result = await auth.authenticate({ authorization: bearer(await mint({ scopes: ['payments:write'] })) });
    expect(code(result)).toBe('INVALID_TOKEN');
    expect(result.decision.reason).toBe('token-scope-exceeded');
  });

  it('judges tier, provisioning and the token’s scopes exactly as for keys, and honours account changes at once', async () => {
    const { auth, mint, manager } = await setup();
    const token = await mint({ scopes: ['payments:read'] });
    expect(code(await auth.authenticate({ authorization: bearer(token), module: 'payments', method: 'GET' }))).toBe('OK');
    const post = await auth.authenticate({ authorization: bearer(token), module: 'payments', method: 'POST' });
    expect(post.ok ? undefined : post.error).toMatchObject({
      status: 403,
      code: 'INSUFFICIENT_SCOPE',
      headers: { 'WWW-Authenticate': 'Bearer realm="finora", error="insufficient_scope", scope="payments:write"' },
    });
    await manager.updateAccount('acct_ent', { enterprise: false });
    expect(code(await auth.authenticate({ authorization: bearer(token), module: 'payments', method: 'GET' }))).toBe('ENTERPRISE_ONLY');
    await manager.updateAccount('acct_ent', { enterprise: true, tier: 'free' });
    expect(code(await auth.authenticate({ authorization: bearer(token), module: 'payments', method: 'GET' }))).toBe('PREMIUM_REQUIRED');
    await manager.updateAccount('acct_ent', { tier: 'premium' });
    expect(code(await auth.authenticate({ authorization: bearer(token), module: 'payments', method: 'GET' }))).toBe('OK');
  });

  it('decides the same with the cache off', async () => {
    const { auth, mint, manager, clientId, verifier } = await setup({ cache: false });
    const token = await mint();
    expect(code(await auth.authenticate({ authorization: bearer(token) }))).toBe('OK');
    expect(code(await auth.authenticate({ authorization: bearer(token) }))).toBe('OK');
    expect(verifier.calls).toBe(2);
    await manager.revokeServiceAccount(clientId);
    expect(code(await auth.authenticate({ authorization: bearer(token) }))).toBe('INVALID_TOKEN');
  });

  it('still decides keys as before beside tokens', async () => {
    const { auth, manager } = await setup();
    const { apiKey } = await manager.issue({ accountId: 'acct_ent', environment: 'test' });
    const result = await auth.authenticate({ authorization: bearer(apiKey) });
    expect(result.ok && result.context.credential).toBe('api_key');
  });

  it('needs a TokenVerifier and a store that can find service accounts', () => {
    const store = new MemoryKeyStore();
    expect(() => createAuthenticator({ store, tokens: {} as TokenVerifier })).toThrow(/tokens must be a TokenVerifier/);
    const v1 = bindAll(store);
    expect(() => createAuthenticator({ store: v1, tokens: new FakeVerifier() })).toThrow(/findServiceAccount/);
  });
});

function bindAll(store: MemoryKeyStore): KeyStore {
  return {
    findByHash: (hash) => store.findByHash(hash),
    getAccount: (id) => store.getAccount(id),
    putAccount: (account) => store.putAccount(account),
    getKey: (id) => store.getKey(id),
    insertKey: (key) => store.insertKey(key),
    revokeKey: (id, at) => store.revokeKey(id, at),
    listKeys: (id) => store.listKeys(id),
    listExpiring: (after, until) => store.listExpiring(after, until),
    subscribe: (listener) => store.subscribe(listener),
    close: () => store.close(),
  };
}
