// RedisKeyStore in a silent network partition (sockets open, nothing flowing): a revocation made elsewhere meanwhile
// stops being served from a cache within the heartbeat bound, and is seen once the network heals.

import { createAuthenticator, createKeyManager, type StoreEvent } from '@finora-auth/core';
import { RedisKeyStore } from '@finora-auth/redis';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { FreezeProxy } from './freeze-proxy';
import { redisAnswers, requireService } from './redis-server';
import { REDIS_URL, dropPrefix, uniquePrefix } from './helpers';
import { eventually } from '@finora-auth/core/testing';

const available = requireService(await redisAnswers(REDIS_URL), `Redis at ${REDIS_URL}`);

/** The default bound (heartbeatTimeoutMs), and what a loaded 2-core machine may add to a timer. */
const BOUND_MS = 1_000;
const SLACK_MS = 500;

const yieldToTimers = () => new Promise((resolve) => setImmediate(resolve));

describe.runIf(available)('RedisKeyStore in a silent partition', () => {
  const prefix = uniquePrefix('partition');
  const costPrefix = uniquePrefix('heartbeat-cost');
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await dropPrefix(REDIS_URL, prefix);
    await dropPrefix(REDIS_URL, costPrefix);
  });

  it('stops trusting its cache within about 1 s of the freeze, and honours the revocation after the thaw', async () => {
    const { hostname, port } = new URL(REDIS_URL);
    const proxy = await FreezeProxy.start({ host: hostname, port: Number(port || 6379) });
    cleanups.push(() => proxy.close());
    // Defaults for everything the bound depends on: this is the behaviour users get.
    const partitioned = new RedisKeyStore({ url: proxy.url(REDIS_URL), prefix });
    const direct = new RedisKeyStore({ url: REDIS_URL, prefix });
    cleanups.push(() => partitioned.close(), () => direct.close());
    const events: StoreEvent[] = [];
    partitioned.subscribe((event) => events.push(event));
    const cacheOutcomes: string[] = [];
    const authenticator = createAuthenticator({
      store: partitioned,
      cache: { ttlMs: 600_000 },
      onDecision: (decision) => cacheOutcomes.push(decision.cache),
    });
    cleanups.push(() => authenticator.close());
    // Listening before the keys exist, so their creation is heard.
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 5_000);
    const manager = createKeyManager({ store: direct });
    await manager.putAccount({ id: 'acct-partition', tier: 'premium' });
    const revoked = await manager.issue({ accountId: 'acct-partition', environment: 'live' });
    const kept = await manager.issue({ accountId: 'acct-partition', environment: 'live' });
    const ask = (apiKey: string) => authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
    // Both keys' creation heard first: a late "key created" would drop the entry cached below.
    const created = () => events.filter((e) => e.type === 'key-changed').length >= 2;
    await eventually(created, 5_000);
    for (const { apiKey } of [revoked, kept]) {
      expect((await ask(apiKey)).ok).toBe(true);
      expect((await ask(apiKey)).ok).toBe(true);
      expect(cacheOutcomes.at(-1)).toBe('hit');
    }

    const frozenAt = performance.now();
    proxy.freeze();
    await manager.revoke(revoked.key.id);
    const revokedAt = performance.now();
    let wrongAllows = 0;
    let lastWrongAllow = -Infinity;
    const refusals = new Set<number>();
    while (performance.now() - frozenAt < BOUND_MS + SLACK_MS + 500) {
      const result = await ask(revoked.apiKey);
      if (result.ok) {
        wrongAllows++;
        lastWrongAllow = performance.now();
      } else {
        refusals.add(result.error.status);
      }
      await yieldToTimers();
    }
    console.info(
      `[redis partition] ${wrongAllows} wrong allows, the last ${(lastWrongAllow - revokedAt).toFixed(0)} ms after the revocation ` +
        `(${(lastWrongAllow - frozenAt).toFixed(0)} ms after the freeze)`,
    );
    expect(lastWrongAllow - frozenAt).toBeLessThan(BOUND_MS + SLACK_MS);
    // Refused, and only as the contract allows while the store cannot be reached: 503, or 401 once it can.
    expect(refusals.size).toBeGreaterThan(0);
    for (const status of refusals) expect([401, 503]).toContain(status);
    expect(events).toContainEqual({ type: 'reset', live: false });

    const thawedAt = events.length;
    proxy.thaw();
    await eventually(() => events.slice(thawedAt).some((e) => e.type === 'reset' && e.live), 10_000);
    await eventually(async () => {
      const result = await ask(revoked.apiKey);
      return !result.ok && result.error.code === 'INVALID_API_KEY';
    }, 5_000);
    await eventually(async () => (await ask(kept.apiKey)).ok, 5_000);
  });

  it('validates the heartbeat options, naming them', () => {
    expect(() => new RedisKeyStore({ url: REDIS_URL, heartbeatMs: 0 })).toThrow(/heartbeatMs/);
    expect(() => new RedisKeyStore({ url: REDIS_URL, heartbeatTimeoutMs: 2.5 })).toThrow(/heartbeatTimeoutMs/);
    expect(() => new RedisKeyStore({ url: REDIS_URL, heartbeatMs: 1_000 })).toThrow(/heartbeatTimeoutMs \(1000\) must be greater than heartbeatMs/);
  });

  it('costs one heartbeat PUBLISH per interval, on a channel of its own', async () => {
    const store = new RedisKeyStore({ url: REDIS_URL, prefix: costPrefix, heartbeatMs: 100 });
    cleanups.push(() => store.close());
    const events: StoreEvent[] = [];
    store.subscribe((event) => events.push(event));
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 5_000);
    const liveAt = events.length;

    const watcher = new Redis(REDIS_URL);
    cleanups.push(() => watcher.disconnect());
    const beats: { channel: string; at: number }[] = [];
    watcher.on('pmessage', (_pattern: string, channel: string) => beats.push({ channel, at: performance.now() }));
    await watcher.psubscribe(`${costPrefix}heartbeat:*`);
    // Ten beats at 100 ms apart: on one channel, about one per interval.
    await eventually(() => beats.length >= 10, 5_000);
    expect(new Set(beats.map((beat) => beat.channel)).size).toBe(1);
    const span = beats[9]!.at - beats[0]!.at;
    expect(span).toBeGreaterThan(9 * 100 * 0.8);
    // The channel, a few bytes: `<prefix>heartbeat:<uuid>` with a decimal timestamp.
    expect(beats[0]!.channel).toMatch(new RegExp(`^${costPrefix.replace(/[{}]/g, '\\$&')}heartbeat:[0-9a-f-]{36}$`));
    // Every heartbeat came back: the channel never went silent.
    expect(events.slice(liveAt)).toEqual([]);
  });
});
