// authenticateNow: a cached key's decision at once (no promise), the same decision, event, usage count and limits as authenticate().

import { describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, MemoryKeyStore, type AuthResult, type DecisionEvent } from '../src/index';
import { bearer, clock } from './fixtures';

async function setup() {
  const store = new MemoryKeyStore();
  const time = clock(Date.parse('2026-06-15T12:00:00Z'));
  const manager = createKeyManager({ store, now: time.now });
  await manager.putAccount({ id: 'acct_1', tier: 'premium' });
  await manager.putAccount({ id: 'acct_free', tier: 'premium' });
  const live = await manager.issue({ accountId: 'acct_1', environment: 'live' });
  const free = await manager.issue({ accountId: 'acct_free', environment: 'live' });
  // Keys are issued to paying accounts only: this one lapses to free afterwards.
  await manager.updateAccount('acct_free', { tier: 'free' });
  const limited = await manager.issue({ accountId: 'acct_1', environment: 'test', rateLimit: { requests: 2, perSeconds: 60 } });
  const events: DecisionEvent[] = [];
  const authenticator = createAuthenticator({ store, now: time.now, onDecision: (event) => events.push(event) });
  const now = (apiKey: string | null, module?: string) =>
    authenticator.authenticateNow!({ authorization: apiKey === null ? null : bearer(apiKey), method: 'GET', ...(module ? { module } : {}) });
  return { store, time, manager, live, free, limited, events, authenticator, now };
}

/** The answer given at once, failing the test if it is a promise. */
function immediate(answer: AuthResult | Promise<AuthResult>): AuthResult {
  expect(answer).not.toBeInstanceOf(Promise);
  return answer as AuthResult;
}

const withoutDuration = ({ durationMs: _, ...decision }: DecisionEvent) => decision;

describe('authenticateNow', () => {
  it('asks the store through a promise the first time, then answers a cached key at once, deciding as authenticate() does', async () => {
    const { live, free, authenticator, now } = await setup();
    const first = now(live.apiKey, 'invoices');
    expect(first).toBeInstanceOf(Promise);
    expect((await first).ok).toBe(true);

    const cached = immediate(now(live.apiKey, 'invoices'));
    const awaited = await authenticator.authenticate({ authorization: bearer(live.apiKey), method: 'GET', module: 'invoices' });
    expect(cached.ok).toBe(true);
    if (!cached.ok || !awaited.ok) return;
    expect(cached.context).toEqual(awaited.context);
    expect(cached.headers).toEqual(awaited.headers);
    expect(withoutDuration(cached.decision)).toEqual(withoutDuration(awaited.decision));
    expect(cached.decision).toMatchObject({ outcome: 'allowed', cache: 'hit', module: 'invoices', keyId: live.key.id });

    // A refusal from a cached answer is given at once too, with the same rendering.
    await now(free.apiKey);
    const refused = immediate(now(free.apiKey));
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error).toMatchObject({ status: 403, code: 'PREMIUM_REQUIRED' });
    expect(refused.decision).toMatchObject({ reason: 'free-tier', cache: 'hit' });
  });

  it('answers a missing, malformed or remembered unknown key at once', async () => {
    const { now } = await setup();
    expect(immediate(now(null))).toMatchObject({ ok: false, error: { code: 'MISSING_API_KEY' } });
    expect(immediate(now('not-a-key'))).toMatchObject({ ok: false, error: { code: 'INVALID_API_KEY' }, decision: { reason: 'malformed' } });
    const unknown = `live_sk_${'0'.repeat(48)}`;
    expect(await now(unknown)).toMatchObject({ ok: false, decision: { reason: 'unknown', cache: 'miss' } });
    expect(immediate(now(unknown))).toMatchObject({ ok: false, error: { code: 'INVALID_API_KEY' }, decision: { cache: 'negative-hit' } });
  });

  it('emits one decision per answer and counts every allowed one in usage', async () => {
    const { manager, live, events, authenticator, now } = await setup();
    await now(live.apiKey, 'invoices');
    for (let i = 0; i < 3; i++) immediate(now(live.apiKey, 'invoices'));
    expect(events.map((e) => [e.outcome, e.cache])).toEqual([['allowed', 'miss'], ['allowed', 'hit'], ['allowed', 'hit'], ['allowed', 'hit']]);
    await authenticator.close();
    const usage = await manager.usage('acct_1');
    expect(usage.map((row) => [row.keyId, row.module, row.allowed])).toEqual([[live.key.id, 'invoices', 4]]);
  });

  it('applies a rate limit on the answers it gives at once', async () => {
    const { limited, now } = await setup();
    expect((await now(limited.apiKey)).ok).toBe(true);
    expect(immediate(now(limited.apiKey)).ok).toBe(true);
    expect(immediate(now(limited.apiKey))).toMatchObject({ ok: false, error: { status: 429, code: 'RATE_LIMITED' }, decision: { reason: 'rate-limited' } });
  });

  it('sees a revocation at once: the next answer is refused, and asked of the store again', async () => {
    const { manager, live, now } = await setup();
    await now(live.apiKey);
    expect(immediate(now(live.apiKey)).ok).toBe(true);
    await manager.revoke(live.key.id);
    const after = await now(live.apiKey);
    expect(after).toMatchObject({ ok: false, error: { code: 'INVALID_API_KEY' }, decision: { reason: 'revoked', cache: 'miss' } });
  });

  it('judges expiry against the clock on a cached answer', async () => {
    const { time, live, now } = await setup();
    await now(live.apiKey);
    time.advance(91 * 24 * 60 * 60 * 1000);
    // The cache's TTL passed too, so the store is asked again; past its expiry the key is refused either way.
    expect(await now(live.apiKey)).toMatchObject({ ok: false, decision: { reason: 'expired' } });
  });

  it('throws for a module outside the catalog, where authenticate() rejects', async () => {
    const { live, authenticator } = await setup();
    const request = { authorization: bearer(live.apiKey), module: 'nope' };
    expect(() => authenticator.authenticateNow!(request)).toThrow(TypeError);
    await expect(authenticator.authenticate(request)).rejects.toThrow(TypeError);
  });
});
