// `finora-auth` end to end on the shared stores: Redis and PostgreSQL URLs, from key creation to a revocation seen by `serve`.
// Under CI=true a missing service fails this file; elsewhere its tests are left out with the reason printed.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { cliJson, dropPostgresSchema, dropRedisPrefix, ensureBuilt, KEY_PATTERN, runCli, startServe } from './support';
import { reachable } from './support';
import { eventually } from '@finora-auth/core/testing';
// The Redis package's private 3-master cluster (its own processes on free loopback ports): the CLI's ?cluster URL
// is tested on the same real cluster the store's own cluster tests use.
import { clusterToolsAvailable, startRedisCluster, type PrivateRedisCluster } from '../../redis/test/redis-cluster';

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379';

async function available(name: string, port: number): Promise<boolean> {
  if (await reachable('127.0.0.1', port)) return true;
  if (process.env.CI === 'true') throw new Error(`${name} at 127.0.0.1:${port} is required under CI=true but does not answer`);
  console.warn(`[gateway stores.test] ${name} does not answer at 127.0.0.1:${port}: its tests are left out (CI=true makes this a failure)`);
  return false;
}

const redisUp = await available('Redis', 6379);
const postgresUp = await available('PostgreSQL', 5432);
const clusterUp = clusterToolsAvailable();
if (!clusterUp) {
  if (process.env.CI === 'true') throw new Error('redis-server and redis-cli (for a private Redis Cluster) are required under CI=true');
  console.warn('[gateway stores.test] redis-server or redis-cli is missing: the Redis Cluster case is left out (CI=true makes this a failure)');
}
if (redisUp || postgresUp || clusterUp) ensureBuilt();
const cluster: PrivateRedisCluster | undefined = clusterUp ? await startRedisCluster() : undefined;

const run = randomBytes(4).toString('hex');
const redisPrefix = `{finora-gw-${run}}:`;
const postgresSchema = `finora_gw_${run}`;

afterAll(async () => {
  await cluster?.dispose();
  if (redisUp) await dropRedisPrefix(REDIS_URL, redisPrefix);
  if (postgresUp) await dropPostgresSchema(POSTGRES_URL, postgresSchema);
});

const cases = [
  { name: 'Redis', up: redisUp, url: `${REDIS_URL}?prefix=${encodeURIComponent(redisPrefix)}` },
  { name: 'PostgreSQL', up: postgresUp, url: `${POSTGRES_URL}?schema=${postgresSchema}` },
  // One seed in the URL, one listed: the rest of the cluster is discovered. The prefix has no {hash tag}: the store derives one.
  {
    name: 'a Redis Cluster (?cluster)',
    up: clusterUp,
    url: cluster ? `redis://127.0.0.1:${cluster.nodes[0]!.port}?cluster=127.0.0.1:${cluster.nodes[1]!.port}&prefix=finora-gw-${run}:` : '',
  },
];

for (const { name, up, url } of cases) {
  describe.runIf(up)(`finora-auth on ${name}`, () => {
    it('administers keys, serves them without seeding a demo account, and honours a revocation within 1 second', async () => {
      const store = ['--store', url];
      await cliJson(['accounts', 'set', 'fleet-co', '--tier', 'premium', ...store]);
      const retail = await cliJson(['keys', 'create', '--account', 'fleet-co', '--env', 'live', '--name', 'fleet', ...store]);
      expect(await cliJson(['keys', 'list', '--account', 'fleet-co', ...store])).toEqual([
        expect.objectContaining({ id: retail.key.id, name: 'fleet', environment: 'live' }),
      ]);

      const serve = await startServe(store);
      let serveExit;
      try {
        // A shared store is production data: no demo account appears in it by surprise.
        expect(serve.stderr().match(KEY_PATTERN)).toBeNull();
        const call = (path: string) => fetch(`${serve.url}${path}`, { headers: { authorization: `Bearer ${retail.apiKey}` } });

        const allowed = await call('/v1/journal-entries');
        expect(allowed.status).toBe(200);
        expect((await allowed.json()).auth).toMatchObject({ accountId: 'fleet-co', environment: 'live', billable: true });
        expect((await call('/v1/business-intelligence')).status).toBe(403);
        expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);

        const revoke = await runCli(['keys', 'revoke', retail.key.id, ...store]);
        expect(revoke.code, revoke.stderr).toBe(0);
        expect(await eventually(async () => (await call('/v1/journal-entries')).status === 401, 1_000)).toBeLessThan(1_000);
      } finally {
        serveExit = await serve.stop(); // checked after: an expect() in finally would hide the error that got here
      }
      expect(serveExit).toEqual({ code: 0, signal: null });
      expect(serve.stdout().match(KEY_PATTERN)).toBeNull();
    }, 60_000);
  });
}
