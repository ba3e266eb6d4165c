// The KeyStore conformance suite: any store, ours or a third party's, must pass it (vitest).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticator';
import { createKeyManager } from './key-manager';
import { generateApiKey, generateKeyId, keyHint, sha256Hex } from './keys';
import type { KeyStore, StoreEvent } from './store';
import type { StoredKey } from './types';

export interface StoreHarness {
  /**
   * Opens a store on the suite's database. Called more than once, it must return a new instance on the same
   * data (a second gateway) where the store supports that, or the same instance for a store that lives in memory.
   */
  open(): Promise<KeyStore> | KeyStore;
  /** Every stored byte as text (all rows, all values), to prove no plaintext key is at rest. */
  raw(): Promise<string>;
  /** Longest time a change made through one instance may take to reach another, in ms. Default: 0 (in-process only). */
  propagationMs?: number;
  /** Drops what the suite created. Stores opened through `open` are closed by the suite first. */
  cleanup?(): Promise<void>;
}

const DAY = 24 * 60 * 60 * 1000;

async function eventually(check: () => Promise<boolean> | boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + Math.max(withinMs, 0);
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Registers the conformance tests for one store. `setup` runs once, before them. */
export function describeKeyStoreConformance(name: string, setup: () => Promise<StoreHarness> | StoreHarness): void {
  describe(`KeyStore conformance: ${name}`, () => {
    let harness: StoreHarness;
    let store: KeyStore;
    const opened: KeyStore[] = [];
    const run = Math.random().toString(36).slice(2, 10);
    const accountId = (label: string) => `conf-${run}-${label}`;

    const open = async () => {
      const instance = await harness.open();
      if (!opened.includes(instance)) opened.push(instance);
      return instance;
    };

    beforeAll(async () => {
      harness = await setup();
      store = await open();
    });

    afterAll(async () => {
      for (const instance of opened) await instance.close();
      await harness?.cleanup?.();
    });

    it('round-trips accounts, and replaces one on a second put', async () => {
      const id = accountId('acct');
      expect(await store.getAccount(id)).toBeNull();
      await store.putAccount({ id, tier: 'premium', enterprise: false });
      expect(await store.getAccount(id)).toEqual({ id, tier: 'premium', enterprise: false });
      await store.putAccount({ id, tier: 'accountant_pro', enterprise: true });
      expect(await store.getAccount(id)).toEqual({ id, tier: 'accountant_pro', enterprise: true });
    });

    it('returns key and account together from one lookup by hash, every field intact', async () => {
      const id = accountId('lookup');
      await store.putAccount({ id, tier: 'premium', enterprise: true });
      const apiKey = generateApiKey('live');
      const key: StoredKey = {
        id: generateKeyId(),
        accountId: id,
        hash: await sha256Hex(apiKey),
        hint: keyHint(apiKey),
        environment: 'live',
        surface: 'enterprise',
        name: 'shopify — main store',
        createdAt: 1_700_000_000_123,
        expiresAt: 1_700_000_000_123 + 90 * DAY,
      };
      await store.insertKey(key);
      expect(await store.findByHash(key.hash)).toEqual({ key, account: { id, tier: 'premium', enterprise: true } });
      expect(await store.getKey(key.id)).toEqual(key);
      expect(await store.findByHash(await sha256Hex(generateApiKey('live')))).toBeNull();
      expect(await store.getKey(generateKeyId())).toBeNull();
    });

    it('refuses a second key with the same id or hash', async () => {
      const id = accountId('dup');
      await store.putAccount({ id, tier: 'premium', enterprise: false });
      const apiKey = generateApiKey('test');
      const key: StoredKey = {
        id: generateKeyId(), accountId: id, hash: await sha256Hex(apiKey), hint: keyHint(apiKey),
        environment: 'test', surface: 'retail', createdAt: 1, expiresAt: 2,
      };
      await store.insertKey(key);
      await expect(store.insertKey({ ...key, id: generateKeyId() })).rejects.toThrow();
      await expect(store.insertKey({ ...key, hash: await sha256Hex(generateApiKey('test')) })).rejects.toThrow();
    });

    it('revokes once: a second revoke keeps the first time', async () => {
      const manager = createKeyManager({ store });
      const id = accountId('revoke');
      await manager.putAccount({ id, tier: 'premium' });
      const { key } = await manager.issue({ accountId: id, environment: 'live' });
      const first = await store.revokeKey(key.id, 1_000);
      expect(first?.revokedAt).toBe(1_000);
      const second = await store.revokeKey(key.id, 2_000);
      expect(second?.revokedAt).toBe(1_000);
      expect(await store.revokeKey(generateKeyId(), 1_000)).toBeNull();
    });

    it('lists an account\'s keys oldest first, and unrevoked keys expiring in a window soonest first', async () => {
      let clock = 1_800_000_000_000;
      const manager = createKeyManager({ store, now: () => clock });
      const id = accountId('list');
      await manager.putAccount({ id, tier: 'accountant_pro' });
      const a = await manager.issue({ accountId: id, environment: 'live', name: 'a' });
      clock += DAY;
      const b = await manager.issue({ accountId: id, environment: 'test', name: 'b' });
      clock += DAY;
      const c = await manager.issue({ accountId: id, environment: 'live', name: 'c' });
      await manager.revoke(c.key.id);
      expect((await manager.list(id)).map((k) => k.name)).toEqual(['a', 'b', 'c']);
      const window = await store.listExpiring(1_800_000_000_000 + 89 * DAY, 1_800_000_000_000 + 92 * DAY);
      const mine = window.filter((k) => k.accountId === id).map((k) => k.id);
      expect(mine).toEqual([a.key.id, b.key.id]);
      const narrower = await store.listExpiring(1_800_000_000_000 + 90 * DAY, 1_800_000_000_000 + 92 * DAY);
      expect(narrower.filter((k) => k.accountId === id).map((k) => k.id)).toEqual([b.key.id]);
    });

    it('tells in-process subscribers of new keys, revocations and account changes before the write resolves', async () => {
      const events: StoreEvent[] = [];
      const stop = store.subscribe((event) => events.push(event));
      const manager = createKeyManager({ store });
      const id = accountId('events');
      await manager.putAccount({ id, tier: 'premium' });
      expect(events).toContainEqual({ type: 'account-changed', accountId: id });
      const apiKey = generateApiKey('live');
      const hash = await sha256Hex(apiKey);
      await store.insertKey({
        id: generateKeyId(), accountId: id, hash, hint: keyHint(apiKey), environment: 'live', surface: 'retail',
        createdAt: 1, expiresAt: Date.now() + DAY,
      });
      expect(events).toContainEqual({ type: 'key-changed', keyHash: hash });
      const issued = await manager.issue({ accountId: id, environment: 'test' });
      events.length = 0;
      await manager.revoke(issued.key.id);
      expect(events).toContainEqual({ type: 'key-changed', keyHash: await sha256Hex(issued.apiKey) });
      stop();
      events.length = 0;
      await manager.putAccount({ id, tier: 'accountant_pro' });
      expect(events.filter((e) => e.type !== 'reset')).toEqual([]);
    });

    it('keeps no plaintext key at rest: only digests and hints', async () => {
      const manager = createKeyManager({ store });
      const id = accountId('plain');
      await manager.putAccount({ id, tier: 'premium', enterprise: true });
      const issued = [
        await manager.issue({ accountId: id, environment: 'live', name: 'x' }),
        await manager.issue({ accountId: id, environment: 'test', surface: 'enterprise' }),
      ];
      issued.push(await manager.rotate(issued[0]!.key.id));
      const raw = await harness.raw();
      for (const { apiKey } of issued) {
        expect(raw).toContain(await sha256Hex(apiKey));
        expect(raw).not.toContain(apiKey);
        expect(raw).not.toContain(apiKey.slice(8)); // the secret part, with or without its prefix
        expect(raw).not.toContain(apiKey.slice(8, 40));
      }
    });

    it('lets a new key through even when its hash was just cached as unknown', async () => {
      const authenticator = createAuthenticator({ store });
      try {
        const id = accountId('negative');
        await store.putAccount({ id, tier: 'premium', enterprise: false });
        const apiKey = generateApiKey('live');
        const first = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
        expect(first.ok).toBe(false);
        await store.insertKey({
          id: generateKeyId(), accountId: id, hash: await sha256Hex(apiKey), hint: keyHint(apiKey), environment: 'live',
          surface: 'retail', createdAt: Date.now(), expiresAt: Date.now() + DAY,
        });
        const second = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
        expect(second.ok).toBe(true);
      } finally {
        await authenticator.close();
      }
    });

    it('carries revocations, downgrades and deprovisioning to another instance\'s warm cache', async () => {
      const other = await open();
      const bound = other === store ? 0 : (harness.propagationMs ?? 0);
      const authenticator = createAuthenticator({ store: other });
      const manager = createKeyManager({ store });
      const id = accountId('fleet');
      try {
        await manager.putAccount({ id, tier: 'premium', enterprise: true });
        const revoked = await manager.issue({ accountId: id, environment: 'live' });
        const kept = await manager.issue({ accountId: id, environment: 'live', surface: 'enterprise' });
        const ask = (apiKey: string, module?: string) =>
          authenticator.authenticate(module ? { authorization: `Bearer ${apiKey}`, module } : { authorization: `Bearer ${apiKey}` });
        expect((await ask(revoked.apiKey)).ok).toBe(true);
        expect((await ask(kept.apiKey, 'payments')).ok).toBe(true);

        await manager.revoke(revoked.key.id);
        expect(await eventually(async () => !(await ask(revoked.apiKey)).ok, bound + 50)).toBe(true);

        await manager.putAccount({ id, tier: 'premium', enterprise: false });
        const deprovisioned = async () => {
          const result = await ask(kept.apiKey, 'payments');
          return !result.ok && result.error.code === 'ENTERPRISE_ONLY';
        };
        expect(await eventually(deprovisioned, bound + 50)).toBe(true);

        await manager.putAccount({ id, tier: 'free' });
        const downgraded = async () => {
          const result = await ask(kept.apiKey);
          return !result.ok && result.error.code === 'PREMIUM_REQUIRED';
        };
        expect(await eventually(downgraded, bound + 50)).toBe(true);
      } finally {
        await authenticator.close();
      }
    });
  });
}
