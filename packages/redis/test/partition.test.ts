// RedisKeyStore in a silent network partition (sockets open, nothing flowing): a revocation made elsewhere meanwhile
// stops being served from a cache within the heartbeat bound, and is seen once the network heals.

import type { StoreEvent } from '@finora-auth/core';
import { RedisKeyStore } from '@finora-auth/redis';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { FreezeProxy } from './freeze-proxy';
import { redisAnswers, requireService } from './redis-server';
import { REDIS_URL, dropPrefix, uniquePrefix } from './helpers';
import { eventually, expectPartitionBound } from '@finora-auth/core/testing';

const available = requireService(await redisAnswers(REDIS_URL), `Redis at ${REDIS_URL}`);

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
    await expectPartitionBound({
      label: 'redis',
      partitioned,
      direct,
      freeze: () => proxy.freeze(),
      thaw: () => proxy.thaw(),
      liveWithinMs: 5_000,
      thawWithinMs: 10_000,
    });
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
