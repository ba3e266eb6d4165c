// The KeyStore conformance suite: any store, ours or a third party's, must pass it (vitest).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticator';
import { createKeyManager } from './key-manager';
import { generateApiKey, generateClientId, generateClientSecret, generateKeyId, keyHint, sha256Hex } from './keys';
import type { KeyStore, StoreEvent } from './store';
import { eventually } from './testing-eventually';
import type { Environment, StoredKey, StoredServiceAccount, StoredSigningKey } from './types';

export { eventually } from './testing-eventually';
export { tapStore, type LookupBehaviour, type StoreTap, type TappedStore } from './testing-store';
export { describeMeteringChecks, type MeteringHarness } from './testing-metering';
export { expectPartitionBound, type PartitionHarness } from './testing-partition';

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
  /**
   * For a read-only store (such as `HttpKeyStore`, whose writes belong to the gateway's store): a store on the
   * same data that takes the suite's writes and administrative reads. Each instance `open()` returns is then asked
   * only `findByHash`, `findServiceAccount` and `subscribe`, everything else going to `writer`; except that the
   * suite's first instance hears events from `writer` (the administrator's own process), so events reach a
   * read-only instance only across instances, within `propagationMs`. The harness closes `writer` in `cleanup`.
   */
  writer?: KeyStore;
}

/** A read-only store made whole for the suite: reads by digest and client id from `reader`, the rest from `writer`. */
function throughWriter(writer: KeyStore, reader: KeyStore, events: KeyStore): KeyStore {
  return new Proxy(writer, {
    get(target, property) {
      if (property === 'findByHash' || property === 'findServiceAccount') return reader[property]?.bind(reader);
      if (property === 'subscribe') return events.subscribe.bind(events);
      if (property === 'close') return () => reader.close();
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const DAY = 24 * 60 * 60 * 1000;


const V2_METHODS = [
  'updateAccount',
  'findServiceAccount',
  'insertServiceAccount',
  'replaceServiceAccountSecret',
  'revokeServiceAccount',
  'listServiceAccounts',
  'listSigningKeys',
  'insertSigningKey',
  'retireSigningKey',
] as const;

type V2Store = KeyStore & Required<Pick<KeyStore, (typeof V2_METHODS)[number]>>;

const CREDIT_METHODS = [
  'updateAccount',
  'listAccounts',
  'grantCredits',
  'setCreditRefill',
  'getCredits',
  'unmeter',
  'takeCredits',
  'returnCredits',
  'addUsage',
  'listUsage',
  'incrementRateWindow',
] as const;

type CreditStore = KeyStore & Required<Pick<KeyStore, (typeof CREDIT_METHODS)[number]>>;

/** The store, typed with its credit, usage and rate-limit methods; the test fails with their names when it lacks any. */
function metering(store: KeyStore): CreditStore {
  const missing = CREDIT_METHODS.filter((method) => typeof store[method] !== 'function');
  if (missing.length > 0) throw new Error(`finora-auth conformance: the store lacks the v2 methods ${missing.join(', ')}`);
  return store as CreditStore;
}

/** The store, typed with its v2 methods; the test fails with their names when it lacks any. */
function v2(store: KeyStore): V2Store {
  const missing = V2_METHODS.filter((method) => typeof store[method] !== 'function');
  if (missing.length > 0) throw new Error(`finora-auth conformance: the store lacks the v2 methods ${missing.join(', ')}`);
  return store as V2Store;
}

const clientSecret = (environment: Environment): string => generateClientSecret(environment);

async function serviceAccountFor(
  accountId: string,
  secret: string,
  fields: Partial<StoredServiceAccount> = {},
): Promise<StoredServiceAccount> {
  return {
    clientId: generateClientId(),
    accountId,
    secretHash: await sha256Hex(secret),
    secretHint: keyHint(secret),
    environment: 'live',
    createdAt: 1_700_000_000_000,
    secretCreatedAt: 1_700_000_000_000,
    expiresAt: 1_700_000_000_000 + 90 * DAY,
    ...fields,
  };
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
      let instance = await harness.open();
      if (harness.writer) instance = throughWriter(harness.writer, instance, opened.length === 0 ? harness.writer : instance);
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
        await eventually(async () => !(await ask(revoked.apiKey)).ok, bound + 50);

        await manager.putAccount({ id, tier: 'premium', enterprise: false });
        const deprovisioned = async () => {
          const result = await ask(kept.apiKey, 'payments');
          return !result.ok && result.error.code === 'ENTERPRISE_ONLY';
        };
        await eventually(deprovisioned, bound + 50);

        await manager.putAccount({ id, tier: 'free' });
        const downgraded = async () => {
          const result = await ask(kept.apiKey);
          return !result.ok && result.error.code === 'PREMIUM_REQUIRED';
        };
        await eventually(downgraded, bound + 50);
      } finally {
        await authenticator.close();
      }
    });

    // v2: scopes, atomic account updates, service accounts, signing keys.

    it('(v2) keeps a key\'s scopes through every read, and a key without scopes stays without', async () => {
      const id = accountId('scopes');
      await store.putAccount({ id, tier: 'premium', enterprise: false });
      const keyFor = async (apiKey: string, scopes?: string[]): Promise<StoredKey> => ({
        id: generateKeyId(), accountId: id, hash: await sha256Hex(apiKey), hint: keyHint(apiKey), environment: 'live',
        surface: 'retail', createdAt: 1_700_000_000_000, expiresAt: 1_700_000_000_000 + 90 * DAY,
        ...(scopes ? { scopes } : {}),
      });
      const scoped = await keyFor(generateApiKey('live'), ['invoices:read', 'reports:write', 'read']);
      const full = await keyFor(generateApiKey('live'));
      await store.insertKey(scoped);
      await store.insertKey(full);
      expect((await store.findByHash(scoped.hash))?.key).toEqual(scoped);
      expect(await store.getKey(scoped.id)).toEqual(scoped);
      expect((await store.listKeys(id)).find((k) => k.id === scoped.id)).toEqual(scoped);
      for (const read of [(await store.findByHash(full.hash))?.key, await store.getKey(full.id), (await store.listKeys(id)).find((k) => k.id === full.id)]) {
        expect(read).toEqual(full);
        expect(read).not.toHaveProperty('scopes');
      }
    });

    it('(v2) updateAccount changes only the fields it names, answers null for an unknown account, and tells subscribers', async () => {
      const s = v2(store);
      const id = accountId('update');
      await s.putAccount({ id, tier: 'premium', enterprise: false });
      const events: StoreEvent[] = [];
      const stop = s.subscribe((event) => events.push(event));
      try {
        expect(await s.updateAccount(id, { tier: 'accountant_pro' })).toEqual({ id, tier: 'accountant_pro', enterprise: false });
        expect(events).toContainEqual({ type: 'account-changed', accountId: id });
        expect(await s.updateAccount(id, { enterprise: true })).toEqual({ id, tier: 'accountant_pro', enterprise: true });
        expect(await s.updateAccount(id, { tier: 'free', enterprise: false })).toEqual({ id, tier: 'free', enterprise: false });
        expect(await s.getAccount(id)).toEqual({ id, tier: 'free', enterprise: false });
        const unknown = accountId('update-unknown');
        events.length = 0;
        expect(await s.updateAccount(unknown, { tier: 'premium' })).toBeNull();
        expect(await s.getAccount(unknown)).toBeNull();
        // Only this id: the store may still hear its own earlier PUBLISH about the known account (a cluster bus is slower).
        expect(events.filter((e) => e.type === 'account-changed' && e.accountId === unknown)).toEqual([]);
      } finally {
        stop();
      }
    });

    it('(v2) concurrent updateAccount calls on different fields, from two instances, never undo each other', async () => {
      const one = v2(store);
      const two = v2(await open());
      const ids = Array.from({ length: 25 }, (_, i) => accountId(`race-${i}`));
      for (let round = 0; round < 4; round += 1) {
        await Promise.all(ids.map((id) => one.putAccount({ id, tier: 'premium', enterprise: false })));
        // Each write answers the account as stored, with its own field changed.
        const writes = ids.flatMap((id, i) => {
          const tier = () => one.updateAccount(id, { tier: 'accountant_pro' }).then((a) => a?.tier === 'accountant_pro');
          const enterprise = () => two.updateAccount(id, { enterprise: true }).then((a) => a?.enterprise === true);
          // Alternate which write is sent first.
          return i % 2 === round % 2 ? [tier(), enterprise()] : [enterprise(), tier()];
        });
        expect(await Promise.all(writes)).toEqual(writes.map(() => true));
        const after = await Promise.all(ids.map((id) => one.getAccount(id)));
        expect(after).toEqual(ids.map((id) => ({ id, tier: 'accountant_pro', enterprise: true })));
      }
    });

    it('(v2) stores a service account with digests only, and finds it with its account in one lookup', async () => {
      const s = v2(store);
      const id = accountId('sa');
      await s.putAccount({ id, tier: 'premium', enterprise: true });
      const full = await serviceAccountFor(id, clientSecret('live'), { name: 'erp sync — nightly', scopes: ['payments:read', 'ai:write'] });
      const bare = await serviceAccountFor(id, clientSecret('test'), { environment: 'test' });
      await s.insertServiceAccount(full);
      await s.insertServiceAccount(bare);
      expect(await s.findServiceAccount(full.clientId)).toEqual({ serviceAccount: full, account: { id, tier: 'premium', enterprise: true } });
      const found = await s.findServiceAccount(bare.clientId);
      expect(found?.serviceAccount).toEqual(bare);
      expect(found?.serviceAccount).not.toHaveProperty('scopes');
      expect(found?.serviceAccount).not.toHaveProperty('name');
      expect(found?.serviceAccount).not.toHaveProperty('revokedAt');
      await s.updateAccount(id, { enterprise: false });
      expect((await s.findServiceAccount(full.clientId))?.account).toEqual({ id, tier: 'premium', enterprise: false });
      expect(await s.findServiceAccount(generateClientId())).toBeNull();
      await expect(s.insertServiceAccount({ ...full, secretHash: await sha256Hex(clientSecret('live')) })).rejects.toThrow();
    });

    it('(v2) lists an account\'s service accounts oldest first, and only that account\'s', async () => {
      const s = v2(store);
      const id = accountId('sa-list');
      const other = accountId('sa-list-other');
      await s.putAccount({ id, tier: 'accountant_pro', enterprise: true });
      await s.putAccount({ id: other, tier: 'accountant_pro', enterprise: true });
      const middle = await serviceAccountFor(id, clientSecret('live'), { name: 'b', createdAt: 2_000 });
      const oldest = await serviceAccountFor(id, clientSecret('live'), { name: 'a', createdAt: 1_000 });
      const newest = await serviceAccountFor(id, clientSecret('test'), { name: 'c', createdAt: 3_000, environment: 'test' });
      for (const sa of [middle, oldest, await serviceAccountFor(other, clientSecret('live')), newest]) await s.insertServiceAccount(sa);
      expect(await s.listServiceAccounts(id)).toEqual([oldest, middle, newest]);
      expect(await s.listServiceAccounts(accountId('sa-list-none'))).toEqual([]);
    });

    it('(v2) replaces a service account\'s secret unless it is revoked; revokes once, keeping the first time', async () => {
      const s = v2(store);
      const id = accountId('sa-rotate');
      await s.putAccount({ id, tier: 'premium', enterprise: true });
      const sa = await serviceAccountFor(id, clientSecret('live'), { scopes: ['read'] });
      await s.insertServiceAccount(sa);
      const next = clientSecret('live');
      const secret = { secretHash: await sha256Hex(next), secretHint: keyHint(next), secretCreatedAt: sa.createdAt + DAY, expiresAt: sa.createdAt + 91 * DAY };
      const replaced = await s.replaceServiceAccountSecret(sa.clientId, secret);
      expect(replaced).toEqual({ ...sa, ...secret });
      expect((await s.findServiceAccount(sa.clientId))?.serviceAccount).toEqual({ ...sa, ...secret });
      expect(await s.replaceServiceAccountSecret(generateClientId(), secret)).toBeNull();

      expect((await s.revokeServiceAccount(sa.clientId, 5_000))?.revokedAt).toBe(5_000);
      expect(await s.revokeServiceAccount(sa.clientId, 6_000)).toEqual({ ...sa, ...secret, revokedAt: 5_000 });
      expect(await s.revokeServiceAccount(generateClientId(), 5_000)).toBeNull();
      const late = clientSecret('live');
      const refused = { secretHash: await sha256Hex(late), secretHint: keyHint(late), secretCreatedAt: 9_000, expiresAt: 9_000 + DAY };
      expect(await s.replaceServiceAccountSecret(sa.clientId, refused)).toBeNull();
      expect((await s.findServiceAccount(sa.clientId))?.serviceAccount).toEqual({ ...sa, ...secret, revokedAt: 5_000 });
    });

    it('(v2) tells in-process subscribers of service-account creation, rotation and revocation before the write resolves', async () => {
      const s = v2(store);
      const id = accountId('sa-events');
      await s.putAccount({ id, tier: 'premium', enterprise: true });
      const sa = await serviceAccountFor(id, clientSecret('live'));
      const changed = { type: 'service-account-changed', clientId: sa.clientId };
      const events: StoreEvent[] = [];
      const stop = s.subscribe((event) => events.push(event));
      try {
        await s.insertServiceAccount(sa);
        expect(events).toContainEqual(changed);
        events.length = 0;
        const next = clientSecret('live');
        await s.replaceServiceAccountSecret(sa.clientId, {
          secretHash: await sha256Hex(next), secretHint: keyHint(next), secretCreatedAt: 2, expiresAt: 3,
        });
        expect(events).toContainEqual(changed);
        events.length = 0;
        await s.revokeServiceAccount(sa.clientId, 4);
        expect(events).toContainEqual(changed);
      } finally {
        stop();
      }
    });

    it('(v2) carries service-account changes to another instance\'s subscribers within the propagation bound', async () => {
      const s = v2(store);
      const other = await open();
      const bound = other === store ? 0 : (harness.propagationMs ?? 0);
      const events: StoreEvent[] = [];
      const stop = other.subscribe((event) => events.push(event));
      try {
        const id = accountId('sa-fleet');
        const heard = (event: StoreEvent, withinMs: number) =>
          eventually(() => events.some((e) => JSON.stringify(e) === JSON.stringify(event)), withinMs);
        // A channel still connecting says so at once (`reset`, not live) and says when it listens (`reset`, live):
        // wait for that, then for one event to come through, before timing any.
        const isReset = (live: boolean) => (e: StoreEvent) => e.type === 'reset' && e.live === live;
        if (events.some(isReset(false))) await eventually(() => events.some(isReset(true)), 10_000);
        await s.putAccount({ id, tier: 'premium', enterprise: true });
        await heard({ type: 'account-changed', accountId: id }, 10_000);

        const sa = await serviceAccountFor(id, clientSecret('live'));
        const changed: StoreEvent = { type: 'service-account-changed', clientId: sa.clientId };
        events.length = 0;
        await s.insertServiceAccount(sa);
        await heard(changed, bound + 50);
        events.length = 0;
        const next = clientSecret('live');
        await s.replaceServiceAccountSecret(sa.clientId, {
          secretHash: await sha256Hex(next), secretHint: keyHint(next), secretCreatedAt: 2, expiresAt: 3,
        });
        await heard(changed, bound + 50);
        events.length = 0;
        await s.revokeServiceAccount(sa.clientId, 4);
        await heard(changed, bound + 50);
      } finally {
        stop();
      }
    });

    it('(v2) stores signing keys, lists them oldest first, and retires one once', async () => {
      const s = v2(store);
      const kid = (label: string) => `conf-${run}-${label}`;
      const signing = (label: string, createdAt: number): StoredSigningKey => ({
        kid: kid(label),
        alg: 'ES256',
        publicJwk: JSON.stringify({ kty: 'EC', crv: 'P-256', x: `x-${label}`, y: `y-${label}`, kid: kid(label) }),
        encryptedPrivateKey: `v1.${label}.opaque-ciphertext`,
        createdAt,
      });
      const older = signing('older', 1_000);
      const newer = signing('newer', 2_000);
      await s.insertSigningKey(newer);
      await s.insertSigningKey(older);
      const mine = async () => (await s.listSigningKeys()).filter((k) => k.kid.startsWith(`conf-${run}-`));
      expect(await mine()).toEqual([older, newer]);
      for (const key of await mine()) expect(key).not.toHaveProperty('retiredAt');
      await expect(s.insertSigningKey({ ...older, createdAt: 3_000 })).rejects.toThrow();

      expect(await s.retireSigningKey(older.kid, 5_000)).toEqual({ ...older, retiredAt: 5_000 });
      expect(await s.retireSigningKey(older.kid, 6_000)).toEqual({ ...older, retiredAt: 5_000 });
      expect(await s.retireSigningKey(kid('unknown'), 5_000)).toBeNull();
      expect(await mine()).toEqual([{ ...older, retiredAt: 5_000 }, newer]);
    });

    it('(v2) keeps no plaintext client secret at rest: only digests and hints', async () => {
      let clock = 1_800_000_000_000;
      const manager = createKeyManager({ store, now: () => clock });
      const id = accountId('sa-plain');
      await manager.putAccount({ id, tier: 'premium', enterprise: true });
      const first = await manager.createServiceAccount({ accountId: id, environment: 'live', name: 'warehouse', scopes: ['payments:read'] });
      clock += 1_000;
      const other = await manager.createServiceAccount({ accountId: id, environment: 'test' });
      const rotated = await manager.rotateServiceAccountSecret(first.clientId);
      expect((await manager.listServiceAccounts(id)).map((sa) => [sa.clientId, sa.scopes])).toEqual([
        [first.clientId, ['payments:read']],
        [other.clientId, ['write']],
      ]);
      const raw = await harness.raw();
      expect(raw).toContain(first.clientId);
      for (const secret of [rotated.clientSecret, other.clientSecret]) expect(raw).toContain(await sha256Hex(secret));
      for (const secret of [first.clientSecret, rotated.clientSecret, other.clientSecret]) {
        expect(raw).not.toContain(secret);
        expect(raw).not.toContain(secret.slice(8)); // the secret part, with or without its prefix
        expect(raw).not.toContain(secret.slice(8, 40));
      }
    });

    // v2: rate limits on accounts and keys, accounts listed, credits, refills, usage, shared rate windows.

    it('(v2) keeps rate limits on accounts (put, update, remove) and keys, and reads them with every lookup', async () => {
      const s = metering(store);
      const id = accountId('rate');
      const limit = { requests: 100, perSeconds: 60 };
      await s.putAccount({ id, tier: 'premium', enterprise: false, rateLimit: limit });
      expect(await s.getAccount(id)).toEqual({ id, tier: 'premium', enterprise: false, rateLimit: limit });
      expect(await s.updateAccount(id, { tier: 'accountant_pro' })).toEqual({ id, tier: 'accountant_pro', enterprise: false, rateLimit: limit });
      expect(await s.updateAccount(id, { rateLimit: { requests: 5, perSeconds: 1 } })).toEqual({
        id, tier: 'accountant_pro', enterprise: false, rateLimit: { requests: 5, perSeconds: 1 },
      });
      const removed = await s.updateAccount(id, { rateLimit: null });
      expect(removed).toEqual({ id, tier: 'accountant_pro', enterprise: false });
      expect(removed).not.toHaveProperty('rateLimit');
      await s.updateAccount(id, { rateLimit: limit });
      await s.putAccount({ id, tier: 'premium', enterprise: false });
      expect(await s.getAccount(id)).not.toHaveProperty('rateLimit');

      await s.putAccount({ id, tier: 'premium', enterprise: false, rateLimit: limit });
      const apiKey = generateApiKey('live');
      const key: StoredKey = {
        id: generateKeyId(), accountId: id, hash: await sha256Hex(apiKey), hint: keyHint(apiKey), environment: 'live',
        surface: 'retail', createdAt: 1_700_000_000_000, expiresAt: 1_700_000_000_000 + 90 * DAY, rateLimit: { requests: 7, perSeconds: 2 },
      };
      await s.insertKey(key);
      expect(await s.findByHash(key.hash)).toEqual({ key, account: { id, tier: 'premium', enterprise: false, rateLimit: limit } });
      expect(await s.getKey(key.id)).toEqual(key);
      expect((await s.listKeys(id)).find((k) => k.id === key.id)).toEqual(key);
    });

    it('(v2) lists every account by id, with its rate limit and metering', async () => {
      const s = metering(store);
      const ids = ['c', 'a', 'b'].map((label) => accountId(`listed-${label}`));
      for (const id of ids) await s.putAccount({ id, tier: 'premium', enterprise: false });
      await s.updateAccount(ids[1]!, { rateLimit: { requests: 3, perSeconds: 9 } });
      await s.grantCredits(ids[2]!, 10);
      const mine = (await s.listAccounts()).filter((a) => ids.includes(a.id));
      expect(mine).toEqual([
        { id: ids[1], tier: 'premium', enterprise: false, rateLimit: { requests: 3, perSeconds: 9 } },
        { id: ids[2], tier: 'premium', enterprise: false, metered: true },
        { id: ids[0], tier: 'premium', enterprise: false },
      ]);
      const all = (await s.listAccounts()).map((a) => a.id);
      expect(all).toEqual([...all].sort());
    });

    it('(v2) grants credits: the account becomes metered (read with its keys), putAccount keeps it, unmeter ends it', async () => {
      const s = metering(store);
      const id = accountId('grant');
      await s.putAccount({ id, tier: 'premium', enterprise: false });
      const apiKey = generateApiKey('live');
      const hash = await sha256Hex(apiKey);
      await s.insertKey({ id: generateKeyId(), accountId: id, hash, hint: keyHint(apiKey), environment: 'live', surface: 'retail', createdAt: 1, expiresAt: 2 });
      expect(await s.getCredits(id)).toEqual({ metered: false, balance: null });
      expect((await s.findByHash(hash))?.account).not.toHaveProperty('metered');
      const events: StoreEvent[] = [];
      const stop = s.subscribe((event) => events.push(event));
      try {
        expect(await s.grantCredits(id, 500)).toEqual({ balance: 500 });
        expect(events).toContainEqual({ type: 'account-changed', accountId: id });
        expect(await s.grantCredits(id, 250)).toEqual({ balance: 750 });
        expect(await s.getCredits(id)).toEqual({ metered: true, balance: 750 });
        expect((await s.findByHash(hash))?.account).toEqual({ id, tier: 'premium', enterprise: false, metered: true });
        expect(await s.getAccount(id)).toEqual({ id, tier: 'premium', enterprise: false, metered: true });
        await s.putAccount({ id, tier: 'accountant_pro', enterprise: false });
        expect(await s.getCredits(id)).toEqual({ metered: true, balance: 750 });
        expect(await s.updateAccount(id, { enterprise: true })).toEqual({ id, tier: 'accountant_pro', enterprise: true, metered: true });
        events.length = 0;
        expect(await s.unmeter(id)).toBe(true);
        expect(events).toContainEqual({ type: 'account-changed', accountId: id });
        expect(await s.getCredits(id)).toEqual({ metered: false, balance: null });
        expect((await s.findByHash(hash))?.account).toEqual({ id, tier: 'accountant_pro', enterprise: true });
        expect(await s.takeCredits(id, 10, 1, Date.now())).toEqual({ granted: 0, balance: 0, metered: false });
        await s.returnCredits(id, 10);
        expect(await s.getCredits(id)).toEqual({ metered: false, balance: null });
      } finally {
        stop();
      }
      const unknown = accountId('grant-unknown');
      expect(await s.grantCredits(unknown, 5)).toBeNull();
      expect(await s.getCredits(unknown)).toBeNull();
      expect(await s.unmeter(unknown)).toBe(false);
      expect(await s.setCreditRefill(unknown, { amount: 5, period: 'day' })).toBeNull();
      expect(await s.takeCredits(unknown, 5, 1, Date.now())).toEqual({ granted: 0, balance: 0, metered: false });
      expect(await s.getAccount(unknown)).toBeNull();
    });

    it('(v2) takes credits for a lease: min(want, balance) when the balance covers min, else nothing; returns them', async () => {
      const s = metering(store);
      const id = accountId('take');
      await s.putAccount({ id, tier: 'premium', enterprise: false });
      await s.grantCredits(id, 100);
      const now = Date.UTC(2026, 5, 15, 12);
      expect(await s.takeCredits(id, 40, 1, now)).toEqual({ granted: 40, balance: 60, metered: true });
      expect(await s.takeCredits(id, 100, 5, now)).toEqual({ granted: 60, balance: 0, metered: true });
      expect(await s.takeCredits(id, 10, 1, now)).toEqual({ granted: 0, balance: 0, metered: true });
      await s.returnCredits(id, 7);
      expect(await s.takeCredits(id, 10, 8, now)).toEqual({ granted: 0, balance: 7, metered: true });
      expect(await s.takeCredits(id, 10, 7, now)).toEqual({ granted: 7, balance: 0, metered: true });
      expect(await s.getCredits(id)).toEqual({ metered: true, balance: 0 });
    });

    it('(v2) takes credits atomically from two instances at once: the total granted never exceeds the balance', async () => {
      const one = metering(store);
      const two = metering(await open());
      const id = accountId('take-race');
      await one.putAccount({ id, tier: 'premium', enterprise: false });
      await one.grantCredits(id, 1_000);
      const now = Date.now();
      const takes = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? one : two).takeCredits(id, 1 + (i % 7) * 10, 1, now));
      const answers = await Promise.all(takes);
      const granted = answers.reduce((sum, a) => sum + a.granted, 0);
      expect(granted).toBe(1_000);
      for (const a of answers) expect(a.balance).toBeGreaterThanOrEqual(0);
      expect((await two.getCredits(id))?.balance).toBe(0);
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).returnCredits(id, 5)));
      expect((await one.getCredits(id))?.balance).toBe(100);
    });

    it('(v2) refills once per UTC period from many instances, even with skewed clocks, and never moves back', async () => {
      const one = metering(store);
      const two = metering(await open());
      const id = accountId('refill');
      await one.putAccount({ id, tier: 'premium', enterprise: false });
      await one.grantCredits(id, 10);
      expect(await one.setCreditRefill(id, { amount: 1_000, period: 'month' })).toEqual({
        metered: true, balance: 10, refill: { amount: 1_000, period: 'month' },
      });
      const june = Date.UTC(2026, 5, 15, 12);
      // Many takes in June, from two instances whose clocks disagree by minutes: one refill, then takes from it.
      const takes = Array.from({ length: 40 }, (_, i) => (i % 2 ? one : two).takeCredits(id, 10, 1, june + (i % 5) * 60_000 - 120_000));
      const granted = (await Promise.all(takes)).reduce((sum, a) => sum + a.granted, 0);
      expect(granted).toBe(400);
      expect(await one.getCredits(id)).toEqual({
        metered: true, balance: 600, refill: { amount: 1_000, period: 'month' }, refilledPeriod: '2026-06',
      });
      // A clock that went back to May refills nothing; July refills once more (to the amount, not on top).
      expect(await two.takeCredits(id, 1, 1, Date.UTC(2026, 4, 31, 23, 59))).toEqual({ granted: 1, balance: 599, metered: true });
      const july = Date.UTC(2026, 6, 1, 0, 0, 1);
      const julyTakes = await Promise.all([one, two, one, two].map((s) => s.takeCredits(id, 100, 1, july)));
      expect(julyTakes.reduce((sum, a) => sum + a.granted, 0)).toBe(400);
      expect((await one.getCredits(id))?.balance).toBe(600);
      expect((await one.getCredits(id))?.refilledPeriod).toBe('2026-07');
      expect(await two.takeCredits(id, 1, 1, Date.UTC(2026, 5, 30))).toEqual({ granted: 1, balance: 599, metered: true });

      // A daily refill; removing it stops refills.
      expect((await one.setCreditRefill(id, { amount: 5, period: 'day' }))?.refill).toEqual({ amount: 5, period: 'day' });
      expect(await one.takeCredits(id, 10, 1, july)).toEqual({ granted: 5, balance: 0, metered: true });
      expect(await two.takeCredits(id, 10, 1, july + 1_000)).toEqual({ granted: 0, balance: 0, metered: true });
      expect(await two.takeCredits(id, 10, 1, july + DAY)).toEqual({ granted: 5, balance: 0, metered: true });
      expect((await one.getCredits(id))?.refilledPeriod).toBe('2026-07-02');
      const cleared = await one.setCreditRefill(id, null);
      expect(cleared).toEqual({ metered: true, balance: 0 });
      expect(await two.takeCredits(id, 10, 1, july + 5 * DAY)).toEqual({ granted: 0, balance: 0, metered: true });
      expect(await one.setCreditRefill(accountId('refill-unmetered'), { amount: 1, period: 'day' })).toBeNull();
    });

    it('(v2) adds usage increments from two instances at once, and lists an account\'s rows in order and range', async () => {
      const one = metering(store);
      const two = metering(await open());
      const id = accountId('usage');
      const other = accountId('usage-other');
      const row = (day: string, keyId: string, environment: Environment, module: string | undefined, allowed: number, creditsSpent: number) =>
        ({ day, accountId: id, keyId, environment, ...(module === undefined ? {} : { module }), allowed, creditsSpent });
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? one : two).addUsage([
            row('2026-06-02', 'key_b', 'live', 'invoices', 1, 2),
            row('2026-06-02', 'key_b', 'live', undefined, 3, 0),
            row('2026-06-01', 'key_b', 'test', 'invoices', 1, 0),
          ]),
        ),
      );
      await one.addUsage([
        row('2026-06-02', 'key_a', 'live', 'reports', 5, 5),
        row('2026-06-03', 'key_a', 'live', 'reports', 1, 1),
        row('2026-05-31', 'key_a', 'live', 'reports', 1, 1),
        { ...row('2026-06-02', 'key_a', 'live', 'reports', 100, 100), accountId: other },
      ]);
      await two.addUsage([]);
      expect(await two.listUsage(id, '2026-06-01', '2026-06-02')).toEqual([
        { day: '2026-06-01', keyId: 'key_b', environment: 'test', module: 'invoices', allowed: 20, creditsSpent: 0 },
        { day: '2026-06-02', keyId: 'key_a', environment: 'live', module: 'reports', allowed: 5, creditsSpent: 5 },
        { day: '2026-06-02', keyId: 'key_b', environment: 'live', allowed: 60, creditsSpent: 0 },
        { day: '2026-06-02', keyId: 'key_b', environment: 'live', module: 'invoices', allowed: 20, creditsSpent: 40 },
      ]);
      const noModule = (await two.listUsage(id, '2026-06-02', '2026-06-02')).find((r) => r.keyId === 'key_b' && r.allowed === 60);
      expect(noModule).not.toHaveProperty('module');
      expect((await one.listUsage(id, '2026-05-01', '2026-06-30')).map((r) => r.day)).toEqual([
        '2026-05-31', '2026-06-01', '2026-06-02', '2026-06-02', '2026-06-02', '2026-06-03',
      ]);
      expect(await one.listUsage(other, '2026-06-02', '2026-06-02')).toEqual([
        { day: '2026-06-02', keyId: 'key_a', environment: 'live', module: 'reports', allowed: 100, creditsSpent: 100 },
      ]);
      expect(await one.listUsage(id, '2026-07-01', '2026-07-31')).toEqual([]);
    });

    it('(v2) counts a shared rate window across instances: each increment returns the count after it', async () => {
      const one = metering(store);
      const two = metering(await open());
      const bucket = `conf-${run}-bucket`;
      const windowStart = Math.floor(Date.now() / 60_000) * 60_000;
      const counts = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? one : two).incrementRateWindow(bucket, windowStart, 2, 120_000)));
      expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => 2 * (i + 1)));
      expect(await one.incrementRateWindow(bucket, windowStart, 0, 120_000)).toBe(60);
      expect(await two.incrementRateWindow(bucket, windowStart + 60_000, 1, 120_000)).toBe(1);
      expect(await two.incrementRateWindow(`${bucket}-other`, windowStart, 1, 120_000)).toBe(1);
      expect(await one.incrementRateWindow(bucket, windowStart, 5, 120_000)).toBe(65);
    });
  });
}
