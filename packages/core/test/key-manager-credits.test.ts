// Key administration, v2: rate limits on accounts and keys, credits, refills and usage, with their input checks.

import { describe, expect, it } from 'vitest';
import { createKeyManager, KeyManagerError, MemoryKeyStore } from '../src/index';
import { clock, DAY } from './fixtures';

async function setup() {
  const store = new MemoryKeyStore();
  const time = clock(Date.parse('2026-06-15T12:00:00Z'));
  const manager = createKeyManager({ store, now: time.now });
  await manager.putAccount({ id: 'acct_1', tier: 'premium' });
  return { store, time, manager };
}

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error instanceof KeyManagerError ? `${error.code}: ${error.message}` : String(error);
  }
  return 'resolved';
};

const BAD_NUMBERS: unknown[] = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1, '10', null, {}];

describe('key manager: rate limits', () => {
  it('sets, keeps and removes an account\'s rate limit through putAccount and updateAccount', async () => {
    const { manager, store } = await setup();
    const limit = { requests: 100, perSeconds: 60 };
    expect(await manager.putAccount({ id: 'acct_1', tier: 'premium', rateLimit: limit })).toEqual({
      id: 'acct_1', tier: 'premium', enterprise: false, rateLimit: limit,
    });
    // An absent rateLimit keeps it, like an absent enterprise flag.
    expect((await manager.putAccount({ id: 'acct_1', tier: 'accountant_pro', enterprise: true })).rateLimit).toEqual(limit);
    expect(await manager.updateAccount('acct_1', { rateLimit: { requests: 5, perSeconds: 1 } })).toEqual({
      id: 'acct_1', tier: 'accountant_pro', enterprise: true, rateLimit: { requests: 5, perSeconds: 1 },
    });
    expect(await manager.updateAccount('acct_1', { rateLimit: null })).toEqual({ id: 'acct_1', tier: 'accountant_pro', enterprise: true });
    expect(await store.getAccount('acct_1')).not.toHaveProperty('rateLimit');
    expect((await manager.putAccount({ id: 'acct_new', tier: 'premium', rateLimit: limit })).rateLimit).toEqual(limit);
  });

  it('refuses a rate limit that is not whole numbers > 0 with INVALID_INPUT naming the field', async () => {
    const { manager, store } = await setup();
    const bad: unknown[] = [
      { requests: 0, perSeconds: 1 }, { requests: 1, perSeconds: 0 }, { requests: -5, perSeconds: 60 },
      { requests: 1.5, perSeconds: 60 }, { requests: 10, perSeconds: Number.NaN }, { requests: '10', perSeconds: 60 },
      { requests: 10 }, { requests: 10, perSeconds: 32 * 86_400 }, { requests: 2e9, perSeconds: 60 }, 'lots', 5,
    ];
    for (const rateLimit of bad) {
      const message = await failure(manager.updateAccount('acct_1', { rateLimit } as never));
      expect(message).toMatch(/^INVALID_INPUT: finora-auth: rateLimit must be \{ requests, perSeconds \}/);
      expect(await failure(manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit } as never))).toMatch(/^INVALID_INPUT/);
      expect(await failure(manager.putAccount({ id: 'acct_1', tier: 'premium', rateLimit } as never))).toMatch(/^INVALID_INPUT/);
    }
    expect(await store.getAccount('acct_1')).toEqual({ id: 'acct_1', tier: 'premium', enterprise: false });
    expect(await store.listKeys('acct_1')).toEqual([]);
  });

  it('issues a key with its own rate limit, lists it, and a rotation keeps it', async () => {
    const { manager, store } = await setup();
    const issued = await manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit: { requests: 10, perSeconds: 1 } });
    expect(issued.key.rateLimit).toEqual({ requests: 10, perSeconds: 1 });
    expect((await store.getKey(issued.key.id))?.rateLimit).toEqual({ requests: 10, perSeconds: 1 });
    const rotated = await manager.rotate(issued.key.id);
    expect(rotated.key.rateLimit).toEqual({ requests: 10, perSeconds: 1 });
    const plain = await manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit: null });
    expect(plain.key).not.toHaveProperty('rateLimit');
    expect((await manager.list('acct_1')).map((k) => k.rateLimit)).toEqual([
      { requests: 10, perSeconds: 1 }, { requests: 10, perSeconds: 1 }, undefined,
    ]);
  });

  it('never hands out a rate-limited key from a store that drops the limit (a v1 store)', async () => {
    class DroppingStore extends MemoryKeyStore {
      override insertKey(key: Parameters<MemoryKeyStore['insertKey']>[0]) {
        const { rateLimit: _dropped, ...rest } = key;
        return super.insertKey(rest);
      }
    }
    const inner = new DroppingStore();
    const store = inner;
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct_1', tier: 'premium' });
    expect(await failure(manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit: { requests: 1, perSeconds: 1 } }))).toMatch(
      /^NOT_SUPPORTED: .*rate limits/,
    );
    const [key] = await inner.listKeys('acct_1');
    expect(key?.revokedAt).toBeDefined();
  });
});

describe('key manager: credits', () => {
  it('grants credits (the account becomes metered), adds to them, shows them, and unmeters', async () => {
    const { manager } = await setup();
    expect(await manager.credits('acct_1')).toEqual({ metered: false, balance: null });
    expect(await manager.grantCredits('acct_1', 1_000)).toEqual({ balance: 1_000 });
    expect(await manager.grantCredits('acct_1', Number.MAX_SAFE_INTEGER - 1_000)).toEqual({ balance: Number.MAX_SAFE_INTEGER });
    expect(await manager.credits('acct_1')).toEqual({ metered: true, balance: Number.MAX_SAFE_INTEGER });
    expect((await manager.listAccounts()).find((a) => a.id === 'acct_1')?.metered).toBe(true);
    await manager.unmeter('acct_1');
    expect(await manager.credits('acct_1')).toEqual({ metered: false, balance: null });
  });

  it('refuses a grant that is not a whole number of credits from 1 to MAX_SAFE_INTEGER, and changes nothing', async () => {
    const { manager } = await setup();
    for (const amount of BAD_NUMBERS) {
      expect(await failure(manager.grantCredits('acct_1', amount as number))).toMatch(/^INVALID_INPUT: finora-auth: amount must be a whole number of credits/);
    }
    expect(await manager.credits('acct_1')).toEqual({ metered: false, balance: null });
  });

  it('answers ACCOUNT_NOT_FOUND for credits of an unknown account', async () => {
    const { manager } = await setup();
    expect(await failure(manager.grantCredits('nobody', 5))).toMatch(/^ACCOUNT_NOT_FOUND/);
    expect(await failure(manager.credits('nobody'))).toMatch(/^ACCOUNT_NOT_FOUND/);
    expect(await failure(manager.unmeter('nobody'))).toMatch(/^ACCOUNT_NOT_FOUND/);
    expect(await failure(manager.setCreditRefill('nobody', { amount: 5, period: 'day' }))).toMatch(/^ACCOUNT_NOT_FOUND/);
    expect(await failure(manager.usage('nobody'))).toMatch(/^ACCOUNT_NOT_FOUND/);
  });

  it('sets and clears a refill on a metered account only, with checked input', async () => {
    const { manager } = await setup();
    expect(await failure(manager.setCreditRefill('acct_1', { amount: 100, period: 'month' }))).toMatch(/^NOT_METERED/);
    await manager.grantCredits('acct_1', 10);
    expect(await manager.setCreditRefill('acct_1', { amount: 100, period: 'month' })).toEqual({
      metered: true, balance: 10, refill: { amount: 100, period: 'month' },
    });
    for (const amount of BAD_NUMBERS) {
      expect(await failure(manager.setCreditRefill('acct_1', { amount: amount as number, period: 'day' }))).toMatch(/^INVALID_INPUT: .*refill.amount/);
    }
    expect(await failure(manager.setCreditRefill('acct_1', { amount: 5, period: 'week' as 'day' }))).toMatch(/^INVALID_INPUT: .*refill.period/);
    expect(await manager.setCreditRefill('acct_1', null)).toEqual({ metered: true, balance: 10 });
  });
});

describe('key manager: usage', () => {
  it('reads the last 30 days by default, and a given range, from the store\'s rows', async () => {
    const { manager, store, time } = await setup();
    const day = (offset: number) => new Date(time.now() + offset * DAY).toISOString().slice(0, 10);
    const row = (d: string) => ({ day: d, accountId: 'acct_1', keyId: 'key_a', environment: 'live' as const, allowed: 1, creditsSpent: 0 });
    await store.addUsage([row(day(-30)), row(day(-29)), row(day(0)), row(day(1))]);
    expect((await manager.usage('acct_1')).map((r) => r.day)).toEqual([day(-29), day(0)]);
    const since = new Date(time.now() - 40 * DAY);
    expect((await manager.usage('acct_1', { since })).map((r) => r.day)).toEqual([day(-30), day(-29), day(0)]);
    const until = new Date(time.now() + 2 * DAY);
    expect((await manager.usage('acct_1', { since, until })).map((r) => r.day)).toEqual([day(-30), day(-29), day(0), day(1)]);
    expect((await manager.usage('acct_1', { until: new Date(time.now() - 29 * DAY) })).map((r) => r.day)).toEqual([day(-30), day(-29)]);
  });

  it('refuses a range that is not Dates, or backwards', async () => {
    const { manager, time } = await setup();
    expect(await failure(manager.usage('acct_1', { since: new Date('nope') }))).toMatch(/^INVALID_INPUT: .*since/);
    expect(await failure(manager.usage('acct_1', { until: '2026-01-01' as unknown as Date }))).toMatch(/^INVALID_INPUT: .*until/);
    expect(await failure(manager.usage('acct_1', { since: new Date(time.now()), until: new Date(time.now() - DAY) }))).toMatch(
      /^INVALID_INPUT: .*since must not be after until/,
    );
  });
});
