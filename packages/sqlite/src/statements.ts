// Every SQL statement the store runs, prepared once per connection, and the mapping from rows to records.

import type Database from 'better-sqlite3';
import type {
  Account,
  KeyRecord,
  RateLimit,
  ServiceAccountRecord,
  ServiceAccountSecret,
  StoredKey,
  StoredServiceAccount,
  StoredSigningKey,
} from '@finora-auth/core';

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
  /** JSON array text; NULL means full access. */
  scopes: string | null;
  /** (v2) The key's own rate limit; NULL: none. */
  rate_requests: number | null;
  rate_per_seconds: number | null;
}

export interface RecordRow extends KeyRow {
  tier: Account['tier'];
  enterprise: number;
  account_rate_requests: number | null;
  account_rate_per_seconds: number | null;
  metered: number;
}

export interface ServiceAccountRow {
  client_id: string;
  account_id: string;
  secret_hash: string;
  secret_hint: string;
  environment: StoredServiceAccount['environment'];
  name: string | null;
  /** JSON array text; NULL means full access. */
  scopes: string | null;
  created_at: number;
  secret_created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface ServiceAccountRecordRow extends ServiceAccountRow {
  tier: Account['tier'];
  enterprise: number;
  account_rate_requests: number | null;
  account_rate_per_seconds: number | null;
  metered: number;
}

export interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: string;
  encrypted_private_key: string;
  created_at: number;
  retired_at: number | null;
}

export type ChangeKind = 'key' | 'account' | 'service-account';

export interface ChangeRow {
  id: number;
  kind: ChangeKind;
  subject: string;
}

const KEY_COLUMNS =
  'k.id, k.account_id, k.hash, k.hint, k.environment, k.surface, k.name, k.created_at, k.expires_at, k.revoked_at, k.scopes, k.rate_requests, k.rate_per_seconds';
/** An account's columns as a lookup reads them beside a key or a service account. */
const ACCOUNT_JOINED =
  'a.tier, a.enterprise, a.rate_requests AS account_rate_requests, a.rate_per_seconds AS account_rate_per_seconds, a.credit_balance IS NOT NULL AS metered';
/** An account's own columns; a balance (even 0) means metered, NULL means not. */
const ACCOUNT_COLUMNS = 'id, tier, enterprise, rate_requests, rate_per_seconds, credit_balance IS NOT NULL AS metered';
const SA_COLUMNS =
  's.client_id, s.account_id, s.secret_hash, s.secret_hint, s.environment, s.name, s.scopes, s.created_at, s.secret_created_at, s.expires_at, s.revoked_at';
const SIGNING_COLUMNS = 'kid, alg, public_jwk, encrypted_private_key, created_at, retired_at';

type Statement<Params extends unknown[], Row = unknown> = Database.Statement<Params, Row>;
export type AccountRow = {
  id: string;
  tier: Account['tier'];
  enterprise: number;
  rate_requests: number | null;
  rate_per_seconds: number | null;
  metered: number;
};
/** updateAccount's parameters: NULL leaves a field as it is; `rate_set` 1 writes the rate columns (NULL removes). */
export type AccountPatchRow = {
  id: string;
  tier: string | null;
  enterprise: number | null;
  rate_set: number;
  rate_requests: number | null;
  rate_per_seconds: number | null;
};
type SecretRow = { client_id: string; secret_hash: string; secret_hint: string; secret_created_at: number; expires_at: number };

export interface Statements {
  findByHash: Statement<[string], RecordRow>;
  getAccount: Statement<[string], AccountRow>;
  putAccount: Statement<[string, string, number, number | null, number | null]>;
  updateAccount: Statement<[AccountPatchRow], AccountRow>;
  listAccounts: Statement<[], AccountRow>;
  getKey: Statement<[string], KeyRow>;
  insertKey: Statement<[KeyRow]>;
  revokeKey: Statement<[number, string]>;
  listKeys: Statement<[string], KeyRow>;
  listExpiring: Statement<[number, number], KeyRow>;
  findServiceAccount: Statement<[string], ServiceAccountRecordRow>;
  getServiceAccount: Statement<[string], ServiceAccountRow>;
  insertServiceAccount: Statement<[ServiceAccountRow]>;
  replaceServiceAccountSecret: Statement<[SecretRow]>;
  revokeServiceAccount: Statement<[number, string]>;
  listServiceAccounts: Statement<[string], ServiceAccountRow>;
  listSigningKeys: Statement<[], SigningKeyRow>;
  getSigningKey: Statement<[string], SigningKeyRow>;
  insertSigningKey: Statement<[SigningKeyRow]>;
  retireSigningKey: Statement<[number, string]>;
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
      `SELECT ${KEY_COLUMNS}, ${ACCOUNT_JOINED}
         FROM finora_keys k JOIN finora_accounts a ON a.id = k.account_id
        WHERE k.hash = ?`,
    ),
    getAccount: db.prepare<[string], AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM finora_accounts WHERE id = ?`),
    // Replaces what an account is (tier, provisioning, rate limit), never its credits: only grants and unmeter touch those.
    putAccount: db.prepare<[string, string, number, number | null, number | null]>(
      `INSERT INTO finora_accounts (id, tier, enterprise, rate_requests, rate_per_seconds) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET tier = excluded.tier, enterprise = excluded.enterprise,
         rate_requests = excluded.rate_requests, rate_per_seconds = excluded.rate_per_seconds`,
    ),
    // One statement, so a concurrent write to another field is never read and written back (NULL: leave as is).
    updateAccount: db.prepare<[AccountPatchRow], AccountRow>(
      `UPDATE finora_accounts SET tier = coalesce(@tier, tier), enterprise = coalesce(@enterprise, enterprise),
         rate_requests = CASE WHEN @rate_set = 1 THEN @rate_requests ELSE rate_requests END,
         rate_per_seconds = CASE WHEN @rate_set = 1 THEN @rate_per_seconds ELSE rate_per_seconds END
        WHERE id = @id RETURNING ${ACCOUNT_COLUMNS}`,
    ),
    listAccounts: db.prepare<[], AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM finora_accounts ORDER BY id`),
    getKey: db.prepare<[string], KeyRow>(`SELECT ${KEY_COLUMNS} FROM finora_keys k WHERE k.id = ?`),
    insertKey: db.prepare<[KeyRow]>(
      `INSERT INTO finora_keys (id, account_id, hash, hint, environment, surface, name, created_at, expires_at, revoked_at, scopes,
                                rate_requests, rate_per_seconds)
       VALUES (@id, @account_id, @hash, @hint, @environment, @surface, @name, @created_at, @expires_at, @revoked_at, @scopes,
               @rate_requests, @rate_per_seconds)`,
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

    // Service accounts: like keys, the lookup reads the service account and its account in one indexed query.
    findServiceAccount: db.prepare<[string], ServiceAccountRecordRow>(
      `SELECT ${SA_COLUMNS}, ${ACCOUNT_JOINED}
         FROM finora_service_accounts s JOIN finora_accounts a ON a.id = s.account_id
        WHERE s.client_id = ?`,
    ),
    getServiceAccount: db.prepare<[string], ServiceAccountRow>(`SELECT ${SA_COLUMNS} FROM finora_service_accounts s WHERE s.client_id = ?`),
    insertServiceAccount: db.prepare<[ServiceAccountRow]>(
      `INSERT INTO finora_service_accounts (client_id, account_id, secret_hash, secret_hint, environment, name, scopes,
                                            created_at, secret_created_at, expires_at, revoked_at)
       VALUES (@client_id, @account_id, @secret_hash, @secret_hint, @environment, @name, @scopes,
               @created_at, @secret_created_at, @expires_at, @revoked_at)`,
    ),
    replaceServiceAccountSecret: db.prepare<[SecretRow]>(
      `UPDATE finora_service_accounts
          SET secret_hash = @secret_hash, secret_hint = @secret_hint, secret_created_at = @secret_created_at, expires_at = @expires_at
        WHERE client_id = @client_id AND revoked_at IS NULL`,
    ),
    revokeServiceAccount: db.prepare<[number, string]>(
      'UPDATE finora_service_accounts SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL',
    ),
    listServiceAccounts: db.prepare<[string], ServiceAccountRow>(
      `SELECT ${SA_COLUMNS} FROM finora_service_accounts s WHERE s.account_id = ? ORDER BY s.created_at, s.rowid`,
    ),

    // Signing keys: few, read whole.
    listSigningKeys: db.prepare<[], SigningKeyRow>(`SELECT ${SIGNING_COLUMNS} FROM finora_signing_keys ORDER BY created_at, rowid`),
    getSigningKey: db.prepare<[string], SigningKeyRow>(`SELECT ${SIGNING_COLUMNS} FROM finora_signing_keys WHERE kid = ?`),
    insertSigningKey: db.prepare<[SigningKeyRow]>(
      `INSERT INTO finora_signing_keys (${SIGNING_COLUMNS})
       VALUES (@kid, @alg, @public_jwk, @encrypted_private_key, @created_at, @retired_at)`,
    ),
    retireSigningKey: db.prepare<[number, string]>('UPDATE finora_signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL'),

    // The change log other processes read.
    insertChange: db.prepare<[ChangeKind, string, number]>('INSERT INTO finora_changes (kind, subject, at) VALUES (?, ?, ?)'),
    changesAfter: db.prepare<[number, number], ChangeRow>(
      'SELECT id, kind, subject FROM finora_changes WHERE id > ? ORDER BY id LIMIT ?',
    ),
    lastChangeId: db.prepare<[], number | null>('SELECT max(id) FROM finora_changes').pluck(),
    // Every write runs this. Left to itself SQLite answers max(id) by walking the ids down from the newest until one
    // is old enough, which, with nothing old enough, is the whole log: a scan per write, quadratic over a bulk
    // issue. Through the index on `at` it reads only the rows due for pruning, which the same write then deletes.
    prunableThrough: db
      .prepare<[number], number | null>('SELECT max(id) FROM finora_changes INDEXED BY finora_changes_at WHERE at < ?')
      .pluck(),
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
    scopes: toScopesText(key.scopes),
    rate_requests: key.rateLimit?.requests ?? null,
    rate_per_seconds: key.rateLimit?.perSeconds ?? null,
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
  if (row.scopes !== null) key.scopes = fromScopesText(row.scopes);
  const rateLimit = toRateLimit(row.rate_requests, row.rate_per_seconds);
  if (rateLimit) key.rateLimit = rateLimit;
  return key;
}

/** Both columns set: a limit; both NULL: none. Half a limit is handed on as it is, for the core to refuse as a fault. */
function toRateLimit(requests: number | null, perSeconds: number | null): RateLimit | undefined {
  if (requests === null && perSeconds === null) return undefined;
  return { requests, perSeconds } as RateLimit;
}

/** `metered` only when it is (absent otherwise), `rateLimit` only when set. */
export function toAccount(row: AccountRow): Account {
  const account: Account = { id: row.id, tier: row.tier, enterprise: row.enterprise === 1 };
  const rateLimit = toRateLimit(row.rate_requests, row.rate_per_seconds);
  if (rateLimit) account.rateLimit = rateLimit;
  if (row.metered === 1) account.metered = true;
  return account;
}

/** The account half of a lookup's joined row. */
function joinedAccount(row: RecordRow | ServiceAccountRecordRow): Account {
  return toAccount({
    id: row.account_id,
    tier: row.tier,
    enterprise: row.enterprise,
    rate_requests: row.account_rate_requests,
    rate_per_seconds: row.account_rate_per_seconds,
    metered: row.metered,
  });
}

export function toKeyRecord(row: RecordRow): KeyRecord {
  return { key: toStoredKey(row), account: joinedAccount(row) };
}

const toScopesText = (scopes: string[] | undefined): string | null => (scopes === undefined ? null : JSON.stringify(scopes));

// Whatever the column holds is handed on: the core treats a value that is not a list of scopes as a store fault,
// never as full access.
const fromScopesText = (text: string): string[] => JSON.parse(text) as string[];

export function toServiceAccountRow(sa: StoredServiceAccount): ServiceAccountRow {
  return {
    client_id: sa.clientId,
    account_id: sa.accountId,
    secret_hash: sa.secretHash,
    secret_hint: sa.secretHint,
    environment: sa.environment,
    name: sa.name ?? null,
    scopes: toScopesText(sa.scopes),
    created_at: sa.createdAt,
    secret_created_at: sa.secretCreatedAt,
    expires_at: sa.expiresAt,
    revoked_at: sa.revokedAt ?? null,
  };
}

export function toSecretRow(clientId: string, secret: ServiceAccountSecret): SecretRow {
  return {
    client_id: clientId,
    secret_hash: secret.secretHash,
    secret_hint: secret.secretHint,
    secret_created_at: secret.secretCreatedAt,
    expires_at: secret.expiresAt,
  };
}

export function toStoredServiceAccount(row: ServiceAccountRow): StoredServiceAccount {
  const sa: StoredServiceAccount = {
    clientId: row.client_id,
    accountId: row.account_id,
    secretHash: row.secret_hash,
    secretHint: row.secret_hint,
    environment: row.environment,
    createdAt: row.created_at,
    secretCreatedAt: row.secret_created_at,
    expiresAt: row.expires_at,
  };
  if (row.name !== null) sa.name = row.name;
  if (row.scopes !== null) sa.scopes = fromScopesText(row.scopes);
  if (row.revoked_at !== null) sa.revokedAt = row.revoked_at;
  return sa;
}

export function toServiceAccountRecord(row: ServiceAccountRecordRow): ServiceAccountRecord {
  return {
    serviceAccount: toStoredServiceAccount(row),
    account: joinedAccount(row),
  };
}

export function toSigningKeyRow(key: StoredSigningKey): SigningKeyRow {
  return {
    kid: key.kid,
    alg: key.alg,
    public_jwk: key.publicJwk,
    encrypted_private_key: key.encryptedPrivateKey,
    created_at: key.createdAt,
    retired_at: key.retiredAt ?? null,
  };
}

export function toStoredSigningKey(row: SigningKeyRow): StoredSigningKey {
  const key: StoredSigningKey = {
    kid: row.kid,
    alg: row.alg,
    publicJwk: row.public_jwk,
    encryptedPrivateKey: row.encrypted_private_key,
    createdAt: row.created_at,
  };
  if (row.retired_at !== null) key.retiredAt = row.retired_at;
  return key;
}
