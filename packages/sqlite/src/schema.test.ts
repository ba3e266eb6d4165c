// Opening files in every state: new, empty, shared with an application, current, older, newer, or not migrated.

import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, generateApiKey, keyHint, sha256Hex } from '@finora-auth/core';
import {
  SQLITE_MIGRATIONS,
  SQLITE_SCHEMA_VERSION,
  SqliteKeyStore,
  SqliteKeyStoreError,
  migrateSqliteKeyStore,
  type SqliteMigration,
} from './index';
import { assertSchema, migrate, schemaVersion } from './schema';
import { tempDir } from '../test/helpers';

const temp = tempDir('schema');
afterAll(() => temp.remove());

const peek = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return {
      version: schemaVersion(db),
      journal: db.pragma('journal_mode', { simple: true }),
      tables: db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
      indexes: db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'finora_%' ORDER BY name").pluck().all(),
    };
  } finally {
    db.close();
  }
};

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SqliteKeyStoreError);
    return (error as SqliteKeyStoreError).code;
  }
  return undefined;
};

describe('schema and migrations', () => {
  it('numbers migrations 1..N without gaps', () => {
    expect(SQLITE_MIGRATIONS.map((m) => m.version)).toEqual(SQLITE_MIGRATIONS.map((_, i) => i + 1));
    expect(SQLITE_SCHEMA_VERSION).toBe(SQLITE_MIGRATIONS.length);
  });

  it('creates the directory, the file and the tables on first open, in WAL mode with a unique hash index', async () => {
    const path = temp.file('fresh/deeper/keys.db');
    const store = new SqliteKeyStore({ path });
    await store.close();
    const seen = peek(path);
    expect(seen.version).toBe(SQLITE_SCHEMA_VERSION);
    expect(seen.journal).toBe('wal');
    expect(seen.tables).toEqual(expect.arrayContaining(['finora_accounts', 'finora_changes', 'finora_keys', 'finora_meta']));
    const db = new Database(path, { readonly: true });
    const unique = db.prepare("SELECT \"unique\" FROM pragma_index_list('finora_keys') WHERE name = 'finora_keys_hash'").pluck().get();
    db.close();
    expect(unique).toBe(1);
  });

  it('reopens an existing file without migrating again, keeping its data', async () => {
    const path = temp.file('reopen.db');
    const first = new SqliteKeyStore({ path });
    const manager = createKeyManager({ store: first });
    await manager.putAccount({ id: 'acct-reopen', tier: 'premium' });
    const { key } = await manager.issue({ accountId: 'acct-reopen', environment: 'live' });
    await first.close();
    expect(migrateSqliteKeyStore({ path })).toEqual({ from: SQLITE_SCHEMA_VERSION, to: SQLITE_SCHEMA_VERSION });
    const again = new SqliteKeyStore({ path, autoMigrate: false });
    expect((await again.getKey(key.id))?.accountId).toBe('acct-reopen');
    await again.close();
  });

  it('migrates an existing empty file, and a file holding an application\'s own tables without touching them', async () => {
    const empty = temp.file('empty.db');
    writeFileSync(empty, '');
    await new SqliteKeyStore({ path: empty }).close();
    expect(peek(empty).version).toBe(SQLITE_SCHEMA_VERSION);

    const shared = temp.file('app.db');
    const app = new Database(shared);
    app.exec("CREATE TABLE invoices (id TEXT PRIMARY KEY); INSERT INTO invoices VALUES ('inv-1'); PRAGMA user_version = 42;");
    app.close();
    await new SqliteKeyStore({ path: shared }).close();
    const after = new Database(shared, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(42);
    expect(after.prepare('SELECT id FROM invoices').pluck().all()).toEqual(['inv-1']);
    after.close();
    expect(peek(shared).version).toBe(SQLITE_SCHEMA_VERSION);
  });

  it('with autoMigrate off, refuses a file without the tables with a clear error, and opens once migrated', async () => {
    const path = temp.file('manual/keys.db');
    let error: unknown;
    try {
      new SqliteKeyStore({ path, autoMigrate: false });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SqliteKeyStoreError);
    expect((error as SqliteKeyStoreError).code).toBe('SCHEMA_MISSING');
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/autoMigrate is off.*migrateSqliteKeyStore/);
    expect(peek(path).tables).toEqual([]); // it checked, and wrote nothing

    expect(migrateSqliteKeyStore({ path })).toEqual({ from: 0, to: SQLITE_SCHEMA_VERSION });
    const store = new SqliteKeyStore({ path, autoMigrate: false });
    await store.putAccount({ id: 'acct-manual', tier: 'premium', enterprise: false });
    await store.close();
  });

  it('applies only the missing migrations to an older file, and refuses it with autoMigrate off', () => {
    const path = temp.file('older.db');
    const first = SQLITE_MIGRATIONS[0]!;
    const second: SqliteMigration = { version: 2, description: 'test', sql: 'CREATE TABLE finora_extra (x INTEGER);' };
    const db = new Database(path);
    try {
      expect(migrate(db, path, [first])).toEqual({ from: 0, to: 1 });
      expect(codeOf(() => assertSchema(db, path, [first, second]))).toBe('SCHEMA_OUTDATED');
      expect(migrate(db, path, [first, second])).toEqual({ from: 1, to: 2 });
      expect(schemaVersion(db)).toBe(2);
      expect(codeOf(() => assertSchema(db, path, [first, second]))).toBeUndefined();
      expect(migrate(db, path, [first, second])).toEqual({ from: 2, to: 2 });
    } finally {
      db.close();
    }
  });

  it('migrates a v1 file: its keys keep full access, and the change log keeps counting from where it was', async () => {
    const path = temp.file('v1.db');
    const apiKey = generateApiKey('live');
    const keyId = 'key_from_v1';
    const v1 = new Database(path);
    try {
      expect(migrate(v1, path, SQLITE_MIGRATIONS.slice(0, 1))).toEqual({ from: 0, to: 1 });
      v1.prepare("INSERT INTO finora_accounts (id, tier, enterprise) VALUES ('acct-v1', 'premium', 1)").run();
      v1.prepare(
        `INSERT INTO finora_keys (id, account_id, hash, hint, environment, surface, name, created_at, expires_at, revoked_at)
         VALUES (?, 'acct-v1', ?, ?, 'live', 'enterprise', 'from v1', ?, ?, NULL)`,
      ).run(keyId, await sha256Hex(apiKey), keyHint(apiKey), Date.now(), Date.now() + 86_400_000);
      const change = v1.prepare("INSERT INTO finora_changes (kind, subject, at) VALUES ('account', 'acct-v1', ?)");
      for (let i = 0; i < 5; i += 1) change.run(Date.now());
      // The newest rows are gone (as after pruning by a long-idle file): new ids must still count on from 5.
      v1.prepare('DELETE FROM finora_changes WHERE id > 3').run();
    } finally {
      v1.close();
    }

    const store = new SqliteKeyStore({ path });
    const authenticator = createAuthenticator({ store });
    try {
      expect(peek(path).version).toBe(SQLITE_SCHEMA_VERSION);
      const manager = createKeyManager({ store });
      expect((await manager.list('acct-v1')).map((k) => [k.id, k.name, k.scopes])).toEqual([[keyId, 'from v1', ['write']]]);
      const allowed = await authenticator.authenticate({ authorization: `Bearer ${apiKey}`, module: 'payments', method: 'DELETE' });
      expect(allowed.ok).toBe(true);
      expect((await store.findByHash(await sha256Hex(apiKey)))?.key).not.toHaveProperty('scopes');

      await store.updateAccount('acct-v1', { tier: 'accountant_pro' });
      const secret = generateApiKey('live').replace('_sk_', '_cs_');
      await store.insertServiceAccount({
        clientId: 'sa_from_v2', accountId: 'acct-v1', secretHash: await sha256Hex(secret), secretHint: keyHint(secret),
        environment: 'live', createdAt: 1, secretCreatedAt: 1, expiresAt: 2,
      });
    } finally {
      await authenticator.close();
      await store.close();
    }
    const after = new Database(path, { readonly: true });
    try {
      const rows = after.prepare('SELECT id, kind, subject FROM finora_changes ORDER BY id').all();
      expect(rows).toEqual([
        { id: 1, kind: 'account', subject: 'acct-v1' },
        { id: 2, kind: 'account', subject: 'acct-v1' },
        { id: 3, kind: 'account', subject: 'acct-v1' },
        { id: 6, kind: 'account', subject: 'acct-v1' },
        { id: 7, kind: 'service-account', subject: 'sa_from_v2' },
      ]);
      expect(after.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'finora_changes%' ORDER BY name").pluck().all()).toEqual([
        'finora_changes',
        'finora_changes_at',
      ]);
    } finally {
      after.close();
    }
  });

  it('refuses a file migrated by a newer version of the package, with or without autoMigrate', () => {
    const path = temp.file('newer.db');
    migrateSqliteKeyStore({ path });
    const db = new Database(path);
    db.prepare("UPDATE finora_meta SET value = ? WHERE name = 'schema_version'").run(SQLITE_SCHEMA_VERSION + 1);
    db.close();
    expect(codeOf(() => new SqliteKeyStore({ path }))).toBe('SCHEMA_TOO_NEW');
    expect(codeOf(() => new SqliteKeyStore({ path, autoMigrate: false }))).toBe('SCHEMA_TOO_NEW');
  });

  it('refuses a file that is not a database', () => {
    const path = temp.file('not-a-db.db');
    writeFileSync(path, 'this is not an SQLite database, but it is long enough to have a header of sorts.'.repeat(20));
    expect(codeOf(() => new SqliteKeyStore({ path }))).toBe('OPEN_FAILED');
  });
});
