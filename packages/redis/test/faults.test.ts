// RedisKeyStore when Redis fails: killed, restarted, frozen, or down from the start. Each test runs its own
// redis-server on a free port (the shared one is never touched).

import { existsSync } from 'node:fs';
import {
  createAuthenticator,
  createKeyManager,
  type Authenticator,
  type DecisionEvent,
  type StoreEvent,
} from '@finora-auth/core';
import { RedisKeyStore } from '@finora-auth/redis';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_SERVER_BIN, requireService, startPrivateRedis, type PrivateRedis } from './redis-server';
import { eventually } from '@finora-auth/core/testing';

const available = requireService(existsSync(REDIS_SERVER_BIN), `redis-server at ${REDIS_SERVER_BIN}`);

/** Tight settings so faults show within a test's time; the behaviour is the same with the defaults, only slower. */
const FAST = { commandTimeoutMs: 400, connectTimeoutMs: 400, maxReconnectDelayMs: 200, heartbeatMs: 200 } as const;

describe.runIf(available)('RedisKeyStore under faults', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  async function server(options?: Parameters<typeof startPrivateRedis>[0]): Promise<PrivateRedis> {
    const started = await startPrivateRedis(options);
    cleanups.push(() => started.dispose());
    return started;
  }
  function store(url: string, extra: Partial<ConstructorParameters<typeof RedisKeyStore>[0]> = {}): RedisKeyStore {
    const opened = new RedisKeyStore({ url, prefix: '{faults}:', ...FAST, ...extra });
    cleanups.push(() => opened.close());
    return opened;
  }
  function authenticator(of: RedisKeyStore, staleIfErrorMs = 0) {
    const decisions: DecisionEvent[] = [];
    // A long lookup timeout: a 503 below then proves the store itself rejected, rather than hung until abandoned.
    const instance: Authenticator = createAuthenticator({
      store: of,
      cache: { ttlMs: 600_000, staleIfErrorMs },
      lookupTimeoutMs: 15_000,
      onDecision: (event) => decisions.push(event),
    });
    cleanups.push(() => instance.close());
    const ask = async (apiKey: string) => {
      const result = await instance.authenticate({ authorization: `Bearer ${apiKey}` });
      return { result, decision: decisions.at(-1)! };
    };
    return ask;
  }
  function listen(of: RedisKeyStore): StoreEvent[] {
    const events: StoreEvent[] = [];
    of.subscribe((event) => events.push(event));
    return events;
  }
  const resets = (events: StoreEvent[]) => events.filter((e) => e.type === 'reset').map((e) => (e.type === 'reset' ? e.live : null));

  it('looks a key and its account up in one round trip (one EVALSHA, nothing else)', async () => {
    const redis = await server({ persist: false });
    const subject = store(redis.url);
    const manager = createKeyManager({ store: subject });
    await manager.putAccount({ id: 'acct-rtt', tier: 'premium' });
    const { key } = await manager.issue({ accountId: 'acct-rtt', environment: 'live' });
    const hash = (await subject.getKey(key.id))!.hash;
    await subject.findByHash(hash); // loads the script (EVALSHA, NOSCRIPT, EVAL) the first time
    const admin = new Redis(redis.url);
    cleanups.push(() => admin.disconnect());
    await admin.config('RESETSTAT');
    for (let i = 0; i < 5; i++) expect((await subject.findByHash(hash))?.key.id).toBe(key.id);
    const stats = (await admin.info('commandstats')).split('\n').filter((line) => line.startsWith('cmdstat_'));
    const counts = Object.fromEntries(stats.map((line) => [line.slice(8, line.indexOf(':')), Number(/calls=(\d+)/.exec(line)![1])]));
    // Five calls, five EVALSHAs; the HGETALLs (key, then account) ran inside the script. The rest is the admin's.
    expect(counts).toEqual({ evalsha: 5, hgetall: 10, 'config|resetstat': 1 });
  });

  it('answers 503 (or stale within staleIfErrorMs) while Redis is dead, recovers on restart, and forgets what it cached', async () => {
    const redis = await server({ persist: true });
    const subject = store(redis.url);
    const writer = store(redis.url); // another gateway's admin: issues and revokes
    const manager = createKeyManager({ store: writer });
    const events = listen(subject);
    const strict = authenticator(subject);
    const stale = authenticator(subject, 600_000);

    await manager.putAccount({ id: 'acct-outage', tier: 'premium' });
    const missed = await manager.issue({ accountId: 'acct-outage', environment: 'live', name: 'revoked while unheard' });
    const revoked = await manager.issue({ accountId: 'acct-outage', environment: 'live', name: 'revoked after restart' });
    const kept = await manager.issue({ accountId: 'acct-outage', environment: 'live', name: 'kept' });
    await eventually(() => resets(events).at(-1) === true, 5_000);
    for (const ask of [strict, stale]) {
      for (const { apiKey } of [missed, revoked, kept]) expect((await ask(apiKey)).result.ok).toBe(true);
      expect((await ask(kept.apiKey)).decision.cache).toBe('hit');
    }

    const missedHash = (await writer.getKey(missed.key.id))!.hash;
    await redis.kill('SIGKILL');
    await eventually(() => resets(events).at(-1) === false, 5_000);

    const down = await strict(kept.apiKey);
    expect(down.result.ok).toBe(false);
    expect(!down.result.ok && down.result.error.status).toBe(503);
    expect(!down.result.ok && down.result.error.code).toBe('AUTH_UNAVAILABLE');
    expect(down.decision.reason).toBe('store-error');
    const served = await stale(kept.apiKey);
    expect(served.result.ok).toBe(true);
    expect(served.decision.cache).toBe('stale');
    await expect(manager.issue({ accountId: 'acct-outage', environment: 'live' })).rejects.toThrow();

    await redis.start();
    // A change the subject's channel cannot hear: written straight into Redis, with no message published.
    const direct = new Redis(redis.url);
    cleanups.push(() => direct.disconnect());
    await direct.hset(`{faults}:key:${missedHash}`, 'revokedAt', String(Date.now()));
    // And one made through the key manager while the subject may still be reconnecting.
    await eventually(() => manager.revoke(revoked.key.id).then(() => true, () => false), 10_000);

    await eventually(() => resets(events).at(-1) === true, 10_000);
    for (const ask of [strict, stale]) {
      expect((await ask(kept.apiKey)).result.ok).toBe(true);
      expect((await ask(kept.apiKey)).decision.cache).toBe('hit'); // trusted again, not asking on every request
      for (const { apiKey } of [missed, revoked]) {
        const { result, decision } = await ask(apiKey);
        expect(!result.ok && result.error.code).toBe('INVALID_API_KEY');
        expect(decision.reason).toBe('revoked');
      }
    }
    expect(resets(events)).toEqual([false, true, false, true]);
  });

  it('treats a frozen Redis (no answers, sockets open) as down, and recovers when it thaws', async () => {
    const redis = await server({ persist: false });
    const subject = store(redis.url);
    const manager = createKeyManager({ store: subject });
    const events = listen(subject);
    const ask = authenticator(subject);
    await manager.putAccount({ id: 'acct-frozen', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acct-frozen', environment: 'test' });
    await eventually(() => resets(events).at(-1) === true, 5_000);
    expect((await ask(apiKey)).result.ok).toBe(true);

    redis.pause();
    try {
      // Only the heartbeat can notice: no command is running and the sockets stay open.
      await eventually(() => resets(events).at(-1) === false, 5_000);
      const { result, decision } = await ask(apiKey);
      expect(!result.ok && result.error.code).toBe('AUTH_UNAVAILABLE');
      expect(decision.reason).toBe('store-error');
    } finally {
      redis.resume();
    }
    await eventually(() => resets(events).at(-1) === true, 10_000);
    await eventually(async () => (await ask(apiKey)).result.ok, 5_000);
  });

  it('builds while Redis is down, refuses at once, and starts working when Redis comes up', async () => {
    const redis = await server({ persist: false, start: false });
    const subject = store(redis.url);
    const events = listen(subject);
    expect(events).toEqual([{ type: 'reset', live: false }]);
    const ask = authenticator(subject);
    await expect(subject.getAccount('anyone')).rejects.toThrow();
    const { result, decision } = await ask(`test_sk_${'ab'.repeat(24)}`);
    expect(!result.ok && result.error.code).toBe('AUTH_UNAVAILABLE');
    expect(decision.reason).toBe('store-error');

    await redis.start();
    await eventually(() => resets(events).at(-1) === true, 10_000);
    const manager = createKeyManager({ store: subject });
    await manager.putAccount({ id: 'acct-late', tier: 'premium' });
    const issued = await manager.issue({ accountId: 'acct-late', environment: 'test' });
    expect((await ask(issued.apiKey)).result.ok).toBe(true);
  });

  it('closes cleanly while Redis is down', async () => {
    const redis = await server({ persist: false });
    const subject = store(redis.url);
    listen(subject);
    await subject.putAccount({ id: 'acct-close', tier: 'premium', enterprise: false });
    await redis.kill();
    await subject.close();
    await subject.close();
    await expect(subject.getAccount('acct-close')).rejects.toThrow(/closed/);
  });
});
