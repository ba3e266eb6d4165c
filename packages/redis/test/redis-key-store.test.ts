// RedisKeyStore against the shared Redis: options, data layout and pub/sub events (the shared kits: conformance.test.ts).

import { createAuthenticator, createKeyManager, generateApiKey, keyHint, sha256Hex, type DecisionEvent, type StoreEvent } from '@finora-auth/core';
import { eventually } from '@finora-auth/core/testing';
import { RedisKeyStore } from '@finora-auth/redis';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisAnswers, requireService } from './redis-server';
import { REDIS_URL, dropPrefix, dumpPrefix, uniquePrefix } from './helpers';

const available = requireService(await redisAnswers(REDIS_URL), `Redis at ${REDIS_URL}`);

/** The Redis Cluster hash tag of a key name: the part that decides its slot. */
function hashTag(name: string): string {
  const open = name.indexOf('{');
  const close = open === -1 ? -1 : name.indexOf('}', open + 1);
  return close > open + 1 ? name.slice(open + 1, close) : name;
}

describe.runIf(available)('RedisKeyStore', () => {
  const prefixes: string[] = [];
  const stores: RedisKeyStore[] = [];
  const open = (prefix: string, extra: Partial<ConstructorParameters<typeof RedisKeyStore>[0]> = {}) => {
    const store = new RedisKeyStore({ url: REDIS_URL, prefix, ...extra });
    stores.push(store);
    return store;
  };
  const fresh = (label: string) => {
    const prefix = uniquePrefix(label);
    prefixes.push(prefix);
    return prefix;
  };

  afterAll(async () => {
    for (const store of stores) await store.close();
    for (const prefix of prefixes) await dropPrefix(REDIS_URL, prefix);
  });

  describe('options', () => {
    it('rejects a missing or non-Redis url, naming the option and never repeating a password', () => {
      expect(() => new RedisKeyStore({} as never)).toThrow(/option url/);
      for (const url of ['postgres://u:hunter2@db/x', 'not a url with hunter2', 'redis://u:hunter2@db:notaport']) {
        const error = (() => {
          try {
            new RedisKeyStore({ url });
          } catch (thrown) {
            return thrown as Error;
          }
          throw new Error(`${url.replace('hunter2', '***')} was accepted`);
        })();
        expect(error.message).toMatch(/option url/);
        expect(error.message).not.toContain('hunter2');
      }
    });

    it('(v2) accepts any prefix, deriving a Redis Cluster hash tag when it has none; one with a tag is kept as it is', async () => {
      const cases: [string, string][] = [
        ['finora:', '{finora:}'],
        ['{}:', '{{}:}'],
        ['', '{finora}:'],
        ['a b{x}', 'a b{x}'],
        ['{x}*', '{x}*'],
        ['tenant-{a}:', 'tenant-{a}:'],
        ['}x{', '{finora}}x{'],
        ['a}b', '{a}b}'],
      ];
      for (const [given, used] of cases) {
        const store = new RedisKeyStore({ url: REDIS_URL, prefix: given });
        expect(store.prefix).toBe(used);
        expect(hashTag(`${store.prefix}account:x`)).toBe(hashTag(`${store.prefix}key:y`));
        expect(hashTag(`${store.prefix}account:x`)).not.toBe(`${store.prefix}account:x`);
        await store.close();
      }
      expect(() => new RedisKeyStore({ url: REDIS_URL, prefix: 'x'.repeat(201) })).toThrow(/option prefix/);
      expect(() => new RedisKeyStore({ url: REDIS_URL, prefix: 5 as never })).toThrow(/option prefix/);
    });

    it('validates timeouts and refuses ioredis keyPrefix', () => {
      expect(() => new RedisKeyStore({ url: REDIS_URL, commandTimeoutMs: 0 })).toThrow(/commandTimeoutMs/);
      expect(() => new RedisKeyStore({ url: REDIS_URL, heartbeatMs: 1.5 })).toThrow(/heartbeatMs/);
      expect(() => new RedisKeyStore({ url: REDIS_URL, connectTimeoutMs: -1 })).toThrow(/connectTimeoutMs/);
      expect(() => new RedisKeyStore({ url: REDIS_URL, maxReconnectDelayMs: Number.NaN })).toThrow(/maxReconnectDelayMs/);
      expect(() => new RedisKeyStore({ url: REDIS_URL, redisOptions: { keyPrefix: 'x:' } })).toThrow(/keyPrefix/);
    });

    it('does not mutate the caller\'s options, and defaults the prefix to {finora}:', async () => {
      const options = Object.freeze({ url: REDIS_URL, redisOptions: Object.freeze({ connectionName: 'finora-test' }) });
      const store = new RedisKeyStore(options);
      expect(store.prefix).toBe('{finora}:');
      await store.close();
    });
  });

  it('keeps every key of a deployment under its prefix and its hash tag (one Redis Cluster slot)', async () => {
    const prefix = fresh('layout');
    const store = open(prefix);
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct-layout', tier: 'premium' });
    const { key } = await manager.issue({ accountId: 'acct-layout', environment: 'live' });
    await manager.revoke(key.id);
    await manager.issue({ accountId: 'acct-layout', environment: 'test' });
    // (v2) A service account and a signing key live under the prefix too.
    const secret = generateApiKey('live').replace('_sk_', '_cs_');
    await store.insertServiceAccount({
      clientId: 'sa_layout', accountId: 'acct-layout', secretHash: await sha256Hex(secret), secretHint: keyHint(secret),
      environment: 'live', createdAt: 1, secretCreatedAt: 1, expiresAt: 2,
    });
    await store.insertSigningKey({ kid: 'kid-layout', alg: 'ES256', publicJwk: '{}', encryptedPrivateKey: 'opaque', createdAt: 1 });
    const redis = new Redis(REDIS_URL);
    try {
      const names = (await dumpPrefix(REDIS_URL, prefix)).split('\n').map((line) => line.split(' ')[0]!);
      expect(names.length).toBeGreaterThanOrEqual(9);
      expect(names).toEqual(
        expect.arrayContaining([`${prefix}sa:sa_layout`, `${prefix}account-sas:acct-layout`, `${prefix}signing-key:kid-layout`, `${prefix}signing-keys`]),
      );
      for (const name of names) expect(hashTag(name)).toBe(hashTag(prefix));
      // A revoked key leaves the expiry index, so `expiring` never walks it again.
      expect(await redis.zcard(`${prefix}expiring`)).toBe(1);
    } finally {
      redis.disconnect();
    }
  });

  it('separates deployments that share a Redis: data and events stay under their own prefix', async () => {
    const a = open(fresh('tenant-a'));
    const b = open(fresh('tenant-b'));
    const heardByB: StoreEvent[] = [];
    b.subscribe((event) => heardByB.push(event));
    await eventually(() => heardByB.some((e) => e.type === 'reset' && e.live), 5_000);
    await a.putAccount({ id: 'shared-id', tier: 'premium', enterprise: false });
    expect(await b.getAccount('shared-id')).toBeNull();
    await b.putAccount({ id: 'shared-id', tier: 'free', enterprise: false });
    expect(await a.getAccount('shared-id')).toEqual({ id: 'shared-id', tier: 'premium', enterprise: false });
    await a.putAccount({ id: 'other', tier: 'premium', enterprise: false });
    // A write on b's prefix from another instance: Redis delivers b's subscription its messages in publish order,
    // so once b hears this one, anything a's writes could have sent b has arrived.
    await open(b.prefix).putAccount({ id: 'marker', tier: 'free', enterprise: false });
    const changed = () => heardByB.flatMap((e) => (e.type === 'account-changed' ? [e.accountId] : []));
    await eventually(() => changed().includes('marker'), 5_000);
    // b heard its own write (locally, and perhaps echoed over pub/sub) and the marker, never a's.
    expect(changed()).toContain('shared-id');
    expect(changed()).not.toContain('other');
  });

  it('tells a listener it is not live until subscribed, then live; other instances hear writes over pub/sub', async () => {
    const prefix = fresh('events');
    const writer = open(prefix);
    const reader = open(prefix);
    const events: StoreEvent[] = [];
    reader.subscribe((event) => events.push(event));
    expect(events[0]).toEqual({ type: 'reset', live: false });
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 5_000);
    // A listener arriving once the channel is live is told nothing.
    const late: StoreEvent[] = [];
    reader.subscribe((event) => late.push(event));
    expect(late).toEqual([]);

    const manager = createKeyManager({ store: writer });
    await manager.putAccount({ id: 'acct-events', tier: 'premium' });
    const issued = await manager.issue({ accountId: 'acct-events', environment: 'live' });
    const hash = (await writer.getKey(issued.key.id))!.hash;
    await manager.revoke(issued.key.id);
    const heard = () =>
      events.some((e) => e.type === 'account-changed' && e.accountId === 'acct-events') &&
      events.filter((e) => e.type === 'key-changed' && e.keyHash === hash).length >= 2; // created, then revoked
    await eventually(heard, 1_000);
  });

  it('treats a message it cannot read on its channel as "forget everything"', async () => {
    const prefix = fresh('garbled-message');
    const store = open(prefix);
    const events: StoreEvent[] = [];
    store.subscribe((event) => events.push(event));
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 5_000);
    events.length = 0;
    const redis = new Redis(REDIS_URL);
    try {
      await redis.publish(`${prefix}events`, 'v2:{"something":"new"}');
      await eventually(() => events.length > 0, 1_000);
      expect(events).toEqual([{ type: 'reset', live: true }]);
    } finally {
      redis.disconnect();
    }
  });

  it('turns a garbled record into 503 store-garbled, never into a decision on half a record', async () => {
    const prefix = fresh('garbled-record');
    const store = open(prefix);
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct-garbled', tier: 'premium' });
    const { apiKey, key } = await manager.issue({ accountId: 'acct-garbled', environment: 'live' });
    const hash = (await store.getKey(key.id))!.hash;
    const redis = new Redis(REDIS_URL);
    const decisions: DecisionEvent[] = [];
    const authenticator = createAuthenticator({ store, cache: false, onDecision: (event) => decisions.push(event) });
    try {
      await redis.hset(`${prefix}key:${hash}`, 'expiresAt', 'soon');
      const result = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error.code).toBe('AUTH_UNAVAILABLE');
      expect(decisions.at(-1)?.reason).toBe('store-garbled');
      await expect(store.getKey(key.id)).rejects.toThrow(/garbled/);
    } finally {
      await authenticator.close();
      redis.disconnect();
    }
  });

  it('lists expiring keys over open-ended windows, and nothing for an empty one', async () => {
    const store = open(fresh('expiring'));
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct-expiring', tier: 'premium' });
    const { key } = await manager.issue({ accountId: 'acct-expiring', environment: 'live' });
    expect((await store.listExpiring(-Infinity, Infinity)).map((k) => k.id)).toEqual([key.id]);
    expect(await store.listExpiring(key.expiresAt.getTime(), key.expiresAt.getTime())).toEqual([]);
    expect(await store.listExpiring(Number.NaN, Infinity)).toEqual([]);
  });

  it('rejects a lookup whose signal is aborted', async () => {
    const store = open(fresh('abort'));
    const controller = new AbortController();
    controller.abort(new Error('invalidated'));
    await expect(store.findByHash('0'.repeat(64), { signal: controller.signal })).rejects.toThrow('invalidated');
  });

  it('closes idempotently, and refuses work afterwards', async () => {
    const store = new RedisKeyStore({ url: REDIS_URL, prefix: fresh('close') });
    store.subscribe(() => {});
    await store.putAccount({ id: 'acct-close', tier: 'premium', enterprise: false });
    await Promise.all([store.close(), store.close()]);
    await store.close();
    await expect(store.getAccount('acct-close')).rejects.toThrow(/closed/);
    // Never used: closing must not connect.
    await new RedisKeyStore({ url: REDIS_URL, prefix: fresh('never') }).close();
  });
});
