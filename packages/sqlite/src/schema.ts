// The tables, their migrations in order, and the runner that brings a database file up to date.

import type Database from 'better-sqlite3';
import { SqliteKeyStoreError } from './errors';

export interface SqliteMigration {
  /** The schema version this migration leads to; versions count up from 1 without gaps. */
  version: number;
  description: string;
  /** Plain SQL, for teams that apply migrations with their own tooling. */
  sql: string;
}

// Every table is prefixed `finora_` so the store can share a file with an application's own tables, and the
// version lives in our own `finora_meta` row rather than `PRAGMA user_version`, which that application may use.
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = Object.freeze([
  {
    version: 1,
    description: 'accounts, keys (SHA-256 digest and hint only), change log for other processes',
    sql: `
CREATE TABLE finora_meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO finora_meta (name, value) VALUES ('changes_pruned_through', 0);

CREATE TABLE finora_accounts (
  id         TEXT PRIMARY KEY,
  tier       TEXT NOT NULL CHECK (tier IN ('free', 'premium', 'accountant_pro')),
  enterprise INTEGER NOT NULL CHECK (enterprise IN (0, 1))
);

CREATE TABLE finora_keys (
  id          TEXT PRIMARY KEY,
  account_id  TEXT NOT NULL,
  hash        TEXT NOT NULL CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
  hint        TEXT NOT NULL,
  environment TEXT NOT NULL CHECK (environment IN ('live', 'test')),
  surface     TEXT NOT NULL CHECK (surface IN ('retail', 'enterprise')),
  name        TEXT,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE UNIQUE INDEX finora_keys_hash ON finora_keys (hash);
CREATE INDEX finora_keys_account ON finora_keys (account_id, created_at);
CREATE INDEX finora_keys_expiring ON finora_keys (expires_at) WHERE revoked_at IS NULL;

CREATE TABLE finora_changes (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  kind    TEXT NOT NULL CHECK (kind IN ('key', 'account')),
  subject TEXT NOT NULL,
  at      INTEGER NOT NULL
);
CREATE INDEX finora_changes_at ON finora_changes (at);
`,
  },
  {
    version: 2,
    description: 'key scopes (NULL = full access), service accounts (secret digest and hint only), signing keys, service-account changes in the log',
    // A CHECK cannot be altered in SQLite, so the change log is rebuilt to accept its new kind, keeping its rows and
    // its AUTOINCREMENT position: another process's cursor must never find ids counting from below it.
    sql: `
ALTER TABLE finora_keys ADD COLUMN scopes TEXT;

CREATE TABLE finora_service_accounts (
  client_id         TEXT PRIMARY KEY,
  account_id        TEXT NOT NULL,
  secret_hash       TEXT NOT NULL CHECK (length(secret_hash) = 64 AND secret_hash NOT GLOB '*[^0-9a-f]*'),
  secret_hint       TEXT NOT NULL,
  environment       TEXT NOT NULL CHECK (environment IN ('live', 'test')),
  name              TEXT,
  scopes            TEXT,
  created_at        INTEGER NOT NULL,
  secret_created_at INTEGER NOT NULL,
  expires_at        INTEGER NOT NULL,
  revoked_at        INTEGER
);
CREATE INDEX finora_service_accounts_account ON finora_service_accounts (account_id, created_at);

CREATE TABLE finora_signing_keys (
  kid                   TEXT PRIMARY KEY,
  alg                   TEXT NOT NULL,
  public_jwk            TEXT NOT NULL,
  encrypted_private_key TEXT NOT NULL,
  created_at            INTEGER NOT NULL,
  retired_at            INTEGER
);

ALTER TABLE finora_changes RENAME TO finora_changes_v1;
CREATE TABLE finora_changes (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  kind    TEXT NOT NULL CHECK (kind IN ('key', 'account', 'service-account')),
  subject TEXT NOT NULL,
  at      INTEGER NOT NULL
);
INSERT INTO finora_changes (id, kind, subject, at) SELECT id, kind, subject, at FROM finora_changes_v1;
DELETE FROM sqlite_sequence WHERE name = 'finora_changes';
INSERT INTO sqlite_sequence (name, seq) SELECT 'finora_changes', seq FROM sqlite_sequence WHERE name = 'finora_changes_v1';
DROP TABLE finora_changes_v1;
CREATE INDEX finora_changes_at ON finora_changes (at);
`,
  },
  {
    version: 3,
    description: 'rate limits on accounts and keys (NULL = none), credits on accounts (NULL balance = unmetered), usage per day, rate windows',
    // Every row already in the file keeps meaning what it meant: no rate limit, unmetered.
    sql: `
ALTER TABLE finora_accounts ADD COLUMN rate_requests INTEGER;
ALTER TABLE finora_accounts ADD COLUMN rate_per_seconds INTEGER;
ALTER TABLE finora_accounts ADD COLUMN credit_balance INTEGER;
ALTER TABLE finora_accounts ADD COLUMN refill_amount INTEGER;
ALTER TABLE finora_accounts ADD COLUMN refill_period TEXT CHECK (refill_period IN ('day', 'month'));
ALTER TABLE finora_accounts ADD COLUMN refilled_period TEXT;
ALTER TABLE finora_keys ADD COLUMN rate_requests INTEGER;
ALTER TABLE finora_keys ADD COLUMN rate_per_seconds INTEGER;

CREATE TABLE finora_usage (
  account_id    TEXT NOT NULL,
  day           TEXT NOT NULL,
  key_id        TEXT NOT NULL,
  environment   TEXT NOT NULL CHECK (environment IN ('live', 'test')),
  module        TEXT NOT NULL DEFAULT '',
  allowed       INTEGER NOT NULL DEFAULT 0,
  credits_spent INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, day, key_id, environment, module)
) WITHOUT ROWID;

CREATE TABLE finora_rate_windows (
  bucket       TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  PRIMARY KEY (bucket, window_start)
) WITHOUT ROWID;
CREATE INDEX finora_rate_windows_expiry ON finora_rate_windows (expires_at);
`,
  },
]);

/** The schema version this package reads and writes. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/** The version recorded in the file: 0 when no finora-auth table exists yet. */
export function schemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'finora_meta'").get();
  if (!table) return 0;
  const row = db.prepare("SELECT value FROM finora_meta WHERE name = 'schema_version'").get() as
    | { value: number }
    | undefined;
  // finora_meta is created by migration 1, whose runner records version 1 in the same transaction.
  return row?.value ?? 0;
}

function tooNew(found: number, latest: number, path: string): SqliteKeyStoreError {
  return new SqliteKeyStoreError(
    'SCHEMA_TOO_NEW',
    `finora-auth: ${path} has schema version ${found}, newer than the ${latest} this @finora-auth/sqlite knows; upgrade the package`,
  );
}

/**
 * Fails unless the file's schema is exactly `migrations`' last version: for `autoMigrate: false`, where
 * someone else runs migrations and a store must not write to tables it does not understand.
 */
export function assertSchema(
  db: Database.Database,
  path: string,
  migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS,
): void {
  const latest = migrations.length;
  const found = schemaVersion(db);
  if (found === latest) return;
  if (found > latest) throw tooNew(found, latest, path);
  const how = 'run migrateSqliteKeyStore({ path }) or apply SQLITE_MIGRATIONS, or open with autoMigrate: true';
  if (found === 0) {
    throw new SqliteKeyStoreError('SCHEMA_MISSING', `finora-auth: ${path} has no finora-auth tables and autoMigrate is off; ${how}`);
  }
  throw new SqliteKeyStoreError(
    'SCHEMA_OUTDATED',
    `finora-auth: ${path} has schema version ${found}, older than the ${latest} this package needs, and autoMigrate is off; ${how}`,
  );
}

/**
 * Applies the migrations the file lacks, in one IMMEDIATE transaction: two processes opening a new file at
 * once serialize on the write lock, and the second finds the work done. Returns the versions before and after.
 */
export function migrate(
  db: Database.Database,
  path: string,
  migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS,
): { from: number; to: number } {
  const latest = migrations.length;
  const before = schemaVersion(db);
  if (before > latest) throw tooNew(before, latest, path);
  // Up to date is the common case (every gateway start): answer it without taking the write lock.
  if (before === latest) return { from: before, to: before };
  const apply = db.transaction(() => {
    const current = schemaVersion(db);
    if (current > latest) throw tooNew(current, latest, path);
    for (const migration of migrations.slice(current)) {
      db.exec(migration.sql);
      db.prepare(
        "INSERT INTO finora_meta (name, value) VALUES ('schema_version', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
      ).run(migration.version);
    }
    return current;
  });
  return { from: apply.immediate(), to: latest };
}
