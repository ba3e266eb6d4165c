// RedisKeyStore against the shared store kits, called as every store package calls them: conformance, then metering.

import { describeKeyStoreConformance, describeMeteringChecks } from '@finora-auth/core/testing';
import { describe } from 'vitest';
import { RedisKeyStore } from '@finora-auth/redis';
import { REDIS_URL, dropPrefix, dumpPrefix, uniquePrefix } from './helpers';
import { redisAnswers, requireService } from './redis-server';

// Under CI=true a Redis that does not answer fails this file; elsewhere it is skipped, said aloud.
const available = requireService(await redisAnswers(REDIS_URL), `Redis at ${REDIS_URL}`);

describe.runIf(available)('RedisKeyStore', () => {
  // Every open() is a new instance (its own connections) on the same prefix: a second gateway process.
  const prefix = uniquePrefix('conformance');
  describeKeyStoreConformance('RedisKeyStore', () => ({
    open: () => new RedisKeyStore({ url: REDIS_URL, prefix }),
    raw: () => dumpPrefix(REDIS_URL, prefix),
    propagationMs: 200,
    cleanup: () => dropPrefix(REDIS_URL, prefix),
  }));

  const metering = uniquePrefix('metering');
  describeMeteringChecks('RedisKeyStore', () => ({
    open: () => new RedisKeyStore({ url: REDIS_URL, prefix: metering }),
    cleanup: () => dropPrefix(REDIS_URL, metering),
  }));
});
