// MemoryKeyStore's own behaviour beyond the shared kits (those run in conformance.test.ts): v2 data kept as copies.

import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../src/memory-store';
import type { StoreEvent } from '../src/store';
import type { StoredServiceAccount } from '../src/types';

describe('MemoryKeyStore v2 data', () => {
  const serviceAccount = (): StoredServiceAccount => ({
    clientId: 'sa_0123456789abcdef01234567',
    accountId: 'acct_ent',
    secretHash: 'a'.repeat(64),
    secretHint: 'live_cs_…abcd',
    environment: 'live',
    scopes: ['payments:read'],
    createdAt: 1,
    secretCreatedAt: 1,
    expiresAt: 10,
  });

  it('keeps service accounts as copies, emits service-account-changed, and dumps them', async () => {
    const store = new MemoryKeyStore();
    const events: StoreEvent[] = [];
    store.subscribe((event) => events.push(event));
    await store.putAccount({ id: 'acct_ent', tier: 'premium', enterprise: true });
    const input = serviceAccount();
    await store.insertServiceAccount(input);
    input.scopes!.push('write');
    const found = await store.findServiceAccount(input.clientId);
    expect(found?.serviceAccount.scopes).toEqual(['payments:read']);
    found!.serviceAccount.scopes!.push('write');
    expect((await store.listServiceAccounts('acct_ent'))[0]?.scopes).toEqual(['payments:read']);
    await expect(store.insertServiceAccount(serviceAccount())).rejects.toThrow(/already stored/);

    const replaced = await store.replaceServiceAccountSecret(input.clientId, {
      secretHash: 'b'.repeat(64), secretHint: 'live_cs_…efgh', secretCreatedAt: 5, expiresAt: 20,
    });
    expect(replaced).toMatchObject({ secretHash: 'b'.repeat(64), secretCreatedAt: 5, expiresAt: 20 });
    expect((await store.revokeServiceAccount(input.clientId, 7))?.revokedAt).toBe(7);
    expect((await store.revokeServiceAccount(input.clientId, 9))?.revokedAt).toBe(7);
    expect(await store.replaceServiceAccountSecret(input.clientId, {
      secretHash: 'c'.repeat(64), secretHint: 'x', secretCreatedAt: 8, expiresAt: 30,
    })).toBeNull();
    expect(await store.findServiceAccount('sa_unknown')).toBeNull();
    expect(events.filter((event) => event.type === 'service-account-changed')).toHaveLength(3);
    expect(store.dump().serviceAccounts).toEqual([expect.objectContaining({ clientId: input.clientId, revokedAt: 7 })]);
  });

  it('updates only the named account fields, and keeps signing keys, retiring each once', async () => {
    const store = new MemoryKeyStore();
    await store.putAccount({ id: 'a', tier: 'premium', enterprise: true });
    expect(await store.updateAccount('a', { tier: 'free' })).toEqual({ id: 'a', tier: 'free', enterprise: true });
    expect(await store.updateAccount('nobody', { tier: 'free' })).toBeNull();
    await store.insertSigningKey({ kid: 'k2', alg: 'ES256', publicJwk: '{}', encryptedPrivateKey: 'x', createdAt: 2 });
    await store.insertSigningKey({ kid: 'k1', alg: 'ES256', publicJwk: '{}', encryptedPrivateKey: 'y', createdAt: 1 });
    await expect(store.insertSigningKey({ kid: 'k1', alg: 'ES256', publicJwk: '{}', encryptedPrivateKey: 'z', createdAt: 3 })).rejects.toThrow();
    expect((await store.retireSigningKey('k1', 5))?.retiredAt).toBe(5);
    expect((await store.retireSigningKey('k1', 6))?.retiredAt).toBe(5);
    expect(await store.retireSigningKey('nope', 6)).toBeNull();
    expect((await store.listSigningKeys()).map((key) => key.kid)).toEqual(['k1', 'k2']);
    expect(store.dump().signingKeys).toHaveLength(2);
  });
});
