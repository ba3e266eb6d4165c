// The engine's rows 7r and 7c: rate limits (429 with the IETF fields), credits (402), costs, usage counts, shutdown.

import { describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, MemoryKeyStore, type AuthRequest } from '../src/index';
import { bearer, clock } from './fixtures';

async function setup(options: { cost?: (request: AuthRequest) => number } = {}) {
  const store = new MemoryKeyStore();
  const time = clock(Date.parse('2026-06-15T12:00:00Z'));
  const manager = createKeyManager({ store, now: time.now });
  await manager.putAccount({ id: 'acct_1', tier: 'premium' });
  const live = await manager.issue({ accountId: 'acct_1', environment: 'live' });
  const test = await manager.issue({ accountId: 'acct_1', environment: 'test' });
  const authenticator = createAuthenticator({ store, now: time.now, ...(options.cost ? { credits: { cost: options.cost } } : {}) });
  const ask = (apiKey: string, extra: Partial<AuthRequest> = {}) => authenticator.authenticate({ authorization: bearer(apiKey), ...extra });
  return { store, time, manager, live, test, authenticator, ask };
}

describe('credits (row 7c)', () => {
  it('spends one credit per allowed live request, reports the balance, and refuses with 402 at none left', async () => {
    const { manager, live, ask, authenticator, store } = await setup();
    await manager.grantCredits('acct_1', 3);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await ask(live.apiKey));
    expect(answers.slice(0, 3).map((r) => r.ok && [r.context.creditsRemaining, r.headers['Finora-Credits-Remaining']])).toEqual([
      [2, '2'], [1, '1'], [0, '0'],
    ]);
    const refused = answers[3]!;
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error).toMatchObject({ status: 402, code: 'CREDITS_EXHAUSTED' });
    expect(refused.error.headers).toEqual({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    expect(refused.decision).toMatchObject({ outcome: 'refused', reason: 'credits-exhausted', status: 402 });
    await authenticator.close();
    expect((await store.getCredits('acct_1'))?.balance).toBe(0);
  });

  it('never charges or refuses a test key, nor an unmetered account', async () => {
    const { manager, live, test, ask } = await setup();
    const unmetered = await ask(live.apiKey);
    expect(unmetered.ok && unmetered.context.creditsRemaining).toBeUndefined();
    expect(unmetered.ok && unmetered.headers).toEqual({});
    await manager.grantCredits('acct_1', 1);
    expect((await ask(live.apiKey)).ok).toBe(true);
    expect((await ask(live.apiKey)).ok).toBe(false);
    for (let i = 0; i < 5; i++) {
      const result = await ask(test.apiKey);
      expect(result.ok).toBe(true);
      expect(result.ok && result.context.creditsRemaining).toBeUndefined();
    }
  });

  it('a request refused by an earlier row costs nothing', async () => {
    const { manager, store, authenticator, ask } = await setup();
    const scoped = await manager.issue({ accountId: 'acct_1', environment: 'live', scopes: ['invoices:read'] });
    await manager.grantCredits('acct_1', 10);
    expect((await ask(scoped.apiKey, { module: 'invoices', method: 'POST' })).ok).toBe(false);
    expect((await ask(scoped.apiKey, { module: 'payments', method: 'GET' })).ok).toBe(false);
    await authenticator.close();
    expect((await store.getCredits('acct_1'))?.balance).toBe(10);
  });

  it('charges what credits.cost says; 0 is free; a throw or garbage is 503, never free', async () => {
    let cost: unknown = 5;
    const { manager, live, ask, authenticator, store } = await setup({ cost: () => cost as number });
    await manager.grantCredits('acct_1', 12);
    expect((await ask(live.apiKey)).ok).toBe(true);
    cost = 0;
    expect((await ask(live.apiKey)).ok).toBe(true);
    for (const garbage of [Number.NaN, -1, 1.5, '2', null, undefined, Number.POSITIVE_INFINITY, 2 ** 60]) {
      cost = garbage;
      const result = await ask(live.apiKey);
      expect(result.ok ? 'allowed' : [result.error.status, result.decision.reason]).toEqual([503, 'cost-invalid']);
    }
    cost = 10;
    const tooDear = await ask(live.apiKey);
    expect(!tooDear.ok && tooDear.error.code).toBe('CREDITS_EXHAUSTED');
    cost = 7;
    expect((await ask(live.apiKey)).ok).toBe(true);
    await authenticator.close();
    expect((await store.getCredits('acct_1'))?.balance).toBe(0);
  });

  it('answers 503 when the store fails during a debit the lease cannot cover', async () => {
    const { manager, live, ask, store } = await setup();
    await manager.grantCredits('acct_1', 100);
    expect((await ask(live.apiKey)).ok).toBe(true);
    store.takeCredits = async () => {
      throw new Error('connection refused');
    };
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await ask(live.apiKey));
    expect(results.at(-1)).toMatchObject({ ok: false, error: { status: 503, code: 'AUTH_UNAVAILABLE' } });
  });

  it('gives leases back when the account is unmetered, and lets it through free from then on', async () => {
    const { manager, live, ask, store, time } = await setup();
    await manager.grantCredits('acct_1', 1_000);
    for (let i = 0; i < 50; i++) {
      time.advance(1);
      await ask(live.apiKey);
    }
    await manager.unmeter('acct_1');
    const after = await ask(live.apiKey);
    expect(after.ok && after.context.creditsRemaining).toBeUndefined();
    await manager.grantCredits('acct_1', 5);
    expect((await store.getCredits('acct_1'))?.balance).toBe(5);
  });
});

describe('rate limits (row 7r)', () => {
  it('refuses with 429, Retry-After and the RateLimit fields over a key\'s own limit; allowed answers carry them too', async () => {
    const { manager, ask, time } = await setup();
    const limited = await manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit: { requests: 2, perSeconds: 10 } });
    const first = await ask(limited.apiKey);
    expect(first.ok && first.headers).toEqual({ 'RateLimit-Policy': '"default";q=2;w=10', RateLimit: '"default";r=1;t=10' });
    expect((await ask(limited.apiKey)).ok).toBe(true);
    const refused = await ask(limited.apiKey);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(refused.error.headers).toEqual({
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      'Retry-After': '15',
      'RateLimit-Policy': '"default";q=2;w=10',
      RateLimit: '"default";r=0;t=10',
    });
    expect(refused.error.body.error.message).toMatch(/rate limit of 2 requests per 10 seconds/);
    expect(refused.decision.reason).toBe('rate-limited');
    time.advance(15_000);
    expect((await ask(limited.apiKey)).ok).toBe(true);
  });

  it('applies the account\'s limit to each credential separately; a key\'s own limit overrides it', async () => {
    const { manager, live, test, ask } = await setup();
    await manager.updateAccount('acct_1', { rateLimit: { requests: 3, perSeconds: 60 } });
    const own = await manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit: { requests: 5, perSeconds: 60 } });
    const allowed = async (apiKey: string) => {
      let n = 0;
      for (let i = 0; i < 10; i++) if ((await ask(apiKey)).ok) n++;
      return n;
    };
    expect(await allowed(live.apiKey)).toBe(3);
    expect(await allowed(test.apiKey)).toBe(3);
    expect(await allowed(own.apiKey)).toBe(5);
  });

  it('judges the rate limit before credits: a 429 costs no credit', async () => {
    const { manager, ask, authenticator, store } = await setup();
    const limited = await manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit: { requests: 1, perSeconds: 60 } });
    await manager.grantCredits('acct_1', 10);
    expect((await ask(limited.apiKey)).ok).toBe(true);
    const refused = await ask(limited.apiKey);
    expect(!refused.ok && refused.error.code).toBe('RATE_LIMITED');
    await authenticator.close();
    expect((await store.getCredits('acct_1'))?.balance).toBe(9);
  });
});

describe('usage', () => {
  it('counts every allowed request, live and test, per key and module, with credits spent, flushed on close', async () => {
    const { manager, live, test, ask, authenticator } = await setup();
    await manager.grantCredits('acct_1', 2);
    await ask(live.apiKey, { module: 'invoices' });
    await ask(live.apiKey, { module: 'invoices' });
    await ask(live.apiKey, { module: 'invoices' }); // refused: not counted
    await ask(test.apiKey);
    await ask(test.apiKey, { module: 'reports' });
    await authenticator.close();
    expect(await manager.usage('acct_1')).toEqual([
      { day: '2026-06-15', keyId: live.key.id, environment: 'live', module: 'invoices', allowed: 2, creditsSpent: 2 },
      { day: '2026-06-15', keyId: test.key.id, environment: 'test', allowed: 1, creditsSpent: 0 },
      { day: '2026-06-15', keyId: test.key.id, environment: 'test', module: 'reports', allowed: 1, creditsSpent: 0 },
    ].sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0)));
  });
});

describe('options', () => {
  it('refuses a credits option that is not { cost: function }', () => {
    const store = new MemoryKeyStore();
    expect(() => createAuthenticator({ store, credits: { cost: 5 as never } })).toThrow(/credits.cost must be a function/);
    expect(() => createAuthenticator({ store, credits: 'yes' as never })).toThrow(/credits must be an object/);
  });
});
