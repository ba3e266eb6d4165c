// PostgresKeyStore in a silent network partition (sockets open, nothing flowing): a revocation made elsewhere
// meanwhile stops being served from a cache within the heartbeat bound, and is seen once the network heals.

import { afterAll, describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, type StoreEvent } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { FreezeProxy } from '../../redis/test/freeze-proxy';
import { POSTGRES_URL, dropSchema, probePostgres, uniqueApplicationName, uniqueSchema, withAdmin } from './helpers';
import { eventually } from '@finora-auth/core/testing';

const available = await probePostgres('postgres/partition');

/** The default bound (heartbeatTimeoutMs), and what a loaded 2-core machine may add to a timer. */
const BOUND_MS = 1_000;
const SLACK_MS = 500;

const yieldToTimers = () => new Promise((resolve) => setImmediate(resolve));

describe.runIf(available)('PostgresKeyStore in a silent partition', () => {
  const schema = uniqueSchema('partition');
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await dropSchema(schema);
  });

  it('stops trusting its cache within about 1 s of the freeze, and honours the revocation after the thaw', async () => {
    const { hostname, port } = new URL(POSTGRES_URL);
    const proxy = await FreezeProxy.start({ host: hostname, port: Number(port || 5432) });
    cleanups.push(() => proxy.close());
    // Defaults for everything the bound depends on: this is the behaviour users get.
    const partitioned = new PostgresKeyStore({ connectionString: proxy.url(POSTGRES_URL), schema });
    const direct = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema });
    cleanups.push(() => partitioned.close(), () => direct.close());
    const events: StoreEvent[] = [];
    partitioned.subscribe((event) => events.push(event));
    const cacheOutcomes: string[] = [];
    // A short lookup timeout only makes the loop below ask more often while the store cannot answer.
    const authenticator = createAuthenticator({
      store: partitioned,
      cache: { ttlMs: 600_000 },
      lookupTimeoutMs: 300,
      onDecision: (decision) => cacheOutcomes.push(decision.cache),
    });
    cleanups.push(() => authenticator.close());
    // Listening before the keys exist, so their creation is heard.
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 10_000);
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
      `[postgres partition] ${wrongAllows} wrong allows, the last ${(lastWrongAllow - revokedAt).toFixed(0)} ms after the revocation ` +
        `(${(lastWrongAllow - frozenAt).toFixed(0)} ms after the freeze)`,
    );
    expect(lastWrongAllow - frozenAt).toBeLessThan(BOUND_MS + SLACK_MS);
    // Refused, and only as the contract allows while the store cannot be reached: 503, or 401 once it can.
    expect(refusals.size).toBeGreaterThan(0);
    for (const status of refusals) expect([401, 503]).toContain(status);
    expect(events).toContainEqual({ type: 'reset', live: false });

    const thawedAt = events.length;
    proxy.thaw();
    await eventually(() => events.slice(thawedAt).some((e) => e.type === 'reset' && e.live), 15_000);
    await eventually(async () => {
      const result = await ask(revoked.apiKey);
      return !result.ok && result.error.code === 'INVALID_API_KEY';
    }, 5_000);
    await eventually(async () => (await ask(kept.apiKey)).ok, 5_000);
  });

  it('validates the heartbeat options, naming them; heartbeatMs 0 turns the heartbeat off', () => {
    const connectionString = POSTGRES_URL;
    expect(() => new PostgresKeyStore({ connectionString, heartbeatTimeoutMs: 0 })).toThrow(/heartbeatTimeoutMs/);
    expect(() => new PostgresKeyStore({ connectionString, heartbeatMs: 1_000 })).toThrow(/heartbeatTimeoutMs \(1000\) must be greater than heartbeatMs/);
    expect(() => new PostgresKeyStore({ connectionString, heartbeatMs: 0 })).not.toThrow();
  });

  it('beats on the LISTEN connection itself: no pooled connection is opened for it, and it never goes silent', async () => {
    const applicationName = uniqueApplicationName('heartbeat');
    const store = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema, applicationName, heartbeatMs: 100 });
    cleanups.push(() => store.close());
    const events: StoreEvent[] = [];
    store.subscribe((event) => events.push(event));
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 10_000);
    const liveAt = events.length;

    const lastQuery = (name: string) =>
      withAdmin(async (admin) => {
        const { rows } = await admin.query<{ query: string }>(`SELECT query FROM pg_stat_activity WHERE application_name = $1`, [name]);
        return rows.map((row) => row.query);
      });
    // The heartbeat is the LISTEN connection's latest statement once it has beaten.
    await eventually(async () => (await lastQuery(`${applicationName}:listen`))[0] === 'SELECT pg_notify($1, $2)', 5_000);
    expect(await lastQuery(applicationName)).toEqual([]);
    expect(events.slice(liveAt)).toEqual([]);
  });
});
