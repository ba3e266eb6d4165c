// The decision engine: contract order, rendering, cache, coalescing, stale-if-error, timeouts and invalidation races.

import { describe, expect, it } from 'vitest';
import { createAuthenticator, generateApiKey, MemoryKeyStore, type AuthResult, type DecisionEvent, type KeyRecord } from '../src/index';
import { eventually, tapStore, type LookupBehaviour } from '@finora-auth/core/testing';
import { bearer, clock, DAY, seed } from './fixtures';

/** A lookup that never answers until its signal aborts it. */
const hang: LookupBehaviour = (_hash, signal) => new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
/** A lookup that answers a record no store should hold. */
const garbage: LookupBehaviour = async () => ({ key: { id: 42 }, account: null }) as unknown as KeyRecord;

async function setup(options: Parameters<typeof createAuthenticator>[0] extends infer O ? Partial<O> : never = {}) {
  const store = tapStore(new MemoryKeyStore());
  const time = clock();
  const keys = await seed(store, time.now);
  const events: DecisionEvent[] = [];
  const auth = createAuthenticator({ store, now: time.now, onDecision: (e) => events.push(e), ...options });
  return { store, time, auth, events, ...keys };
}

const code = (result: AuthResult) => (result.ok ? 'OK' : result.error.code);

describe('decisions', () => {
  it('allows a valid key and hands over its context and its decision, the object onDecision received', async () => {
    const { auth, retail, time, events } = await setup();
    const result = await auth.authenticate({ authorization: bearer(retail.apiKey), module: 'invoices', method: 'GET' });
    expect(result.decision).toBe(events.at(-1));
    expect(result.decision).toEqual({
      outcome: 'allowed',
      status: 200,
      reason: 'ok',
      credential: 'api_key',
      keyId: retail.key.id,
      keyHint: retail.key.hint,
      accountId: 'acct_premium',
      environment: 'live',
      module: 'invoices',
      method: 'GET',
      cache: 'miss',
      durationMs: expect.any(Number),
    });
    expect(result).toEqual({
      ok: true,
      headers: {},
      decision: expect.any(Object),
      context: {
        keyId: retail.key.id,
        accountId: 'acct_premium',
        environment: 'live',
        billable: true,
        tier: 'premium',
        surface: 'retail',
        module: 'invoices',
        expiresAt: new Date(time.now() + 90 * DAY),
        keyName: 'woo',
        credential: 'api_key',
        scopes: ['write'],
      },
    });
  });

  it('marks test keys as not billable', async () => {
    const { auth, test } = await setup();
    const result = await auth.authenticate({ authorization: bearer(test.apiKey) });
    expect(result.ok && result.context).toMatchObject({ environment: 'test', billable: false });
  });

  it('refuses a missing or empty header with MISSING_API_KEY and a bare challenge', async () => {
    const { auth, store } = await setup();
    for (const authorization of [undefined, null, '', '   ']) {
      const result = await auth.authenticate({ authorization });
      expect(result).toEqual({
        ok: false,
        error: {
          status: 401,
          code: 'MISSING_API_KEY',
          message: expect.any(String),
          headers: {
            'Content-Type': 'application/json',
            'Cache-Control': 'no-store',
            'WWW-Authenticate': 'Bearer realm="finora"',
          },
          body: { error: { code: 'MISSING_API_KEY', message: expect.any(String) } },
        },
        decision: { outcome: 'refused', status: 401, code: 'MISSING_API_KEY', reason: 'missing', cache: 'none', durationMs: expect.any(Number) },
      });
    }
    expect(store.lookups).toBe(0);
  });

  it('refuses malformed headers with INVALID_API_KEY and invalid_token, without asking the store', async () => {
    const { auth, store, retail } = await setup();
    const k = retail.apiKey;
    const malformed = [
      k, `Basic ${k}`, `Bearer`, `Bearer `, `Bearer${k}`, `Bearer\t${k}`, `Bearer ${k} extra`, `Bearer ${k},`,
      `Bearer ${k.slice(0, -1)}`, `Bearer ${k}0`, `Bearer ${k.toUpperCase()}`, `Bearer ${k.replace('live_sk_', 'prod_sk_')}`,
      `Bearer "${k}"`, `Bearer ${k.slice(0, -1)}\u0430`, `Bearer ${k}\u0000`, `Token ${k}`, `Bearer ${'a'.repeat(65_536)}`,
    ];
    for (const authorization of malformed) {
      const result = await auth.authenticate({ authorization });
      expect(code(result), authorization.slice(0, 80)).toBe('INVALID_API_KEY');
      expect(!result.ok && result.error.headers['WWW-Authenticate']).toBe('Bearer realm="finora", error="invalid_token"');
      expect(!result.ok && result.error.message).not.toContain(k);
    }
    expect(store.lookups).toBe(0);
  });

  it('accepts the scheme in any case and several spaces before the key', async () => {
    const { auth, retail } = await setup();
    for (const authorization of [`bearer ${retail.apiKey}`, `BEARER ${retail.apiKey}`, `Bearer    ${retail.apiKey}`, ` Bearer ${retail.apiKey} `]) {
      expect(code(await auth.authenticate({ authorization }))).toBe('OK');
    }
  });

  it('refuses an unknown key', async () => {
    const { auth } = await setup();
    const result = await auth.authenticate({ authorization: bearer(generateApiKey('live')) });
    expect(!result.ok && result.error).toMatchObject({ status: 401, code: 'INVALID_API_KEY', message: 'This API key is not recognised.' });
  });

  it('refuses a revoked key and says when, without the key', async () => {
    const { auth, manager, retail, time } = await setup();
    await manager.revoke(retail.key.id);
    const result = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(code(result)).toBe('INVALID_API_KEY');
    expect(!result.ok && result.error.message).toContain(new Date(time.now()).toISOString());
  });

  it('expires a key at exactly 90 days; one millisecond before it still passes, with the expiry warning', async () => {
    const { auth, retail, time } = await setup();
    time.advance(90 * DAY - 1);
    const before = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(before.ok && before.headers).toEqual({ 'Finora-Key-Expires-At': retail.key.expiresAt.toISOString() });
    time.advance(1);
    const at = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(code(at)).toBe('INVALID_API_KEY');
    expect(!at.ok && at.error.message).toContain('expired');
  });

  it('sends Finora-Key-Expires-At only within 14 days of expiry', async () => {
    const { auth, retail, time } = await setup();
    time.advance(76 * DAY - 1);
    const early = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(early.ok && early.headers).toEqual({});
    time.advance(1);
    const late = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(late.ok && late.headers['Finora-Key-Expires-At']).toBe(retail.key.expiresAt.toISOString());
  });

  it('refuses a key whose account is free now with 403 PREMIUM_REQUIRED', async () => {
    const { auth, manager, retail } = await setup();
    await manager.putAccount({ id: 'acct_premium', tier: 'free' });
    const result = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(!result.ok && result.error).toMatchObject({
      status: 403,
      code: 'PREMIUM_REQUIRED',
      headers: { 'WWW-Authenticate': 'Bearer realm="finora", error="insufficient_scope"' },
    });
  });

  it('judges revocation and expiry before tier, and tier before enterprise', async () => {
    const { auth, manager, retail, time } = await setup();
    await manager.putAccount({ id: 'acct_premium', tier: 'free' });
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey), module: 'payments' }))).toBe('PREMIUM_REQUIRED');
    time.advance(90 * DAY);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey), module: 'payments' }))).toBe('INVALID_API_KEY');
  });

  it('lets only an enterprise key of a provisioned account into enterprise modules; retail modules take both', async () => {
    const { auth, manager, retail, enterprise } = await setup();
    const retailOnPayments = await auth.authenticate({ authorization: bearer(retail.apiKey), module: 'payments' });
    expect(!retailOnPayments.ok && retailOnPayments.error).toMatchObject({
      status: 403,
      code: 'ENTERPRISE_ONLY',
      headers: { 'WWW-Authenticate': 'Bearer realm="finora", error="insufficient_scope"' },
    });
    expect(code(await auth.authenticate({ authorization: bearer(enterprise.apiKey), module: 'payments' }))).toBe('OK');
    expect(code(await auth.authenticate({ authorization: bearer(enterprise.apiKey), module: 'invoices' }))).toBe('OK');
    await manager.putAccount({ id: 'acct_ent', tier: 'accountant_pro', enterprise: false });
    expect(code(await auth.authenticate({ authorization: bearer(enterprise.apiKey), module: 'ai' }))).toBe('ENTERPRISE_ONLY');
    expect(code(await auth.authenticate({ authorization: bearer(enterprise.apiKey), module: 'reports' }))).toBe('OK');
  });

  it('rejects a module that is not in the catalog as a programming error', async () => {
    const { auth, retail } = await setup();
    await expect(auth.authenticate({ authorization: bearer(retail.apiKey), module: 'Payments' })).rejects.toThrow(TypeError);
  });

  it('answers 503 AUTH_UNAVAILABLE with Retry-After when the store fails', async () => {
    const { auth, store, retail } = await setup({ retryAfterSeconds: 3 });
    store.failing = true;
    const result = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(!result.ok && result.error).toMatchObject({
      status: 503,
      code: 'AUTH_UNAVAILABLE',
      headers: { 'Retry-After': '3', 'Cache-Control': 'no-store', 'Content-Type': 'application/json' },
    });
    expect(!result.ok && result.error.headers['WWW-Authenticate']).toBeUndefined();
  });

  it('treats a garbled store answer as a fault, never as a key', async () => {
    const { auth, store, retail } = await setup();
    store.behaviour = garbage;
    const result = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(code(result)).toBe('AUTH_UNAVAILABLE');
  });

  it('validates its options, naming the bad one', () => {
    const store = tapStore(new MemoryKeyStore());
    expect(() => createAuthenticator({} as never)).toThrow(/options\.store/);
    expect(() => createAuthenticator({ store, lookupTimeoutMs: 0 })).toThrow(/lookupTimeoutMs/);
    expect(() => createAuthenticator({ store, cache: { max: -1 } })).toThrow(/cache\.max/);
    expect(() => createAuthenticator({ store, cache: { staleIfErrorMs: 1.5 } })).toThrow(/cache\.staleIfErrorMs/);
    const options = { store, cache: { ttlMs: 10 } };
    createAuthenticator(options);
    expect(options).toEqual({ store, cache: { ttlMs: 10 } });
  });
});

describe('cache', () => {
  it('serves a repeat request from the cache, and asks again after ttlMs', async () => {
    const { auth, store, retail, time, events } = await setup({ cache: { ttlMs: 1_000 } });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(store.lookups).toBe(1);
    expect(events.map((e) => e.cache)).toEqual(['miss', 'hit']);
    time.advance(1_001);
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(store.lookups).toBe(2);
  });

  it('never extends a key\'s life: a cached key expires on the clock', async () => {
    const { auth, retail, time } = await setup({ cache: { ttlMs: 365 * DAY } });
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('OK');
    time.advance(90 * DAY);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('INVALID_API_KEY');
  });

  it('remembers unknown keys apart, for negativeTtlMs', async () => {
    const { auth, store, time, events } = await setup({ cache: { negativeTtlMs: 100 } });
    const unknown = bearer(generateApiKey('test'));
    await auth.authenticate({ authorization: unknown });
    await auth.authenticate({ authorization: unknown });
    expect(store.lookups).toBe(1);
    expect(events.map((e) => e.cache)).toEqual(['miss', 'negative-hit']);
    time.advance(101);
    await auth.authenticate({ authorization: unknown });
    expect(store.lookups).toBe(2);
  });

  it('cannot be flushed of real keys by a flood of random keys', async () => {
    const { auth, store, retail } = await setup({ cache: { max: 10, negativeMax: 5 } });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    for (let i = 0; i < 200; i++) await auth.authenticate({ authorization: bearer(generateApiKey('live')) });
    const before = store.lookups;
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('OK');
    expect(store.lookups).toBe(before);
  });

  it('makes one store lookup for many concurrent requests with the same key', async () => {
    const { auth, store, retail } = await setup();
    store.hold();
    const pending = Array.from({ length: 100 }, () => auth.authenticate({ authorization: bearer(retail.apiKey) }));
    await eventually(() => store.waiting === 1, 2_000);
    store.release();
    const results = await Promise.all(pending);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(store.lookups).toBe(1);
  });

  it('asks the store on every request with cache: false', async () => {
    const { auth, store, retail } = await setup({ cache: false });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(store.lookups).toBe(2);
  });
});

describe('store faults', () => {
  it('serves a stale answer younger than staleIfErrorMs when the store fails, then fails closed', async () => {
    const { auth, store, retail, time, events } = await setup({ cache: { ttlMs: 1_000, staleIfErrorMs: 10_000 } });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    store.failing = true;
    time.advance(5_000);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('OK');
    expect(events.at(-1)?.cache).toBe('stale');
    time.advance(5_000);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('AUTH_UNAVAILABLE');
    store.failing = false;
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('OK');
  });

  it('serves no stale answer by default', async () => {
    const { auth, store, retail, time } = await setup({ cache: { ttlMs: 1_000 } });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    store.failing = true;
    time.advance(1_001);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('AUTH_UNAVAILABLE');
  });

  it('still judges expiry on a stale answer', async () => {
    const { auth, store, retail, time } = await setup({ cache: { ttlMs: 1_000, staleIfErrorMs: 100 * DAY } });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    store.failing = true;
    time.advance(90 * DAY);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('INVALID_API_KEY');
  });

  it('answers 503 within lookupTimeoutMs when the store hangs, and aborts the lookup', async () => {
    const { auth, store, retail, events } = await setup({ lookupTimeoutMs: 30 });
    store.behaviour = hang;
    const result = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(code(result)).toBe('AUTH_UNAVAILABLE');
    expect(events.at(-1)?.reason).toBe('store-timeout');
  });

  it('bounds the lookups waiting on a slow store, refusing past the bound at once', async () => {
    const { auth, store, retail } = await setup({ maxPendingLookups: 5 });
    store.hold();
    const slow = Array.from({ length: 5 }, () => auth.authenticate({ authorization: bearer(generateApiKey('live')) }));
    await eventually(() => store.waiting === 5, 2_000);
    const past = await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(!past.ok && past.error.code).toBe('AUTH_UNAVAILABLE');
    expect(store.lookups).toBe(5);
    store.release();
    await Promise.all(slow);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('OK');
  });
});

describe('invalidation', () => {
  it('honours a revocation at once for a key cached a moment ago', async () => {
    const { auth, manager, retail } = await setup({ cache: { ttlMs: 3_600_000 } });
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('OK');
    await manager.revoke(retail.key.id);
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('INVALID_API_KEY');
  });

  it('honours a revocation that lands while the key\'s lookup is in flight', async () => {
    const { auth, store, manager, retail } = await setup();
    store.hold();
    const inFlight = auth.authenticate({ authorization: bearer(retail.apiKey) });
    await eventually(() => store.waiting === 1, 2_000); // the lookup has read the key as active and is held
    await manager.revoke(retail.key.id);
    store.release();
    expect(code(await inFlight)).toBe('INVALID_API_KEY');
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('INVALID_API_KEY');
  });

  it('honours a downgrade or deprovisioning that lands while a lookup is in flight', async () => {
    const { auth, store, manager, enterprise } = await setup();
    store.hold();
    const inFlight = auth.authenticate({ authorization: bearer(enterprise.apiKey), module: 'payments' });
    await eventually(() => store.waiting === 1, 2_000);
    await manager.putAccount({ id: 'acct_ent', tier: 'accountant_pro', enterprise: false });
    store.release();
    expect(code(await inFlight)).toBe('ENTERPRISE_ONLY');
  });

  it('honours downgrades and deprovisioning for cached keys', async () => {
    const { auth, manager, retail, enterprise } = await setup({ cache: { ttlMs: 3_600_000 } });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    await auth.authenticate({ authorization: bearer(enterprise.apiKey), module: 'payments' });
    await manager.putAccount({ id: 'acct_premium', tier: 'free' });
    await manager.putAccount({ id: 'acct_ent', tier: 'premium', enterprise: false });
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('PREMIUM_REQUIRED');
    expect(code(await auth.authenticate({ authorization: bearer(enterprise.apiKey), module: 'payments' }))).toBe('ENTERPRISE_ONLY');
  });

  it('lets a just-issued key through even though its hash was cached as unknown', async () => {
    const { auth, manager, store } = await setup();
    // The manager cannot issue a chosen key, so prove the mechanism with a key-changed event for a cached unknown hash.
    const unknown = generateApiKey('live');
    await auth.authenticate({ authorization: bearer(unknown) });
    const issued = await manager.issue({ accountId: 'acct_premium', environment: 'live' });
    expect(code(await auth.authenticate({ authorization: bearer(issued.apiKey) }))).toBe('OK');
    expect(store.lookups).toBe(2);
  });

  it('while the store\'s channel is down, asks the store on every request; flushes when it is back', async () => {
    const { auth, store, retail, manager } = await setup({ cache: { ttlMs: 3_600_000 } });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(store.lookups).toBe(1);
    store.emit({ type: 'reset', live: false });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(store.lookups).toBe(3);
    store.emit({ type: 'reset', live: true });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    expect(store.lookups).toBe(4);
    // A change whose event was missed while the channel was down is seen after the flush.
    await auth.authenticate({ authorization: bearer(retail.apiKey) });
    store.emit({ type: 'reset', live: false });
    await store.revokeKey(retail.key.id, Date.now());
    store.emit({ type: 'reset', live: true });
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('INVALID_API_KEY');
    void manager;
  });

  it('reports no key, only its id and hint, to onDecision', async () => {
    const { auth, retail, events } = await setup();
    await auth.authenticate({ authorization: bearer(retail.apiKey), origin: 'https://shop.example' });
    const event = events.at(-1)!;
    expect(JSON.stringify(event)).not.toContain(retail.apiKey.slice(8));
    expect(event).toMatchObject({ outcome: 'allowed', keyId: retail.key.id, keyHint: retail.key.hint, probableLeak: true });
  });

  it('puts the decision on every result, with no onDecision at all', async () => {
    const { retail, store, time } = await setup();
    const auth = createAuthenticator({ store, now: time.now });
    const allowed = await auth.authenticate({ authorization: bearer(retail.apiKey), method: 'POST' });
    expect(allowed.decision).toMatchObject({ outcome: 'allowed', status: 200, credential: 'api_key', keyId: retail.key.id, method: 'POST' });
    const refused = await auth.authenticate({ authorization: 'Bearer nope' });
    expect(refused.decision).toMatchObject({ outcome: 'refused', status: 401, code: 'INVALID_API_KEY', reason: 'malformed' });
    expect(refused.decision.credential).toBeUndefined();
  });

  it('keeps deciding when onDecision throws', async () => {
    const { retail, store, time } = await setup();
    const auth = createAuthenticator({ store, now: time.now, onDecision: () => { throw new Error('log sink down'); } });
    expect(code(await auth.authenticate({ authorization: bearer(retail.apiKey) }))).toBe('OK');
  });
});
