// Every SQL statement the store runs, prepared once per connection, and the mapping from rows to records.

import type Database from 'better-sqlite3';
import type { Account, KeyRecord, StoredKey } from '@finora-auth/core';

export interface KeyRow {
  id: string;
  account_id: string;
  hash: string;
  hint: string;
  environment: StoredKey['environment'];
  surface: StoredKey['surface'];
  name: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface RecordRow extends KeyRow {
  tier: Account['tier'];
  enterprise: number;
}

export type ChangeKind = 'key' | 'account';

export interface ChangeRow {
  id: number;
  kind: ChangeKind;
  subject: string;
}

const KEY_COLUMNS = 'k.id, k.account_id, k.hash, k.hint, k.environment, k.surface, k.name, k.created_at, k.expires_at, k.revoked_at';

type Statement<Params extends unknown[], Row = unknown> = Database.Statement<Params, Row>;
type AccountRow = { id: string; tier: Account['tier']; enterprise: number };

export interface Statements {
  findByHash: Statement<[string], RecordRow>;
  getAccount: Statement<[string], AccountRow>;
  putAccount: Statement<[string, string, number]>;
  getKey: Statement<[string], KeyRow>;
  insertKey: Statement<[KeyRow]>;
  revokeKey: Statement<[number, string]>;
  listKeys: Statement<[string], KeyRow>;
  listExpiring: Statement<[number, number], KeyRow>;
  insertChange: Statement<[ChangeKind, string, number]>;
  changesAfter: Statement<[number, number], ChangeRow>;
  lastChangeId: Statement<[], number | null>;
  prunableThrough: Statement<[number], number | null>;
  deleteChanges: Statement<[number]>;
  prunedThrough: Statement<[], number>;
  setPrunedThrough: Statement<[number]>;
  dataVersion: Statement<[], number>;
}

export function prepareStatements(db: Database.Database): Statements {
  return {
    // The lookup on every cache miss: key and account in one indexed query (finora_keys_hash, then the account's primary key).
    findByHash: db.prepare<[string], RecordRow>(
      `SELECT ${KEY_COLUMNS}, a.tier, a.enterprise
         FROM finora_keys k JOIN finora_accounts a ON a.id = k.account_id
        WHERE k.hash = ?`,
    ),
    getAccount: db.prepare<[string], AccountRow>(
      'SELECT id, tier, enterprise FROM finora_accounts WHERE id = ?',
    ),
    putAccount: db.prepare<[string, string, number]>(
      `INSERT INTO finora_accounts (id, tier, enterprise) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET tier = excluded.tier, enterprise = excluded.enterprise`,
    ),
    getKey: db.prepare<[string], KeyRow>(`SELECT ${KEY_COLUMNS} FROM finora_keys k WHERE k.id = ?`),
    insertKey: db.prepare<[KeyRow]>(
      `INSERT INTO finora_keys (id, account_id, hash, hint, environment, surface, name, created_at, expires_at, revoked_at)
       VALUES (@id, @account_id, @hash, @hint, @environment, @surface, @name, @created_at, @expires_at, @revoked_at)`,
    ),
    revokeKey: db.prepare<[number, string]>('UPDATE finora_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    // rowid breaks ties between keys created in the same millisecond: insertion order.
    listKeys: db.prepare<[string], KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM finora_keys k WHERE k.account_id = ? ORDER BY k.created_at, k.rowid`,
    ),
    listExpiring: db.prepare<[number, number], KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM finora_keys k
        WHERE k.revoked_at IS NULL AND k.expires_at > ? AND k.expires_at <= ?
        ORDER BY k.expires_at, k.rowid`,
    ),

    // The change log other processes read.
    insertChange: db.prepare<[ChangeKind, string, number]>('INSERT INTO finora_changes (kind, subject, at) VALUES (?, ?, ?)'),
    changesAfter: db.prepare<[number, number], ChangeRow>(
      'SELECT id, kind, subject FROM finora_changes WHERE id > ? ORDER BY id LIMIT ?',
    ),
    lastChangeId: db.prepare<[], number | null>('SELECT max(id) FROM finora_changes').pluck(),
    prunableThrough: db.prepare<[number], number | null>('SELECT max(id) FROM finora_changes WHERE at < ?').pluck(),
    deleteChanges: db.prepare<[number]>('DELETE FROM finora_changes WHERE id <= ?'),
    prunedThrough: db.prepare<[], number>("SELECT value FROM finora_meta WHERE name = 'changes_pruned_through'").pluck(),
    setPrunedThrough: db.prepare<[number]>(
      "UPDATE finora_meta SET value = max(value, ?) WHERE name = 'changes_pruned_through'",
    ),
    // Moves whenever another connection commits to the file; reading it touches only the WAL index in shared memory.
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
  };
}

export function toKeyRow(key: StoredKey): KeyRow {
  return {
    id: key.id,
    account_id: key.accountId,
    hash: key.hash,
    hint: key.hint,
    environment: key.environment,
    surface: key.surface,
    name: key.name ?? null,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt ?? null,
  };
}

export function toStoredKey(row: KeyRow): StoredKey {
  const key: StoredKey = {
    id: row.id,
    accountId: row.account_id,
    hash: row.hash,
    hint: row.hint,
    environment: row.environment,
    surface: row.surface,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
  if (row.name !== null) key.name = row.name;
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  return key;
}

export function toAccount(row: AccountRow): Account {
  return { id: row.id, tier: row.tier, enterprise: row.enterprise === 1 };
}

export function toKeyRecord(row: RecordRow): KeyRecord {
  return { key: toStoredKey(row), account: toAccount({ id: row.account_id, tier: row.tier, enterprise: row.enterprise }) };
}
