// PostgresKeyStore's migration that brings a v2 schema to credits and rate limits (old rows: no rate limit,
// unmetered); the metering checks themselves run in conformance.test.ts.

import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { runMigrations } from '../src/migrations';
import { POSTGRES_URL, dropSchema, probePostgres, uniqueSchema } from './helpers';

const available = await probePostgres('postgres/metering');

describe.runIf(available)('PostgresKeyStore metering', () => {
  const v2Schema = uniqueSchema('v2');
  afterAll(() => dropSchema(v2Schema));

  it('migrates a v2 schema: its accounts are unmetered, and its keys and accounts have no rate limit', async () => {
    const pool = new Pool({ connectionString: POSTGRES_URL, max: 1 });
    try {
      await runMigrations(pool, v2Schema, () => undefined, 2);
      await pool.query(`INSERT INTO "${v2Schema}".accounts (id, tier, enterprise) VALUES ('acct-v2', 'premium', false)`);
      await pool.query(
        `INSERT INTO "${v2Schema}".api_keys (id, account_id, key_hash, hint, environment, surface, created_at, expires_at)
         VALUES ('key_v2', 'acct-v2', $1, 'fa_live_sk_…abcd', 'live', 'retail', now(), now() + interval '30 days')`,
        ['b'.repeat(64)],
      );
    } finally {
      await pool.end();
    }
    const store = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema: v2Schema });
    try {
      expect(await store.getAccount('acct-v2')).toEqual({ id: 'acct-v2', tier: 'premium', enterprise: false });
      expect(await store.getCredits('acct-v2')).toEqual({ metered: false, balance: null });
      const record = await store.findByHash('b'.repeat(64));
      expect(record?.account).toEqual({ id: 'acct-v2', tier: 'premium', enterprise: false });
      expect(record?.key).not.toHaveProperty('rateLimit');
      expect(await store.takeCredits('acct-v2', 10, 1, Date.now())).toEqual({ granted: 0, balance: 0, metered: false });
      expect(await store.grantCredits('acct-v2', 3)).toEqual({ balance: 3 });
      expect((await store.findByHash('b'.repeat(64)))?.account.metered).toBe(true);
    } finally {
      await store.close();
    }
  });
});
