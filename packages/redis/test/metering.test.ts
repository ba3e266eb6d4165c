// RedisKeyStore's metering beyond the shared checks (those run in conformance.test.ts): a prefix without a hash tag
// works end to end, and accounts written before the accounts set are listed.

import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisKeyStore } from '@finora-auth/redis';
import { redisAnswers, requireService } from './redis-server';
import { REDIS_URL, dropPrefix } from './helpers';

const available = requireService(await redisAnswers(REDIS_URL), `Redis at ${REDIS_URL}`);

describe.runIf(available)('RedisKeyStore metering', () => {
  // Untagged, with glob characters a SCAN pattern would otherwise read as wildcards.
  const untagged = `finora-test-untagged-${process.pid}-${Math.random().toString(36).slice(2, 8)}*?:`;
  afterAll(() => dropPrefix(REDIS_URL, `{${untagged.replace(/[*?[\]\\]/g, '\\$&')}}`));

  it('runs on a prefix without a hash tag, and lists accounts stored before the accounts set existed', async () => {
    const store = new RedisKeyStore({ url: REDIS_URL, prefix: untagged });
    const redis = new Redis(REDIS_URL);
    try {
      expect(store.prefix).toBe(`{${untagged}}`);
      // An account as an earlier version wrote it: a hash, in no accounts set.
      await redis.hset(`${store.prefix}account:acct-old`, 'id', 'acct-old', 'tier', 'free', 'enterprise', '0');
      await store.putAccount({ id: 'acct-new', tier: 'premium', enterprise: true, rateLimit: { requests: 3, perSeconds: 1 } });
      // A look-alike outside the prefix must not be listed: the prefix's glob characters are matched literally.
      await redis.hset(`{${untagged.replace('*', 'X')}}account:acct-stranger`, 'id', 'acct-stranger', 'tier', 'free', 'enterprise', '0');
      expect(await store.listAccounts()).toEqual([
        { id: 'acct-new', tier: 'premium', enterprise: true, rateLimit: { requests: 3, perSeconds: 1 } },
        { id: 'acct-old', tier: 'free', enterprise: false },
      ]);
      expect(await store.grantCredits('acct-old', 5)).toEqual({ balance: 5 });
      expect(await store.takeCredits('acct-old', 10, 1, Date.now())).toEqual({ granted: 5, balance: 0, metered: true });
      const names = await redis.keys(`{${untagged.replace(/[*?[\]\\]/g, '\\$&')}}*`);
      expect(names.length).toBeGreaterThan(0);
      await redis.del(`{${untagged.replace('*', 'X')}}account:acct-stranger`);
    } finally {
      redis.disconnect();
      await store.close();
    }
  });
});
