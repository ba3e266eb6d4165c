// Key administration: issuing by the tier and provisioning rules, rotation, revocation, listing, expiry windows.

import { describe, expect, it } from 'vitest';
import { API_KEY_PATTERN, createKeyManager, KeyManagerError, MemoryKeyStore, sha256Hex, type KeyStore } from '../src/index';
import { clock, DAY } from './fixtures';

async function setup(keyTtlDays?: number) {
  const store = new MemoryKeyStore();
  const time = clock();
  const manager = createKeyManager(keyTtlDays === undefined ? { store, now: time.now } : { store, now: time.now, keyTtlDays });
  await manager.putAccount({ id: 'acct_1', tier: 'premium' });
  return { store, time, manager };
}

/** A v1 store: only the methods a v1 KeyStore has, over a MemoryKeyStore. */
function v1Store(): KeyStore {
  const store = new MemoryKeyStore();
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
      scopes: ['write'],
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

describe('key manager v2: scopes', () => {
  it('stores normalised scopes, full access as absent, and shows full access as ["write"]', async () => {
    const { manager, store } = await setup();
    const scoped = await manager.issue({ accountId: 'acct_1', environment: 'live', scopes: ['invoices:read', 'read', 'customers:write', 'customers:read'] });
    expect(scoped.key.scopes).toEqual(['read', 'customers:write']);
    const full = await manager.issue({ accountId: 'acct_1', environment: 'live', scopes: ['write', 'invoices:read'] });
    expect(full.key.scopes).toEqual(['write']);
    const plain = await manager.issue({ accountId: 'acct_1', environment: 'live' });
    const stored = new Map(store.dump().keys.map((key) => [key.id, key]));
    expect(stored.get(scoped.key.id)?.scopes).toEqual(['read', 'customers:write']);
    expect(stored.get(full.key.id)).not.toHaveProperty('scopes');
    expect(stored.get(plain.key.id)).not.toHaveProperty('scopes');
    expect((await manager.list('acct_1')).map((key) => key.scopes)).toEqual([['read', 'customers:write'], ['write'], ['write']]);
  });

  it('refuses unknown modules, malformed and empty scope lists with INVALID_SCOPE, issuing nothing', async () => {
    const { manager } = await setup();
    for (const scopes of [['banking:read'], ['invoices:admin'], ['READ'], ['invoices'], [], 'read' as never, [42 as never]]) {
      expect(await failure(manager.issue({ accountId: 'acct_1', environment: 'live', scopes }))).toBe('INVALID_SCOPE');
    }
    expect(await manager.list('acct_1')).toEqual([]);
  });

  it('rotates a scoped key into one with the same scopes, and refuses to rotate a revoked key', async () => {
    const { manager } = await setup();
    const old = await manager.issue({ accountId: 'acct_1', environment: 'test', scopes: ['invoices:write'] });
    expect((await manager.rotate(old.key.id)).key.scopes).toEqual(['invoices:write']);
    await manager.revoke(old.key.id);
    expect(await failure(manager.rotate(old.key.id))).toBe('KEY_REVOKED');
  });

  it('never hands out a scoped key on a store that drops scopes', async () => {
    class ForgetfulStore extends MemoryKeyStore {
      override async insertKey(key: Parameters<MemoryKeyStore['insertKey']>[0]) {
        const { scopes: _dropped, ...v1 } = key;
        return super.insertKey(v1);
      }
    }
    const store = new ForgetfulStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct_1', tier: 'premium' });
    expect(await failure(manager.issue({ accountId: 'acct_1', environment: 'live', scopes: ['read'] }))).toBe('NOT_SUPPORTED');
    expect((await manager.list('acct_1')).every((key) => key.revokedAt !== undefined)).toBe(true);
  });
});

describe('key manager v2: updateAccount', () => {
  it('changes only the named fields and reports unknown accounts', async () => {
    const { manager, store } = await setup();
    await manager.putAccount({ id: 'acct_e', tier: 'premium', enterprise: true });
    expect(await manager.updateAccount('acct_e', { tier: 'accountant_pro' })).toEqual({ id: 'acct_e', tier: 'accountant_pro', enterprise: true });
    expect(await manager.updateAccount('acct_e', { enterprise: false })).toEqual({ id: 'acct_e', tier: 'accountant_pro', enterprise: false });
    expect(await store.getAccount('acct_e')).toEqual({ id: 'acct_e', tier: 'accountant_pro', enterprise: false });
    expect(await failure(manager.updateAccount('nobody', { tier: 'free' }))).toBe('ACCOUNT_NOT_FOUND');
    expect(await failure(manager.updateAccount('acct_e', { tier: 'gold' as never }))).toBe('INVALID_INPUT');
  });

  it('does not lose either of two concurrent updates to different fields', async () => {
    const { manager, store } = await setup();
    await Promise.all([manager.updateAccount('acct_1', { tier: 'accountant_pro' }), manager.updateAccount('acct_1', { enterprise: true })]);
    expect(await store.getAccount('acct_1')).toEqual({ id: 'acct_1', tier: 'accountant_pro', enterprise: true });
  });

  it('falls back to read-and-write on a v1 store without updateAccount', async () => {
    const manager = createKeyManager({ store: v1Store() });
    await manager.putAccount({ id: 'acct_1', tier: 'premium', enterprise: true });
    expect(await manager.updateAccount('acct_1', { tier: 'free' })).toEqual({ id: 'acct_1', tier: 'free', enterprise: true });
    expect(await failure(manager.updateAccount('nobody', { tier: 'free' }))).toBe('ACCOUNT_NOT_FOUND');
  });
});

describe('key manager v2: service accounts', () => {
  async function enterpriseSetup() {
    const context = await setup();
    await context.manager.putAccount({ id: 'acct_ent', tier: 'accountant_pro', enterprise: true });
    return context;
  }

  it('creates one with a client id, a secret shown once under its own prefix, stored as digest and hint, expiring in 90 days', async () => {
    const { manager, store, time } = await enterpriseSetup();
    const created = await manager.createServiceAccount({ accountId: 'acct_ent', environment: 'live', name: 'erp', scopes: ['payments:read'] });
    expect(created.clientId).toMatch(/^sa_[0-9a-f]{24}$/);
    expect(created.clientSecret).toMatch(/^live_cs_[0-9a-f]{48}$/);
    expect(created.serviceAccount).toEqual({
      clientId: created.clientId,
      accountId: 'acct_ent',
      environment: 'live',
      name: 'erp',
      scopes: ['payments:read'],
      secretHint: `live_cs_…${created.clientSecret.slice(-4)}`,
      createdAt: new Date(time.now()),
      expiresAt: new Date(time.now() + 90 * DAY),
    });
    const dump = JSON.stringify(store.dump());
    expect(dump).toContain(await sha256Hex(created.clientSecret));
    expect(dump).not.toContain(created.clientSecret.slice(8));
    expect(await manager.listServiceAccounts('acct_ent')).toEqual([created.serviceAccount]);
  });

  it('is for enterprise-provisioned paying accounts only, with valid scopes', async () => {
    const { manager } = await enterpriseSetup();
    await manager.putAccount({ id: 'acct_free', tier: 'free', enterprise: true });
    expect(await failure(manager.createServiceAccount({ accountId: 'acct_free', environment: 'live' }))).toBe('PREMIUM_REQUIRED');
    expect(await failure(manager.createServiceAccount({ accountId: 'acct_1', environment: 'live' }))).toBe('ENTERPRISE_ONLY');
    expect(await failure(manager.createServiceAccount({ accountId: 'acct_ent', environment: 'live', scopes: ['x:read'] }))).toBe('INVALID_SCOPE');
    expect(await failure(manager.createServiceAccount({ accountId: 'nobody', environment: 'live' }))).toBe('ACCOUNT_NOT_FOUND');
    expect(await manager.listServiceAccounts('acct_ent')).toEqual([]);
  });

  it('rotates the secret (new secret, later secretCreatedAt, new expiry) and refuses once revoked', async () => {
    const { manager, store, time } = await enterpriseSetup();
    const created = await manager.createServiceAccount({ accountId: 'acct_ent', environment: 'test' });
    const before = store.dump().serviceAccounts[0]!;
    time.advance(DAY);
    const rotated = await manager.rotateServiceAccountSecret(created.clientId);
    expect(rotated.clientSecret).toMatch(/^test_cs_[0-9a-f]{48}$/);
    expect(rotated.clientSecret).not.toBe(created.clientSecret);
    expect(rotated.serviceAccount.expiresAt).toEqual(new Date(time.now() + 90 * DAY));
    const after = store.dump().serviceAccounts[0]!;
    expect(after.secretHash).toBe(await sha256Hex(rotated.clientSecret));
    expect(after.secretCreatedAt).toBe(time.now());
    // Even on a clock that has not moved, a rotation moves secretCreatedAt on, so older tokens end.
    await manager.rotateServiceAccountSecret(created.clientId);
    expect(store.dump().serviceAccounts[0]!.secretCreatedAt).toBeGreaterThan(after.secretCreatedAt);
    expect(after.secretCreatedAt).toBeGreaterThan(before.secretCreatedAt);
    await manager.revokeServiceAccount(created.clientId);
    expect((await manager.listServiceAccounts('acct_ent'))[0]?.revokedAt).toEqual(new Date(time.now()));
    expect(await failure(manager.rotateServiceAccountSecret(created.clientId))).toBe('SERVICE_ACCOUNT_REVOKED');
    expect(await failure(manager.rotateServiceAccountSecret('sa_000000000000000000000000'))).toBe('SERVICE_ACCOUNT_NOT_FOUND');
    expect(await failure(manager.revokeServiceAccount('sa_000000000000000000000000'))).toBe('SERVICE_ACCOUNT_NOT_FOUND');
  });

  it('gives NOT_SUPPORTED on a store without the v2 methods', async () => {
    const manager = createKeyManager({ store: v1Store() });
    await manager.putAccount({ id: 'acct_ent', tier: 'premium', enterprise: true });
    expect(await failure(manager.createServiceAccount({ accountId: 'acct_ent', environment: 'live' }))).toBe('NOT_SUPPORTED');
    expect(await failure(manager.rotateServiceAccountSecret('sa_1'))).toBe('NOT_SUPPORTED');
    expect(await failure(manager.revokeServiceAccount('sa_1'))).toBe('NOT_SUPPORTED');
    expect(await failure(manager.listServiceAccounts('acct_ent'))).toBe('NOT_SUPPORTED');
  });

  it('never echoes a client secret pasted where a client id belongs', async () => {
    const { manager } = await enterpriseSetup();
    const { clientSecret } = await manager.createServiceAccount({ accountId: 'acct_ent', environment: 'live' });
    for (const attempt of [manager.rotateServiceAccountSecret(clientSecret), manager.revokeServiceAccount(clientSecret)]) {
      const error = await attempt.then(() => undefined, (e: Error) => e);
      expect(error?.message).not.toContain(clientSecret.slice(8, 20));
    }
  });
});
