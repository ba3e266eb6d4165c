// PostgresKeyStore in a silent network partition (sockets open, nothing flowing): a revocation made elsewhere
// meanwhile stops being served from a cache within the heartbeat bound, and is seen once the network heals.

import { afterAll, describe, expect, it } from 'vitest';
import type { StoreEvent } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { FreezeProxy } from '../../redis/test/freeze-proxy';
import { POSTGRES_URL, dropSchema, probePostgres, uniqueApplicationName, uniqueSchema, withAdmin } from './helpers';
import { eventually, expectPartitionBound } from '@finora-auth/core/testing';

const available = await probePostgres('postgres/partition');

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
    await expectPartitionBound({
      label: 'postgres',
      partitioned,
      direct,
      freeze: () => proxy.freeze(),
      thaw: () => proxy.thaw(),
      // A short lookup timeout only makes the check ask more often while the store cannot answer.
      lookupTimeoutMs: 300,
      liveWithinMs: 10_000,
      thawWithinMs: 15_000,
    });
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
