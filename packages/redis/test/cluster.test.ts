// RedisKeyStore on a real 3-master Redis Cluster started on loopback: the conformance kit and the metering checks
// (on a prefix without a hash tag), and masters killed while two instances take credits.

import { describeKeyStoreConformance, eventually, describeMeteringChecks } from '@finora-auth/core/testing';
import { createAuthenticator, createKeyManager, sha256Hex, type StoreEvent } from '@finora-auth/core';
import { RedisKeyStore } from '@finora-auth/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterToolsAvailable, startRedisCluster, type PrivateRedisCluster } from './redis-cluster';
import { requireService } from './redis-server';
import { dumpPrefix } from './helpers';

const available = requireService(clusterToolsAvailable(), 'redis-server and redis-cli (for a private Redis Cluster)');

let cluster: PrivateRedisCluster;
const ready = available ? startRedisCluster().then((started) => (cluster = started)) : Promise.resolve(undefined);
afterAll(async () => {
  await ready.catch(() => undefined);
  await cluster?.dispose();
});

const unique = (label: string) => `finora-cluster-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}:`;

describe.runIf(available)('RedisKeyStore on a Redis Cluster', () => {
  // Untagged prefixes: the store derives the hash tag that keeps a deployment in one slot.
  const conformancePrefix = unique('conformance');
  describeKeyStoreConformance('RedisKeyStore (cluster)', async () => {
    await ready;
    return {
      open: () => new RedisKeyStore({ cluster: cluster.urls, prefix: conformancePrefix }),
      raw: async () => dumpPrefix((await cluster.ownerOf(`{${conformancePrefix}}x`)).url, `{${conformancePrefix}}`),
      propagationMs: 1_000,
    };
  });

  describeMeteringChecks('RedisKeyStore (cluster)', async () => {
    await ready;
    const prefix = unique('metering');
    return { open: () => new RedisKeyStore({ cluster: cluster.urls, prefix }) };
  });

  describe('with a master killed mid-load', () => {
    const stores: RedisKeyStore[] = [];
    beforeAll(() => ready);
    afterAll(async () => {
      for (const store of stores) await store.close();
    });
    const open = (prefix: string) => {
      const store = new RedisKeyStore({ cluster: cluster.urls, prefix, commandTimeoutMs: 500 });
      stores.push(store);
      return store;
    };

    /**
     * Two instances take leases of `want` in loops until `stop`; returns what callers were granted and how many
     * takes failed (each a 503 at the authenticator: nothing allowed on it).
     */
    function load(instances: RedisKeyStore[], accountId: string, want: number) {
      let stopped = false;
      let granted = 0;
      let failed = 0;
      let succeeded = 0;
      const loops = instances.map(async (store) => {
        while (!stopped) {
          try {
            const taken = await store.takeCredits(accountId, want, 1, Date.now());
            granted += taken.granted;
            succeeded++;
          } catch {
            failed++;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      });
      return {
        get succeeded() {
          return succeeded;
        },
        async stop() {
          stopped = true;
          await Promise.all(loops);
          return { granted, failed };
        },
      };
    }

    it('keeps serving when a master that does not own the deployment\'s slot dies: no crash, every debit kept', async () => {
      const prefix = unique('other-master');
      const [a, b] = [open(prefix), open(prefix)];
      await a.putAccount({ id: 'acct', tier: 'premium', enterprise: false });
      await a.grantCredits('acct', 1_000_000);
      const owner = await cluster.ownerOf(`{${prefix}}x`);
      const victim = cluster.nodes.find((node) => node !== owner)!;
      const running = load([a, b], 'acct', 10);
      await eventually(() => running.succeeded > 50, 5_000);
      await victim.kill();
      const before = running.succeeded;
      await eventually(() => running.succeeded > before + 200, 10_000);
      const { granted, failed } = await running.stop();
      expect(failed).toBe(0);
      // Every credit a caller was granted left the balance, and none twice.
      expect(granted + (await a.getCredits('acct'))!.balance!).toBe(1_000_000);
      await victim.start();
      await cluster.waitHealthy();
    });

    it('fails closed while the owning master is down and resumes after its restart: nothing granted twice, no debit lost beyond the leases in flight', async () => {
      const prefix = unique('owner');
      const [a, b] = [open(prefix), open(prefix)];
      const manager = createKeyManager({ store: a });
      await manager.putAccount({ id: 'acct', tier: 'premium' });
      await a.grantCredits('acct', 1_000_000);
      const { key, apiKey } = await manager.issue({ accountId: 'acct', environment: 'live' });
      const owner = await cluster.ownerOf(`{${prefix}}x`);
      const want = 10;
      const running = load([a, b], 'acct', want);
      await eventually(() => running.succeeded > 50, 5_000);
      await owner.kill();
      await new Promise((resolve) => setTimeout(resolve, 300)); // a real outage, long enough for takes to fail
      await owner.start();
      await cluster.waitHealthy();
      const after = running.succeeded;
      await eventually(() => running.succeeded > after + 100, 15_000);
      const { granted, failed } = await running.stop();
      expect(failed).toBeGreaterThan(0);
      const balance = (await a.getCredits('acct'))!.balance!;
      // Never more granted than there was; a take whose reply was lost with the master may have left the balance
      // without reaching its caller (lost to the account, never served free): at most one lease per failed take.
      expect(granted + balance).toBeLessThanOrEqual(1_000_000);
      expect(1_000_000 - (granted + balance)).toBeLessThanOrEqual(failed * want);

      // Invalidation still reaches the other instance after the outage.
      const heard: StoreEvent[] = [];
      b.subscribe((event) => heard.push(event));
      await eventually(() => heard.some((e) => e.type === 'reset' && e.live), 10_000);
      await manager.revoke(key.id);
      const hash = await sha256Hex(apiKey);
      await eventually(() => heard.some((e) => e.type === 'key-changed' && e.keyHash === hash), 2_000);
    });

    it('through two authenticators spending leases: the owning master killed mid-load allows nothing beyond the grant, refuses only with 503, and loses at most the leases in flight', async () => {
      const prefix = unique('authenticators');
      const [a, b] = [open(prefix), open(prefix)];
      const manager = createKeyManager({ store: a });
      const grant = 20_000;
      await manager.putAccount({ id: 'acct', tier: 'premium' });
      await manager.grantCredits('acct', grant);
      const { apiKey } = await manager.issue({ accountId: 'acct', environment: 'live' });
      const authenticators = [createAuthenticator({ store: a }), createAuthenticator({ store: b })];
      let stopped = false;
      let allowed = 0;
      const refusals = new Map<string, number>();
      const loops = authenticators.map(async (authenticator) => {
        while (!stopped) {
          const result = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
          if (result.ok) allowed++;
          else {
            refusals.set(result.error.code, (refusals.get(result.error.code) ?? 0) + 1);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          // Yield now and then, so the kill, the restart and the other loop get their turn.
          if (allowed % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      });
      await eventually(() => allowed > 1_000, 10_000);
      const owner = await cluster.ownerOf(`{${prefix}}x`);
      await owner.kill();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await owner.start();
      await cluster.waitHealthy();
      const after = allowed;
      await eventually(() => allowed > after + 1_000 || allowed >= grant, 15_000);
      stopped = true;
      await Promise.all(loops);
      // Graceful close gives the leases in hand back.
      for (const authenticator of authenticators) await authenticator.close();
      const balance = (await manager.credits('acct')).balance!;
      expect(allowed).toBeLessThanOrEqual(grant);
      expect(allowed + balance).toBeLessThanOrEqual(grant);
      // Lost with the master: only a take in flight when it died can have debited without its reply, and each
      // authenticator has at most one in flight (coalesced), so at most one lease (500 at most) each.
      expect(grant - (allowed + balance)).toBeLessThanOrEqual(2 * 500);
      expect([...refusals.keys()].every((code) => code === 'AUTH_UNAVAILABLE')).toBe(true);
    });
  });
});
