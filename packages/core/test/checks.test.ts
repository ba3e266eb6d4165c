// The checks after lookup, each alone, and their order: every one a refusal or nothing, over a normalised credential.

import { describe, expect, it } from 'vitest';
import {
  CHECKS,
  Refusals,
  checkAll,
  enterprise,
  expired,
  revoked,
  runChecks,
  scope,
  tier,
  tokenCurrent,
  type Credential,
  type CheckRequest,
} from '../src/checks';
import { FULL_ACCESS } from '../src/scopes';

const NOW = Date.parse('2026-03-01T00:00:00Z');
const render = new Refusals();

const key = (overrides: Partial<Credential> = {}): Credential => ({
  kind: 'api_key',
  id: 'key_1',
  hint: 'live_sk_…abcd',
  account: { id: 'acct', tier: 'premium', enterprise: false },
  environment: 'live',
  surface: 'retail',
  scopes: FULL_ACCESS,
  expiresAt: NOW + 1,
  ...overrides,
});
const token = (overrides: Partial<NonNullable<Credential['token']>> = {}, credential: Partial<Credential> = {}): Credential =>
  key({
    kind: 'oauth_token',
    id: 'sa_1',
    surface: 'enterprise',
    account: { id: 'acct', tier: 'premium', enterprise: true },
    token: { id: 'jti', expiresAt: NOW + 1, secretCreatedAt: 5, currentSecretCreatedAt: 5, grantedScopes: FULL_ACCESS, ...overrides },
    ...credential,
  });
const request = (overrides: Partial<CheckRequest> = {}): CheckRequest => ({ module: undefined, method: 'GET', now: NOW, ...overrides });
const codeOf = (refusal: ReturnType<typeof revoked>) => refusal && [refusal.failure.code, refusal.reason];

describe('revoked', () => {
  it('refuses a revoked key as INVALID_API_KEY and a revoked service account as INVALID_TOKEN, naming the date', () => {
    expect(revoked(key(), request(), render)).toBeUndefined();
    const refusal = revoked(key({ revokedAt: NOW - 1 }), request(), render);
    expect(codeOf(refusal)).toEqual(['INVALID_API_KEY', 'revoked']);
    expect(refusal?.failure.message).toContain(new Date(NOW - 1).toISOString());
    expect(codeOf(revoked(token({}, { revokedAt: NOW }), request(), render))).toEqual(['INVALID_TOKEN', 'revoked']);
  });
});

describe('expired', () => {
  it('refuses from the expiry instant on, not a millisecond before', () => {
    expect(expired(key({ expiresAt: NOW + 1 }), request(), render)).toBeUndefined();
    expect(codeOf(expired(key({ expiresAt: NOW }), request(), render))).toEqual(['INVALID_API_KEY', 'expired']);
    expect(codeOf(expired(token({}, { expiresAt: NOW }), request(), render))).toEqual(['INVALID_TOKEN', 'expired']);
  });
});

describe('tokenCurrent', () => {
  it('passes keys and current tokens', () => {
    expect(tokenCurrent(key(), request(), render)).toBeUndefined();
    expect(tokenCurrent(token(), request(), render)).toBeUndefined();
  });

  it('refuses a token past its exp, minted under an older secret, or wider than its service account now', () => {
    expect(codeOf(tokenCurrent(token({ expiresAt: NOW }), request(), render))).toEqual(['INVALID_TOKEN', 'invalid-token']);
    expect(codeOf(tokenCurrent(token({ secretCreatedAt: 4 }), request(), render))).toEqual(['INVALID_TOKEN', 'token-superseded']);
    const wide = token({ grantedScopes: ['invoices:read'] }, { scopes: ['invoices:write'] });
    expect(codeOf(tokenCurrent(wide, request(), render))).toEqual(['INVALID_TOKEN', 'token-scope-exceeded']);
    expect(tokenCurrent(token({ grantedScopes: ['invoices:write'] }, { scopes: ['invoices:read'] }), request(), render)).toBeUndefined();
  });
});

describe('tier', () => {
  it('refuses a free account with PREMIUM_REQUIRED', () => {
    expect(tier(key(), request(), render)).toBeUndefined();
    expect(tier(key({ account: { id: 'a', tier: 'accountant_pro', enterprise: false } }), request(), render)).toBeUndefined();
    expect(codeOf(tier(key({ account: { id: 'a', tier: 'free', enterprise: true } }), request(), render))).toEqual(['PREMIUM_REQUIRED', 'free-tier']);
  });
});

describe('enterprise', () => {
  it('needs an enterprise credential of a still-provisioned account on an enterprise module only', () => {
    const provisioned = { id: 'a', tier: 'premium', enterprise: true } as const;
    expect(codeOf(enterprise(key(), request({ module: 'payments' }), render))).toEqual(['ENTERPRISE_ONLY', 'not-enterprise']);
    expect(enterprise(key({ surface: 'enterprise', account: provisioned }), request({ module: 'payments' }), render)).toBeUndefined();
    expect(codeOf(enterprise(key({ surface: 'enterprise' }), request({ module: 'ai' }), render))).toEqual(['ENTERPRISE_ONLY', 'not-enterprise']);
    expect(enterprise(key(), request({ module: 'invoices' }), render)).toBeUndefined();
    expect(enterprise(key(), request(), render)).toBeUndefined();
    expect(render.enterprise('ai')).toBe(render.enterprise('ai'));
  });
});

describe('scope', () => {
  it('lets full access through on any method, and judges a scoped credential by method and module', () => {
    expect(scope(key(), request({ method: 'DELETE', module: 'payments' }), render)).toBeUndefined();
    const readOnly = key({ scopes: ['read'] });
    expect(scope(readOnly, request({ method: 'GET', module: 'invoices' }), render)).toBeUndefined();
    const refusal = scope(readOnly, request({ method: 'POST', module: 'invoices' }), render);
    expect(codeOf(refusal)).toEqual(['INSUFFICIENT_SCOPE', 'insufficient-scope']);
    expect(refusal?.failure.status).toBe(403);
    expect(refusal?.failure.headers['WWW-Authenticate']).toBe('Bearer realm="finora", error="insufficient_scope", scope="invoices:write"');
    expect(scope(readOnly, request({ method: 'POST' }), render)?.failure.headers['WWW-Authenticate']).toContain('scope="write"');
  });

  it('judges a scoped credential with no method (a v1 caller) as needing write', () => {
    expect(scope(key({ scopes: ['read'] }), request({ method: undefined, module: 'invoices' }), render)).toBeDefined();
    expect(scope(key({ scopes: ['invoices:write'] }), request({ method: undefined, module: 'invoices' }), render)).toBeUndefined();
    expect(scope(key(), request({ method: undefined }), render)).toBeUndefined();
  });

  it('renders each refusal once', () => {
    const a = scope(key({ scopes: ['read'] }), request({ method: 'PUT', module: 'bills' }), render);
    const b = scope(key({ scopes: ['tax:read'] }), request({ method: 'PATCH', module: 'bills' }), render);
    expect(a).toBe(b);
  });
});

describe('CHECKS, in contract order', () => {
  it('answers with the first rule that applies', () => {
    const everythingWrong = key({
      revokedAt: NOW - 2,
      expiresAt: NOW - 1,
      account: { id: 'a', tier: 'free', enterprise: false },
      scopes: ['read'],
    });
    const order: string[] = [];
    let credential = everythingWrong;
    const fixes: Array<(c: Credential) => Credential> = [
      ({ revokedAt: _r, ...c }) => c,
      (c) => ({ ...c, expiresAt: NOW + 1 }),
      (c) => ({ ...c, account: { id: 'a', tier: 'premium', enterprise: false } }),
      (c) => ({ ...c, surface: 'enterprise', account: { ...c.account, enterprise: true } }),
      (c) => ({ ...c, scopes: FULL_ACCESS }),
    ];
    for (const fix of [...fixes, (c: Credential) => c]) {
      const refusal = runChecks(CHECKS, credential, request({ method: 'POST', module: 'payments' }), render);
      // The hot path's unrolled list must say exactly what the list says.
      expect(checkAll(credential, request({ method: "POST", module: "payments" }), render)).toEqual(refusal);
      order.push(refusal ? refusal.reason : 'ok');
      credential = fix(credential);
    }
    expect(order).toEqual(['revoked', 'expired', 'free-tier', 'not-enterprise', 'insufficient-scope', 'ok']);
  });

  it('judges a token’s own currency before tier, provisioning and scopes', () => {
    const stale = token({ secretCreatedAt: 1 }, { account: { id: 'a', tier: 'free', enterprise: false } });
    expect(runChecks(CHECKS, stale, request({ module: 'payments' }), render)?.reason).toBe('token-superseded');
    expect(checkAll(stale, request({ module: 'payments' }), render)?.reason).toBe('token-superseded');
  });
});
