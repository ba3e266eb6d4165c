// The contract's decision table: the rows every entry point (adapter or gateway mode) must answer alike, on every store.

import { generateApiKey, type AuthErrorCode, type KeyInfo, type Tier } from '@finora-auth/core';
import { expect } from 'vitest';
import { DAY_MS, T0, type Fixture } from './adapters-fixture';
import type { Reply } from './adapters';
import { TOKEN_SCENARIOS } from './matrix-token-scenarios';

/** The challenge of each refusal; `INSUFFICIENT_SCOPE` adds the scope that would allow the request. */
export const CHALLENGE: Record<AuthErrorCode, string | undefined> = {
  MISSING_API_KEY: 'Bearer realm="finora"',
  INVALID_API_KEY: 'Bearer realm="finora", error="invalid_token"',
  INVALID_TOKEN: 'Bearer realm="finora", error="invalid_token"',
  PREMIUM_REQUIRED: 'Bearer realm="finora", error="insufficient_scope"',
  ENTERPRISE_ONLY: 'Bearer realm="finora", error="insufficient_scope"',
  INSUFFICIENT_SCOPE: 'Bearer realm="finora", error="insufficient_scope"',
  RATE_LIMITED: undefined,
  CREDITS_EXHAUSTED: undefined,
  AUTH_UNAVAILABLE: undefined,
};
export const STATUS: Record<AuthErrorCode, number> = {
  MISSING_API_KEY: 401,
  INVALID_API_KEY: 401,
  INVALID_TOKEN: 401,
  PREMIUM_REQUIRED: 403,
  ENTERPRISE_ONLY: 403,
  INSUFFICIENT_SCOPE: 403,
  RATE_LIMITED: 429,
  CREDITS_EXHAUSTED: 402,
  AUTH_UNAVAILABLE: 503,
};

/** What a scenario sends: the Authorization header (absent when undefined) and, when allowed, the key it holds. */
export interface Given {
  /** Several values send several Authorization headers. */
  authorization?: string | string[];
  key?: KeyInfo;
  tier?: Tier;
}

export interface Scenario {
  name: string;
  /** Default `/invoices` (a retail module). */
  path?: string;
  /** The module the path names, for the oracle. Default: `invoices`. */
  module?: string;
  /** Default `GET`. */
  method?: string;
  given(fx: Fixture): Promise<Given> | Given;
  expect:
    | { refused: AuthErrorCode; messageIncludes?: string; scope?: string }
    | { allowed: true; expiresHeader?: boolean };
}

export const bearer = (apiKey: string) => `Bearer ${apiKey}`;
const refused = (code: AuthErrorCode, messageIncludes?: string) =>
  messageIncludes === undefined ? { refused: code } : { refused: code, messageIncludes };
/** A retail key of a premium account, used by every scenario that only needs some valid key to mangle. */
const mangled = (name: string, mangle: (apiKey: string) => string): Scenario => ({
  name,
  async given(fx) {
    const { apiKey } = await fx.issue();
    return { authorization: mangle(apiKey) };
  },
  expect: refused('INVALID_API_KEY'),
});
/** (v2) A key of a premium account (enterprise-provisioned when `surface` says so) limited to `scopes`. */
const scoped = (scopes: string[], surface: 'retail' | 'enterprise' = 'retail') => async (fx: Fixture): Promise<Given> => {
  const { apiKey, key } = await fx.issue({ scopes, surface, enterprise: surface === 'enterprise' });
  return { authorization: bearer(apiKey), key };
};
const insufficientScope = (scope: string) => ({ refused: 'INSUFFICIENT_SCOPE' as const, scope });
const allowedAs = (name: string, write: (apiKey: string) => string): Scenario => ({
  name,
  async given(fx) {
    const { apiKey, key } = await fx.issue();
    return { authorization: write(apiKey), key };
  },
  expect: { allowed: true },
});

export const SCENARIOS: Scenario[] = [
  // 1. missing
  { name: 'no Authorization header', given: () => ({}), expect: refused('MISSING_API_KEY') },
  { name: 'an empty Authorization header', given: () => ({ authorization: '' }), expect: refused('MISSING_API_KEY') },
  { name: 'an Authorization header of spaces only', given: () => ({ authorization: '   ' }), expect: refused('MISSING_API_KEY') },
  // 2. malformed: refused before any lookup
  mangled('another scheme (Basic)', (k) => `Basic ${k}`),
  mangled('no space after Bearer', (k) => `Bearer${k}`),
  mangled('a tab after Bearer', (k) => `Bearer\t${k}`),
  mangled('the key without a scheme', (k) => k),
  mangled('Bearer and nothing else', () => 'Bearer'),
  mangled('trailing junk after the key', (k) => `Bearer ${k} junk`),
  mangled('two keys', (k) => `Bearer ${k}, Bearer ${k}`),
  {
    name: 'two Authorization headers, the first one valid (a singleton field sent twice)',
    async given(fx) {
      const [first, second] = await Promise.all([fx.issue(), fx.issue()]);
      return { authorization: [`Bearer ${first.apiKey}`, `Bearer ${second.apiKey}`] };
    },
    expect: refused('INVALID_API_KEY'),
  },
  mangled('a key one character short', (k) => `Bearer ${k.slice(0, -1)}`),
  mangled('a key one character long', (k) => `Bearer ${k}0`),
  mangled('a key in upper-case hex', (k) => `Bearer ${k.slice(0, 8)}${k.slice(8).toUpperCase().replace(/^\d+$/, 'A'.repeat(48))}`),
  mangled('an upper-case prefix', (k) => `Bearer ${k.slice(0, 8).toUpperCase()}${k.slice(8)}`),
  mangled('another environment prefix', (k) => `Bearer prod_sk_${k.slice(8)}`),
  mangled('a non-hex character in the key', (k) => `Bearer ${k.slice(0, -1)}g`),
  // accepted spellings of a valid key
  allowedAs('lower-case bearer', (k) => `bearer ${k}`),
  allowedAs('upper-case BEARER', (k) => `BEARER ${k}`),
  allowedAs('several spaces after Bearer', (k) => `Bearer    ${k}`),
  allowedAs('surrounding whitespace (not part of a field value)', (k) => ` Bearer ${k}\t`),
  // 3. unknown
  { name: 'a well-formed key nobody issued', given: () => ({ authorization: bearer(generateApiKey('live')) }), expect: refused('INVALID_API_KEY', 'not recognised') },
  // 4. revoked
  {
    name: 'a revoked key',
    async given(fx) {
      const { apiKey, key } = await fx.issue();
      await fx.manager.revoke(key.id);
      return { authorization: bearer(apiKey) };
    },
    expect: refused('INVALID_API_KEY', 'revoked'),
  },
  // 5. expired: exactly 90 days after creation, and 1 ms before
  {
    name: 'a key at exactly 90 days',
    async given(fx) {
      const { apiKey } = await fx.issue();
      fx.clock.now = T0 + 90 * DAY_MS;
      return { authorization: bearer(apiKey) };
    },
    expect: refused('INVALID_API_KEY', new Date(T0 + 90 * DAY_MS).toISOString()),
  },
  {
    name: 'a key 1 ms before its 90 days end (with the expiry warning)',
    async given(fx) {
      const { apiKey, key } = await fx.issue();
      fx.clock.now = T0 + 90 * DAY_MS - 1;
      return { authorization: bearer(apiKey), key };
    },
    expect: { allowed: true, expiresHeader: true },
  },
  {
    name: 'a key exactly 14 days before expiry (the warning starts)',
    async given(fx) {
      const { apiKey, key } = await fx.issue();
      fx.clock.now = T0 + 76 * DAY_MS;
      return { authorization: bearer(apiKey), key };
    },
    expect: { allowed: true, expiresHeader: true },
  },
  {
    name: 'a key 14 days and 1 ms before expiry (no warning yet)',
    async given(fx) {
      const { apiKey, key } = await fx.issue();
      fx.clock.now = T0 + 76 * DAY_MS - 1;
      return { authorization: bearer(apiKey), key };
    },
    expect: { allowed: true, expiresHeader: false },
  },
  // 6. free tier
  {
    name: 'a key whose account is free now',
    async given(fx) {
      const { apiKey, key } = await fx.issue();
      await fx.manager.putAccount({ id: key.accountId, tier: 'free' });
      return { authorization: bearer(apiKey) };
    },
    expect: refused('PREMIUM_REQUIRED'),
  },
  // 7. enterprise modules
  {
    name: 'a retail key on an enterprise module',
    path: '/payments',
    module: 'payments',
    async given(fx) {
      const { apiKey } = await fx.issue({ enterprise: true });
      return { authorization: bearer(apiKey) };
    },
    expect: refused('ENTERPRISE_ONLY', 'payments'),
  },
  {
    name: 'an enterprise key whose account is no longer provisioned',
    path: '/v1/payments/42',
    module: 'payments',
    async given(fx) {
      const { apiKey, key } = await fx.issue({ enterprise: true, surface: 'enterprise' });
      await fx.manager.putAccount({ id: key.accountId, tier: 'premium', enterprise: false });
      return { authorization: bearer(apiKey) };
    },
    expect: refused('ENTERPRISE_ONLY'),
  },
  {
    name: 'an enterprise key on an enterprise module',
    path: '/payments/42',
    module: 'payments',
    async given(fx) {
      const { apiKey, key } = await fx.issue({ enterprise: true, surface: 'enterprise', name: 'treasury sync' });
      return { authorization: bearer(apiKey), key };
    },
    expect: { allowed: true },
  },
  {
    name: 'an enterprise key on a retail module',
    async given(fx) {
      const { apiKey, key } = await fx.issue({ enterprise: true, surface: 'enterprise' });
      return { authorization: bearer(apiKey), key };
    },
    expect: { allowed: true },
  },
  // 7s. (v2) scopes: GET, HEAD and OPTIONS need read, every other method write
  { name: 'a read-only key reading', given: scoped(['read']), expect: { allowed: true } },
  { name: 'a read-only key on HEAD', method: 'HEAD', given: scoped(['read']), expect: { allowed: true } },
  { name: 'a read-only key writing', method: 'POST', given: scoped(['read']), expect: insufficientScope('invoices:write') },
  { name: 'a read-only key deleting', path: '/invoices/7', method: 'DELETE', given: scoped(['read']), expect: insufficientScope('invoices:write') },
  { name: 'an invoices:write key writing invoices', method: 'POST', given: scoped(['invoices:write']), expect: { allowed: true } },
  { name: 'an invoices:write key reading invoices', given: scoped(['invoices:write']), expect: { allowed: true } },
  { name: 'an invoices:read key writing invoices', method: 'PUT', given: scoped(['invoices:read']), expect: insufficientScope('invoices:write') },
  {
    name: 'an invoices:write retail key on payments (row 7 answers before the scopes)',
    path: '/payments',
    module: 'payments',
    given: scoped(['invoices:write']),
    expect: refused('ENTERPRISE_ONLY', 'payments'),
  },
  {
    name: 'an invoices:write enterprise key on payments',
    path: '/payments',
    module: 'payments',
    given: scoped(['invoices:write'], 'enterprise'),
    expect: insufficientScope('payments:read'),
  },
  {
    name: 'an enterprise key scoped to payments:read reading payments',
    path: '/v1/payments/3',
    module: 'payments',
    given: scoped(['payments:read'], 'enterprise'),
    expect: { allowed: true },
  },
  {
    name: 'an invoices:write key on customers',
    path: '/customers',
    module: 'customers',
    given: scoped(['invoices:write']),
    expect: insufficientScope('customers:read'),
  },
  { name: 'an invoices:read key on a path with no module', path: '/health', module: undefined, given: scoped(['invoices:read']), expect: { allowed: true } },
  {
    name: 'a read-only key writing to a path with no module',
    path: '/health',
    module: undefined,
    method: 'POST',
    given: scoped(['read']),
    expect: insufficientScope('write'),
  },
  // 8. store down
  {
    name: 'the store failing',
    async given(fx) {
      const { apiKey } = await fx.issue();
      fx.store.failing = true;
      return { authorization: bearer(apiKey) };
    },
    expect: refused('AUTH_UNAVAILABLE'),
  },
  // 9. allowed
  {
    name: 'a live retail key of a premium account',
    async given(fx) {
      const { apiKey, key } = await fx.issue({ name: 'web shop' });
      return { authorization: bearer(apiKey), key };
    },
    expect: { allowed: true },
  },
  {
    name: 'a test key of an accountant_pro account (not billable)',
    path: '/v1/invoices/7',
    async given(fx) {
      const { apiKey, key } = await fx.issue({ tier: 'accountant_pro', environment: 'test' });
      return { authorization: bearer(apiKey), key, tier: 'accountant_pro' };
    },
    expect: { allowed: true },
  },
  {
    name: 'a path that names no module (key validity only)',
    path: '/health',
    module: undefined,
    async given(fx) {
      const { apiKey, key } = await fx.issue();
      return { authorization: bearer(apiKey), key };
    },
    expect: { allowed: true },
  },
  {
    name: 'a free account on a path that names no module',
    path: '/health',
    module: undefined,
    async given(fx) {
      const { apiKey, key } = await fx.issue();
      await fx.manager.putAccount({ id: key.accountId, tier: 'free' });
      return { authorization: bearer(apiKey) };
    },
    expect: refused('PREMIUM_REQUIRED'),
  },
  // (v2) OAuth access tokens of service accounts
  ...TOKEN_SCENARIOS,
];

export function expectRefusal(reply: Reply, code: AuthErrorCode, scope?: string) {
  expect(reply.status).toBe(STATUS[code]);
  expect(reply.headers['content-type']).toBe('application/json');
  expect(reply.headers['cache-control']).toBe('no-store');
  expect(reply.headers['www-authenticate']).toBe(scope === undefined ? CHALLENGE[code] : `${CHALLENGE[code]}, scope="${scope}"`);
  if (code === 'AUTH_UNAVAILABLE') expect(reply.headers['retry-after']).toMatch(/^\d+$/);
  else expect(reply.headers['retry-after']).toBeUndefined();
  expect(reply.headers['finora-key-expires-at']).toBeUndefined();
  const body = JSON.parse(reply.text) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
  expect(reply.text).not.toMatch(/(live|test)_sk_[0-9a-fA-F]{4}/);
}
