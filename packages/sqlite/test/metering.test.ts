// SqliteKeyStore's migration 3, which brings an older file to credits and rate limits (old rows: no rate limit,
// unmetered); the metering checks themselves run in conformance.test.ts.

import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteKeyStore } from '../src/index';
import { migrate, SQLITE_MIGRATIONS } from '../src/schema';
import { tempDir } from './helpers';

const temp = tempDir('metering');
afterAll(() => temp.remove());

describe('SqliteKeyStore migration 3', () => {
  it('leaves a v2 file\'s accounts unmetered and its keys and accounts without a rate limit', async () => {
    const path = temp.file('v2.db');
    const v2 = new Database(path);
    try {
      migrate(v2, path, SQLITE_MIGRATIONS.slice(0, 2));
      v2.prepare("INSERT INTO finora_accounts (id, tier, enterprise) VALUES ('acct-v2', 'premium', 0)").run();
      v2.prepare(
        `INSERT INTO finora_keys (id, account_id, hash, hint, environment, surface, created_at, expires_at)
         VALUES ('key_v2', 'acct-v2', ?, 'fa_live_sk_…abcd', 'live', 'retail', 1, 2)`,
      ).run('a'.repeat(64));
    } finally {
      v2.close();
    }
    const store = new SqliteKeyStore({ path });
    try {
      expect(await store.getAccount('acct-v2')).toEqual({ id: 'acct-v2', tier: 'premium', enterprise: false });
      expect(await store.getCredits('acct-v2')).toEqual({ metered: false, balance: null });
      const record = await store.findByHash('a'.repeat(64));
      expect(record?.account).toEqual({ id: 'acct-v2', tier: 'premium', enterprise: false });
      expect(record?.key).not.toHaveProperty('rateLimit');
      expect(await store.takeCredits('acct-v2', 10, 1, Date.now())).toEqual({ granted: 0, balance: 0, metered: false });
    } finally {
      await store.close();
    }
  });
});
