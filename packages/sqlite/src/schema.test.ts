// Opening files in every state: new, empty, shared with an application, current, older, newer, or not migrated.

import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeyManager } from '@finora-auth/core';
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
