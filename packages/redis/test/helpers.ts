// Shared pieces of the Redis store tests: the shared server's URL, a unique prefix per run, dumping and dropping it.

import { Redis } from 'ioredis';

/** The shared Redis service; never stopped by a test. */
export const REDIS_URL = process.env.FINORA_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix no other run uses, with the hash tag the store requires. */
export function uniquePrefix(label: string): string {
  return `{finora-test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}}:`;
}

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    names.push(...batch);
  } while (cursor !== '0');
  return names.sort();
}

/** Every key under `prefix` with its whole value as text: strings, hashes, sets and sorted sets (with scores). */
export async function dumpPrefix(url: string, prefix: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const lines: string[] = [];
    for (const name of await keysUnder(redis, prefix)) {
      const type = await redis.type(name);
      let value: unknown;
      if (type === 'string') value = await redis.get(name);
      else if (type === 'hash') value = await redis.hgetall(name);
      else if (type === 'set') value = await redis.smembers(name);
      else if (type === 'zset') value = await redis.zrange(name, 0, -1, 'WITHSCORES');
      else if (type === 'list') value = await redis.lrange(name, 0, -1);
      else value = `<${type}>`;
      lines.push(`${name} ${type} ${JSON.stringify(value)}`);
    }
    return lines.join('\n');
  } finally {
    redis.disconnect();
  }
}

export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const names = await keysUnder(redis, prefix);
    for (let i = 0; i < names.length; i += 500) await redis.del(...names.slice(i, i + 500));
  } finally {
    redis.disconnect();
  }
}
