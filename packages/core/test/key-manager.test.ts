// Key administration: issuing by the tier and provisioning rules, rotation, revocation, listing, expiry windows.

import { describe, expect, it } from 'vitest';
import { API_KEY_PATTERN, createKeyManager, KeyManagerError, MemoryKeyStore, sha256Hex } from '../src/index';
import { clock, DAY } from './fixtures';

async function setup(keyTtlDays?: number) {
  const store = new MemoryKeyStore();
  const time = clock();
  const manager = createKeyManager(keyTtlDays === undefined ? { store, now: time.now } : { store, now: time.now, keyTtlDays });
  await manager.putAccount({ id: 'acct_1', tier: 'premium' });
  return { store, time, manager };
}

const failure = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error instanceof KeyManagerError ? error.code : String(error);
  }
  return 'resolved';
};

describe('createKeyManager', () => {
  it('issues a key in the format, shown once, stored only as its digest and hint, expiring in 90 days', async () => {
    const { manager, store, time } = await setup();
    const { apiKey, key } = await manager.issue({ accountId: 'acct_1', environment: 'live', name: 'cron' });
    expect(apiKey).toMatch(API_KEY_PATTERN);
    expect(apiKey.startsWith('live_sk_')).toBe(true);
    expect(key).toEqual({
      id: expect.stringMatching(/^key_[0-9a-f]{24}$/),
      accountId: 'acct_1',
      environment: 'live',
      surface: 'retail',
      name: 'cron',
      hint: `live_sk_…${apiKey.slice(-4)}`,
      createdAt: new Date(time.now()),
      expiresAt: new Date(time.now() + 90 * DAY),
    });
    const dump = JSON.stringify(store.dump());
    expect(dump).toContain(await sha256Hex(apiKey));
    expect(dump).not.toContain(apiKey.slice(8));
  });

  it('issues distinct keys every time', async () => {
    const { manager } = await setup();
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) keys.add((await manager.issue({ accountId: 'acct_1', environment: 'test' })).apiKey);
    expect(keys.size).toBe(50);
  });

  it('honours keyTtlDays', async () => {
    const { manager, time } = await setup(30);
    const { key } = await manager.issue({ accountId: 'acct_1', environment: 'test' });
    expect(key.expiresAt.getTime()).toBe(time.now() + 30 * DAY);
    expect(() => createKeyManager({ store: new MemoryKeyStore(), keyTtlDays: 0 })).toThrow(/keyTtlDays/);
  });

  it('refuses a free account with PREMIUM_REQUIRED and an unprovisioned enterprise key with ENTERPRISE_ONLY', async () => {
    const { manager } = await setup();
    await manager.putAccount({ id: 'acct_free', tier: 'free' });
    expect(await failure(manager.issue({ accountId: 'acct_free', environment: 'live' }))).toBe('PREMIUM_REQUIRED');
    expect(await failure(manager.issue({ accountId: 'acct_1', environment: 'live', surface: 'enterprise' }))).toBe('ENTERPRISE_ONLY');
    await manager.putAccount({ id: 'acct_1', tier: 'premium', enterprise: true });
    expect((await manager.issue({ accountId: 'acct_1', environment: 'live', surface: 'enterprise' })).key.surface).toBe('enterprise');
  });

  it('refuses unknown accounts and keys, and bad input, with stable codes', async () => {
    const { manager } = await setup();
    expect(await failure(manager.issue({ accountId: 'nobody', environment: 'live' }))).toBe('ACCOUNT_NOT_FOUND');
    expect(await failure(manager.revoke('key_nope'))).toBe('KEY_NOT_FOUND');
    expect(await failure(manager.rotate('key_nope'))).toBe('KEY_NOT_FOUND');
    expect(await failure(manager.issue({ accountId: 'acct_1', environment: 'prod' as never }))).toBe('INVALID_INPUT');
    expect(await failure(manager.putAccount({ id: 'acct_1', tier: 'gold' as never }))).toBe('INVALID_INPUT');
    expect(await failure(manager.putAccount({ id: '', tier: 'premium' }))).toBe('INVALID_INPUT');
    expect(await failure(manager.issue({ accountId: 'acct_1', environment: 'live', name: 'a\nb' }))).toBe('INVALID_INPUT');
  });

  it('keeps provisioning when an account is updated without it', async () => {
    const { manager } = await setup();
    await manager.putAccount({ id: 'acct_e', tier: 'premium', enterprise: true });
    expect(await manager.putAccount({ id: 'acct_e', tier: 'accountant_pro' })).toEqual({ id: 'acct_e', tier: 'accountant_pro', enterprise: true });
  });

  it('rotates into a new key like the old one, both valid until the old is revoked', async () => {
    const { manager, time } = await setup();
    const old = await manager.issue({ accountId: 'acct_1', environment: 'live', name: 'shopify' });
    time.advance(80 * DAY);
    const fresh = await manager.rotate(old.key.id);
    expect(fresh.apiKey).not.toBe(old.apiKey);
    expect(fresh.key).toMatchObject({ accountId: 'acct_1', environment: 'live', surface: 'retail', name: 'shopify' });
    expect(fresh.key.expiresAt.getTime()).toBe(time.now() + 90 * DAY);
    expect((await manager.list('acct_1')).map((k) => [k.id, k.revokedAt])).toEqual([
      [old.key.id, undefined],
      [fresh.key.id, undefined],
    ]);
    await manager.revoke(old.key.id);
    const listed = await manager.list('acct_1');
    expect(listed[0]?.revokedAt).toEqual(new Date(time.now()));
    expect(listed[1]?.revokedAt).toBeUndefined();
  });

  it('lists unrevoked keys expiring within a number of days', async () => {
    const { manager, time } = await setup();
    const soon = await manager.issue({ accountId: 'acct_1', environment: 'live' });
    time.advance(10 * DAY);
    await manager.issue({ accountId: 'acct_1', environment: 'live' });
    const revoked = await manager.issue({ accountId: 'acct_1', environment: 'live' });
    await manager.revoke(revoked.key.id);
    time.advance(75 * DAY); // `soon` expires in 5 days, the others in 15
    expect((await manager.expiring(7)).map((k) => k.id)).toEqual([soon.key.id]);
    expect(await manager.expiring(16)).toHaveLength(2);
    time.advance(5 * DAY);
    expect((await manager.expiring(7)).map((k) => k.id)).toEqual([]); // expired keys are no longer "expiring"
  });
});

describe('key manager errors', () => {
  it('never echo a key pasted where an id belongs, but do name a real id', async () => {
    const { manager } = await setup();
    const { apiKey } = await manager.issue({ accountId: 'acct_1', environment: 'live' });
    for (const attempt of [manager.revoke(apiKey), manager.rotate(apiKey), manager.list(apiKey), manager.issue({ accountId: apiKey, environment: 'live' })]) {
      const error = await attempt.then(() => undefined, (e: Error) => e);
      expect(error?.message).not.toContain(apiKey.slice(8, 20));
    }
    const error = await manager.revoke('key_0123456789abcdef01234567').catch((e: Error) => e);
    expect(error?.message).toContain('"key_0123456789abcdef01234567"');
  });
});
