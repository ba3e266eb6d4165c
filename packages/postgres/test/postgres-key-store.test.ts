// PostgresKeyStore specifics: options, migrations, the events it sends, and a database that is down or stops answering.

import { afterAll, describe, expect, it } from 'vitest';
import { Pool } from 'pg';
import { createAuthenticator, createKeyManager, generateApiKey, keyHint, sha256Hex, type StoreEvent } from '@finora-auth/core';
import { PostgresKeyStore, PostgresSchemaError, migrationSql } from '@finora-auth/postgres';
import { runMigrations } from '../src/migrations';
import {
  POSTGRES_URL,
  TcpProxy,
  dropSchema,
  probePostgres,
  uniqueSchema,
  withAdmin,
} from './helpers';
import { eventually } from '@finora-auth/core/testing';

const available = await probePostgres('postgres/store');

describe('PostgresKeyStore options', () => {
  it('names the bad option, and never echoes the connection string', () => {
    const secret = 'postgres://app:hunter2@db.example/finora';
    const bad: [Record<string, unknown>, RegExp][] = [
      [{}, /connectionString/],
      [{ connectionString: '' }, /connectionString/],
      [{ connectionString: secret, schema: 'Finora' }, /option schema/],
      [{ connectionString: secret, schema: 'pg_keys' }, /option schema/],
      [{ connectionString: secret, schema: 'a'.repeat(57) }, /option schema/],
      [{ connectionString: secret, schema: 'x"; DROP TABLE y; --' }, /option schema/],
      [{ connectionString: secret, migrate: 'yes' }, /option migrate/],
      [{ connectionString: secret, poolSize: 0 }, /option poolSize/],
      [{ connectionString: secret, statementTimeoutMs: 1.5 }, /option statementTimeoutMs/],
      [{ connectionString: secret, heartbeatMs: -1 }, /option heartbeatMs/],
      [{ connectionString: secret, reconnectMinMs: 500, reconnectMaxMs: 100 }, /reconnectMaxMs/],
      [{ connectionString: secret, applicationName: 'é' }, /option applicationName/],
      [{ connectionString: secret, onError: 'log' }, /option onError/],
    ];
    for (const [options, message] of bad) {
      let thrown: unknown;
      try {
        new PostgresKeyStore(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).not.toContain('hunter2');
    }
  });

  it('does not mutate the caller\'s options, and connects to nothing until used', async () => {
    const options = Object.freeze({ connectionString: 'postgres://nobody@127.0.0.1:1/none', schema: 'finora_auth' });
    const store = new PostgresKeyStore(options);
    await store.close();
    await store.close();
    expect(options).toEqual({ connectionString: 'postgres://nobody@127.0.0.1:1/none', schema: 'finora_auth' });
    await expect(store.findByHash('0'.repeat(64))).rejects.toThrow(/closed/);
  });

  it('prints the schema as SQL for teams that migrate by hand', () => {
    const sql = migrationSql('billing_auth');
    expect(sql).toContain('CREATE SCHEMA IF NOT EXISTS "billing_auth"');
    expect(sql).toContain('CREATE UNIQUE INDEX api_keys_key_hash_key ON "billing_auth".api_keys (key_hash)');
    expect(sql).toContain('INSERT INTO "billing_auth".schema_migrations');
    expect(sql).toContain('ALTER TABLE "billing_auth".api_keys ADD COLUMN scopes text[]');
    expect(sql).toContain('CREATE TABLE "billing_auth".service_accounts');
    expect(sql).toContain('CREATE TABLE "billing_auth".signing_keys');
  });
});

describe.runIf(available)('PostgresKeyStore on PostgreSQL', () => {
  const schemas: string[] = [];
  const stores: PostgresKeyStore[] = [];
  const proxies: TcpProxy[] = [];
  const schemaFor = (label: string) => {
    const schema = uniqueSchema(label);
    schemas.push(schema);
    return schema;
  };
  const open = (options: Partial<ConstructorParameters<typeof PostgresKeyStore>[0]> & { schema: string }) => {
    const store = new PostgresKeyStore({ connectionString: POSTGRES_URL, poolSize: 4, ...options });
    stores.push(store);
    return store;
  };

  afterAll(async () => {
    for (const store of stores) await store.close();
    for (const proxy of proxies) await proxy.close();
    for (const schema of schemas) await dropSchema(schema);
  });

  it('creates its schema once when several instances start together, and records the version', async () => {
    const schema = schemaFor('race');
    const racers = Array.from({ length: 6 }, () => open({ schema }));
    const results = await Promise.allSettled(racers.map((store) => store.getAccount('nobody')));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
    const versions = await withAdmin((c) => c.query(`SELECT version FROM "${schema}".schema_migrations`));
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
    const indexes = await withAdmin((c) =>
      c.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname`, [schema]),
    );
    const defs = indexes.rows.map((r) => r.indexdef).join('\n');
    expect(defs).toMatch(/UNIQUE INDEX api_keys_key_hash_key .* \(key_hash\)/);
    expect(defs).toMatch(/INDEX api_keys_expiring_idx .* \(expires_at\) WHERE \(revoked_at IS NULL\)/);
  });

  it('migrates a v1 schema in place: its keys keep full access, and the v2 tables work', async () => {
    const schema = schemaFor('v1');
    const apiKey = generateApiKey('live');
    const pool = new Pool({ connectionString: POSTGRES_URL, max: 1 });
    try {
      await runMigrations(pool, schema, () => undefined, 1);
      await pool.query(`INSERT INTO "${schema}".accounts (id, tier, enterprise) VALUES ('acct-v1', 'premium', true)`);
      await pool.query(
        `INSERT INTO "${schema}".api_keys (id, account_id, key_hash, hint, environment, surface, name, created_at, expires_at)
         VALUES ('key_from_v1', 'acct-v1', $1, $2, 'live', 'enterprise', 'from v1', now(), now() + interval '30 days')`,
        [await sha256Hex(apiKey), keyHint(apiKey)],
      );
    } finally {
      await pool.end();
    }
    const before = await withAdmin((c) => c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`));
    expect(before.rows).toEqual([{ version: 1 }]);

    const store = open({ schema });
    const authenticator = createAuthenticator({ store });
    try {
      const manager = createKeyManager({ store });
      expect((await manager.list('acct-v1')).map((k) => [k.id, k.name, k.scopes])).toEqual([['key_from_v1', 'from v1', ['write']]]);
      expect((await store.findByHash(await sha256Hex(apiKey)))?.key).not.toHaveProperty('scopes');
      const allowed = await authenticator.authenticate({ authorization: `Bearer ${apiKey}`, module: 'payments', method: 'DELETE' });
      expect(allowed.ok).toBe(true);
      expect(await store.updateAccount('acct-v1', { tier: 'accountant_pro' })).toEqual({ id: 'acct-v1', tier: 'accountant_pro', enterprise: true });
      const secret = generateApiKey('live').replace('_sk_', '_cs_');
      await store.insertServiceAccount({
        clientId: 'sa_from_v2', accountId: 'acct-v1', secretHash: await sha256Hex(secret), secretHint: keyHint(secret),
        environment: 'live', createdAt: 1, secretCreatedAt: 1, expiresAt: 2,
      });
      expect((await store.findServiceAccount('sa_from_v2'))?.account.tier).toBe('accountant_pro');
    } finally {
      await authenticator.close();
    }
    const after = await withAdmin((c) => c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`));
    expect(after.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
  });

  it('with migrate off, refuses a missing schema with an error naming it, and works on one migrated by hand', async () => {
    const schema = schemaFor('manual');
    const store = open({ schema, migrate: false });
    const error = await store.getAccount('a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PostgresSchemaError);
    expect((error as PostgresSchemaError).code).toBe('SCHEMA_NOT_MIGRATED');
    expect((error as Error).message).toContain(schema);
    expect(await withAdmin((c) => c.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]))).toHaveProperty('rowCount', 0);

    await withAdmin((c) => c.query(migrationSql(schema)));
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct-manual', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acct-manual', environment: 'test' });
    const authenticator = createAuthenticator({ store });
    expect((await authenticator.authenticate({ authorization: `Bearer ${apiKey}` })).ok).toBe(true);
    await authenticator.close();
  });

  it('tells a new listener it is not live yet, then says once that it is; no event twice for its own writes', async () => {
    const schema = schemaFor('events');
    const writer = open({ schema });
    const reader = open({ schema });
    const seenByWriter: StoreEvent[] = [];
    const seenByReader: StoreEvent[] = [];
    writer.subscribe((event) => seenByWriter.push(event));
    reader.subscribe((event) => seenByReader.push(event));
    // Told at once, inside subscribe: no window where a cache trusts a channel that is not listening.
    expect(seenByWriter).toEqual([{ type: 'reset', live: false }]);
    await eventually(() => seenByWriter.length === 2 && seenByReader.length === 2, 5_000);
    expect(seenByReader).toEqual([{ type: 'reset', live: false }, { type: 'reset', live: true }]);

    const late: StoreEvent[] = [];
    reader.subscribe((event) => late.push(event));
    expect(late).toEqual([]);

    seenByWriter.length = 0;
    seenByReader.length = 0;
    const manager = createKeyManager({ store: writer });
    await manager.putAccount({ id: 'acct-events', tier: 'premium' });
    const issued = await manager.issue({ accountId: 'acct-events', environment: 'live' });
    await manager.revoke(issued.key.id);
    const hash = (await writer.getKey(issued.key.id))!.hash;
    const expected: StoreEvent[] = [
      { type: 'account-changed', accountId: 'acct-events' },
      { type: 'key-changed', keyHash: hash },
      { type: 'key-changed', keyHash: hash },
    ];
    expect(seenByWriter).toEqual(expected);
    // A write from a third instance, committed after the writer's: its NOTIFY reaches both listeners after the
    // writer's own (commit order), so once both have heard it a duplicate of the writer's would already be here.
    await open({ schema }).putAccount({ id: 'acct-marker', tier: 'free', enterprise: false });
    const marker: StoreEvent = { type: 'account-changed', accountId: 'acct-marker' };
    const heardMarker = (events: StoreEvent[]) => events.some((e) => e.type === 'account-changed' && e.accountId === 'acct-marker');
    await eventually(() => heardMarker(seenByWriter) && heardMarker(seenByReader), 5_000);
    expect(seenByWriter).toEqual([...expected, marker]);
    expect(seenByReader).toEqual([...expected, marker]);
    expect(late).toEqual([...expected, marker]);
  });

  it('keeps the stored row exact: millisecond times, an absent name, revocation time', async () => {
    const schema = schemaFor('exact');
    const store = open({ schema });
    let clock = Date.UTC(2031, 0, 31, 23, 59, 59, 999);
    const manager = createKeyManager({ store, now: () => clock, keyTtlDays: 1.5 });
    await manager.putAccount({ id: 'acct-exact', tier: 'accountant_pro', enterprise: true });
    const { apiKey, key } = await manager.issue({ accountId: 'acct-exact', environment: 'test', surface: 'enterprise' });
    clock += 7;
    await manager.revoke(key.id);
    const record = await store.findByHash((await store.getKey(key.id))!.hash);
    expect(record?.key).toMatchObject({
      createdAt: Date.UTC(2031, 0, 31, 23, 59, 59, 999),
      expiresAt: Date.UTC(2031, 0, 31, 23, 59, 59, 999) + 36 * 3_600_000,
      revokedAt: Date.UTC(2031, 0, 31, 23, 59, 59, 999) + 7,
    });
    expect(record?.key).not.toHaveProperty('name');
    expect(record?.key.hint).toBe(`test_sk_…${apiKey.slice(-4)}`);
  });

  it('an aborted lookup lets go at once, even while its query is blocked; close says the channel is gone', async () => {
    const schema = schemaFor('abort');
    const store = open({ schema });
    const events: StoreEvent[] = [];
    store.subscribe((event) => events.push(event));
    await store.putAccount({ id: 'acct-abort', tier: 'premium', enterprise: false });
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 5_000);

    const already = new AbortController();
    already.abort(new Error('gone before asking'));
    await expect(store.findByHash('a'.repeat(64), { signal: already.signal })).rejects.toThrow('gone before asking');

    await withAdmin(async (locker) => {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".api_keys IN ACCESS EXCLUSIVE MODE`);
      const controller = new AbortController();
      const pending = store.findByHash('b'.repeat(64), { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('invalidated')), 50);
      await expect(pending).rejects.toThrow('invalidated');
      await locker.query('ROLLBACK');
    });
    expect(await store.findByHash('b'.repeat(64))).toBeNull();

    events.length = 0;
    await Promise.all([store.close(), store.close()]);
    expect(events).toEqual([{ type: 'reset', live: false }]);
    await expect(store.getAccount('acct-abort')).rejects.toThrow(/closed/);
  });

  it('down at startup: nothing throws, lookups fail promptly with 503, and it recovers when the database is back', async () => {
    const proxy = await TcpProxy.start('refuse');
    proxies.push(proxy);
    const schema = schemaFor('down');
    const errors: Error[] = [];
    const events: StoreEvent[] = [];
    const store = open({
      schema,
      connectionString: proxy.url,
      connectTimeoutMs: 1_000,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
      onError: (error) => errors.push(error),
    });
    const authenticator = createAuthenticator({ store, lookupTimeoutMs: 2_000 });
    store.subscribe((event) => events.push(event));
    expect(events).toEqual([{ type: 'reset', live: false }]);

    const keys = createKeyManager({ store: open({ schema }) });
    await keys.putAccount({ id: 'acct-down', tier: 'premium' });
    const { apiKey } = await keys.issue({ accountId: 'acct-down', environment: 'live' });

    const refused = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.code).toBe('AUTH_UNAVAILABLE');
    await eventually(() => errors.length > 0, 2_000);
    for (const error of errors) expect(error.message).not.toContain(apiKey);

    proxy.mode = 'pass';
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), 5_000);
    expect((await authenticator.authenticate({ authorization: `Bearer ${apiKey}` })).ok).toBe(true);
    await authenticator.close();
  });

  it('a server that stops answering: the heartbeat notices, queries time out, and both recover', async () => {
    const proxy = await TcpProxy.start('pass');
    proxies.push(proxy);
    const schema = schemaFor('frozen');
    const events: StoreEvent[] = [];
    const store = open({
      schema,
      connectionString: proxy.url,
      statementTimeoutMs: 1_000,
      queryTimeoutMs: 1_500,
      connectTimeoutMs: 3_000,
      heartbeatMs: 200,
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    });
    store.subscribe((event) => events.push(event));
    const liveSince = (from: number, live: boolean) =>
      events.slice(from).some((event) => event.type === 'reset' && event.live === live);
    const keys = createKeyManager({ store: open({ schema }) });
    await keys.putAccount({ id: 'acct-frozen', tier: 'premium' });
    const { apiKey } = await keys.issue({ accountId: 'acct-frozen', environment: 'live' });
    const reasons: string[] = [];
    const authenticator = createAuthenticator({ store, lookupTimeoutMs: 10_000, onDecision: (d) => reasons.push(d.reason) });
    await eventually(() => liveSince(0, true), 10_000);
    expect((await authenticator.authenticate({ authorization: `Bearer ${apiKey}` })).ok).toBe(true);

    const frozenAt = events.length;
    proxy.mode = 'freeze';
    await eventually(() => liveSince(frozenAt, false), 10_000);
    // The store's own client-side timeout answers, long before the authenticator's 10 s would.
    const during = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
    expect(during.ok).toBe(false);
    if (!during.ok) expect(during.error.code).toBe('AUTH_UNAVAILABLE');
    expect(reasons.at(-1)).toBe('store-error');

    const thawedAt = events.length;
    proxy.mode = 'pass';
    await eventually(() => liveSince(thawedAt, true), 10_000);
    await eventually(async () => (await authenticator.authenticate({ authorization: `Bearer ${apiKey}` })).ok, 5_000);
    await authenticator.close();
  });
});
