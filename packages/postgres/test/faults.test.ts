// Faults injected into a real PostgreSQL: the LISTEN connection killed, pool connections killed, a query blocked by a lock.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'pg';
import { createAuthenticator, createKeyManager, type KeyManager, type StoreEvent } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';
import {
  POSTGRES_URL,
  backendCount,
  dropSchema,
  probePostgres,
  terminate,
  uniqueApplicationName,
  uniqueSchema,
} from './helpers';
import { eventually } from '@finora-auth/core/testing';

const available = await probePostgres('postgres/faults');

describe.runIf(available)('PostgresKeyStore faults', () => {
  const schema = uniqueSchema('faults');
  const stores: PostgresKeyStore[] = [];
  let manager: KeyManager;
  const open = (options: Partial<ConstructorParameters<typeof PostgresKeyStore>[0]> = {}) => {
    const store = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema, poolSize: 4, ...options });
    stores.push(store);
    return store;
  };
  const bearer = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });

  beforeAll(async () => {
    manager = createKeyManager({ store: open({ applicationName: uniqueApplicationName('admin') }) });
    await manager.putAccount({ id: 'acct-faults', tier: 'premium' });
  });

  afterAll(async () => {
    for (const store of stores) await store.close();
    await dropSchema(schema);
  });

  it('LISTEN connection killed: reset(false), then reset(true) after reconnecting; a revocation made meanwhile is honoured', async () => {
    const applicationName = uniqueApplicationName('listen');
    const events: StoreEvent[] = [];
    const errors: Error[] = [];
    // A slow first retry leaves a window in which the revocation below lands while the channel is down.
    const store = open({ applicationName, reconnectMinMs: 2_000, reconnectMaxMs: 2_000, onError: (e) => errors.push(e) });
    store.subscribe((event) => events.push(event));
    const authenticator = createAuthenticator({ store });
    const { apiKey, key } = await manager.issue({ accountId: 'acct-faults', environment: 'live' });
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 5_000);
    expect((await authenticator.authenticate(bearer(apiKey))).ok).toBe(true);
    events.length = 0;

    expect(await terminate(`${applicationName}:listen`)).toBe(1);
    await eventually(() => events.length > 0, 3_000);
    expect(events).toEqual([{ type: 'reset', live: false }]);
    expect(errors.at(-1)?.message).toMatch(/LISTEN connection lost/);

    await manager.revoke(key.id);
    // Still down: the revocation's NOTIFY went to nobody on this instance.
    expect(events).toEqual([{ type: 'reset', live: false }]);

    await eventually(() => events.length === 2, 5_000);
    expect(events).toEqual([{ type: 'reset', live: false }, { type: 'reset', live: true }]);
    expect(await backendCount(`${applicationName}:listen`)).toBe(1);
    const after = await authenticator.authenticate(bearer(apiKey));
    expect(after.ok).toBe(false);
    if (!after.ok) expect(after.error.code).toBe('INVALID_API_KEY');

    // Listening again for real: a later revocation reaches this instance's warm cache.
    const second = await manager.issue({ accountId: 'acct-faults', environment: 'live' });
    expect((await authenticator.authenticate(bearer(second.apiKey))).ok).toBe(true);
    expect((await authenticator.authenticate(bearer(second.apiKey))).ok).toBe(true);
    const secondHash = (await store.getKey(second.key.id))!.hash;
    const heard = () => events.filter((e) => e.type === 'key-changed' && e.keyHash === secondHash).length;
    await eventually(() => heard() === 1, 2_000); // its creation
    await manager.revoke(second.key.id);
    await eventually(() => heard() === 2, 2_000);
    expect((await authenticator.authenticate(bearer(second.apiKey))).ok).toBe(false);
    await authenticator.close();
  });

  it('pool connections killed mid-run: lookups recover by themselves', async () => {
    const applicationName = uniqueApplicationName('pool');
    const errors: Error[] = [];
    const store = open({ applicationName, onError: (e) => errors.push(e) });
    const authenticator = createAuthenticator({ store, cache: false });
    const { apiKey } = await manager.issue({ accountId: 'acct-faults', environment: 'test' });
    // Several lookups at once, so the pool holds several connections.
    const warm = await Promise.all(Array.from({ length: 8 }, () => authenticator.authenticate(bearer(apiKey))));
    expect(warm.every((r) => r.ok)).toBe(true);
    expect(await backendCount(applicationName)).toBeGreaterThan(1);

    // Lookups keep running on four workers while their connections are killed under them, three times.
    let running = true;
    const outcomes: string[] = [];
    const worker = async () => {
      while (running) {
        const result = await authenticator.authenticate(bearer(apiKey));
        outcomes.push(result.ok ? 'ok' : `${result.error.code}`);
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    let killed = 0;
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      killed += await terminate(applicationName);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    running = false;
    await Promise.all(workers);
    expect(killed).toBeGreaterThan(3);
    expect(outcomes.length).toBeGreaterThan(20);
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    expect(errors.some((e) => /connection lost/.test(e.message))).toBe(true);
    await authenticator.close();
  });

  it('a lookup blocked by a lock: 503 AUTH_UNAVAILABLE instead of a hang, and normal again once the lock goes', async () => {
    const store = open({ applicationName: uniqueApplicationName('locked') });
    const reasons: string[] = [];
    const authenticator = createAuthenticator({ store, cache: false, lookupTimeoutMs: 300, onDecision: (d) => reasons.push(d.reason) });
    // The store's own statement_timeout also ends a blocked query, without any authenticator in front.
    const strict = open({ applicationName: uniqueApplicationName('strict'), statementTimeoutMs: 300 });
    const { apiKey, key } = await manager.issue({ accountId: 'acct-faults', environment: 'live' });
    const hash = (await store.getKey(key.id))!.hash;
    expect((await authenticator.authenticate(bearer(apiKey))).ok).toBe(true);

    const locker = new Client({ connectionString: POSTGRES_URL, application_name: 'finora-test-locker' });
    locker.on('error', () => undefined);
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".api_keys IN ACCESS EXCLUSIVE MODE`);
      for (let i = 0; i < 3; i++) {
        const result = await authenticator.authenticate(bearer(apiKey));
        expect(result.ok).toBe(false);
        if (!result.ok) {
          expect(result.error.status).toBe(503);
          expect(result.error.code).toBe('AUTH_UNAVAILABLE');
          expect(result.error.headers['Retry-After'] ?? result.error.headers['retry-after']).toBeDefined();
        }
      }
      expect(reasons.slice(-3)).toEqual(['store-timeout', 'store-timeout', 'store-timeout']);
      await expect(strict.findByHash(hash)).rejects.toMatchObject({ code: '57014' });
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    expect((await authenticator.authenticate(bearer(apiKey))).ok).toBe(true);
    expect(await strict.findByHash(hash)).not.toBeNull();
    await authenticator.close();
  });
});
