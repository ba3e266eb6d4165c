// Property tests: nothing but a valid key of a live, paying account is ever allowed, and authenticate never throws.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAuthenticator, ENTERPRISE_MODULES, MemoryKeyStore, RETAIL_MODULES } from '../src/index';
import { clock, DAY, seed } from './fixtures';

async function world() {
  const store = new MemoryKeyStore();
  const time = clock();
  const keys = await seed(store, time.now);
  const { manager } = keys;
  await manager.putAccount({ id: 'acct_free', tier: 'premium' });
  const freeKey = await manager.issue({ accountId: 'acct_free', environment: 'live' });
  await manager.putAccount({ id: 'acct_free', tier: 'free' });
  const revoked = await manager.issue({ accountId: 'acct_premium', environment: 'test' });
  await manager.revoke(revoked.key.id);
  time.advance(DAY);
  const valid = [keys.retail.apiKey, keys.test.apiKey, keys.enterprise.apiKey];
  const invalid = [freeKey.apiKey, revoked.apiKey];
  const auth = createAuthenticator({ store, now: time.now });
  return { auth, valid, invalid, retail: [keys.retail.apiKey, keys.test.apiKey], enterprise: [keys.enterprise.apiKey] };
}

/** Near misses of a real key: one character changed, dropped or added, case flipped, look-alikes, separators. */
const nearMiss = (key: string) =>
  fc.oneof(
    fc.tuple(fc.nat(key.length - 1), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })).map(([i, c]) => key.slice(0, i) + c + key.slice(i + 1)),
    fc.nat(key.length - 1).map((i) => key.slice(0, i) + key.slice(i + 1)),
    fc.tuple(fc.nat(key.length), fc.constantFrom(' ', '\t', ',', '\u0000', 'a', '0', '\u0430', '\u200b')).map(([i, c]) => key.slice(0, i) + c + key.slice(i)),
    fc.constant(key.toUpperCase()),
    fc.constant(key.replace('live_', 'test_')),
    fc.constant(key.replace('test_', 'live_')),
  );

const scheme = fc.constantFrom('Bearer ', 'bearer ', 'Bearer  ', 'Bearer\t', 'Basic ', '', 'Bearer', 'Bearer ,');

describe('properties', () => {
  it('allows only the valid keys of live, paying accounts, whatever the header', async () => {
    const { auth, valid, invalid } = await world();
    const header = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.tuple(scheme, fc.constantFrom(...valid, ...invalid).chain(nearMiss)).map(([s, k]) => s + k),
      fc.tuple(scheme, fc.constantFrom(...invalid)).map(([s, k]) => s + k),
      fc.tuple(scheme, fc.stringMatching(/^(live|test)_sk_[0-9a-f]{48}$/)).map(([s, k]) => s + k),
    );
    await fc.assert(
      fc.asyncProperty(header, async (authorization) => {
        const result = await auth.authenticate({ authorization });
        if (result.ok) {
          const token = authorization.trim().slice(7).trim();
          expect(valid).toContain(token);
        } else {
          expect([401, 403, 503]).toContain(result.error.status);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('allows every live key of a paying account on every module its surface reaches, whatever the method', async () => {
    const { auth, retail, enterprise } = await world();
    const method = fc.constantFrom(undefined, 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE');
    const request = fc.oneof(
      fc.record({ apiKey: fc.constantFrom(...retail), module: fc.constantFrom(undefined, ...RETAIL_MODULES), method }),
      fc.record({ apiKey: fc.constantFrom(...enterprise), module: fc.constantFrom(undefined, ...RETAIL_MODULES, ...ENTERPRISE_MODULES), method }),
    );
    await fc.assert(
      fc.asyncProperty(request, fc.constantFrom('Bearer ', 'bearer ', 'BEARER  '), async ({ apiKey, module, method: verb }, scheme) => {
        const result = await auth.authenticate({
          authorization: scheme + apiKey,
          ...(module === undefined ? {} : { module }),
          ...(verb === undefined ? {} : { method: verb }),
        });
        expect(result.ok ? 'allowed' : result.error.code).toBe('allowed');
      }),
      { numRuns: 1_000 },
    );
  });

  it('refuses every retail key on every enterprise module', async () => {
    const { auth, retail } = await world();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...retail), fc.constantFrom(...ENTERPRISE_MODULES), async (apiKey, module) => {
        const result = await auth.authenticate({ authorization: `Bearer ${apiKey}`, module, method: 'GET' });
        expect(result.ok ? 'allowed' : result.error.code).toBe('ENTERPRISE_ONLY');
      }),
      { numRuns: 200 },
    );
  });

  it('never throws or rejects on any header value', async () => {
    const { auth } = await world();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ unit: 'binary' }), fc.anything()), async (authorization) => {
        const result = await auth.authenticate({ authorization: authorization as string });
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 2_000 },
    );
  });
});
