// The store's schema as numbered migrations, and the runner that applies them once under an advisory lock.

import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

/**
 * A prepared statement's name, unique per schema and within PostgreSQL's 63 characters (a longer name is cut, and
 * two names cut alike would run each other's SQL): the schema goes in as a short digest.
 */
export const statementName = (schema: string, name: string): string =>
  `finora-auth:${createHash('sha256').update(schema).digest('hex').slice(0, 12)}:${name}`;

/** Double-quotes an identifier. Names reaching here are already validated; quoting keeps them exact anyway. */
export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

interface Migration {
  version: number;
  name: string;
  sql: (schema: string) => string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'accounts and api_keys',
    sql: (schema) => {
      const s = ident(schema);
      // Times are timestamptz(3): millisecond precision, exactly what the KeyStore's epoch-ms numbers carry,
      // and readable for whoever queries the table by hand.
      return `
        CREATE TABLE ${s}.accounts (
          id text PRIMARY KEY,
          tier text NOT NULL CHECK (tier IN ('free', 'premium', 'accountant_pro')),
          enterprise boolean NOT NULL DEFAULT false,
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE ${s}.api_keys (
          id text PRIMARY KEY,
          account_id text NOT NULL REFERENCES ${s}.accounts (id),
          key_hash text NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
          hint text NOT NULL,
          environment text NOT NULL CHECK (environment IN ('live', 'test')),
          surface text NOT NULL CHECK (surface IN ('retail', 'enterprise')),
          name text,
          created_at timestamptz(3) NOT NULL,
          expires_at timestamptz(3) NOT NULL,
          revoked_at timestamptz(3)
        );
        COMMENT ON COLUMN ${s}.api_keys.key_hash IS 'SHA-256 of the API key, lowercase hex; the key itself is never stored';
        CREATE UNIQUE INDEX api_keys_key_hash_key ON ${s}.api_keys (key_hash);
        CREATE INDEX api_keys_account_created_idx ON ${s}.api_keys (account_id, created_at);
        CREATE INDEX api_keys_expiring_idx ON ${s}.api_keys (expires_at) WHERE revoked_at IS NULL;
      `;
    },
  },
  {
    version: 2,
    name: 'key scopes, service accounts, signing keys',
    sql: (schema) => {
      const s = ident(schema);
      // scopes NULL is full access: every key a v1 schema holds keeps meaning what it meant.
      return `
        ALTER TABLE ${s}.api_keys ADD COLUMN scopes text[];
        CREATE TABLE ${s}.service_accounts (
          client_id text PRIMARY KEY,
          account_id text NOT NULL REFERENCES ${s}.accounts (id),
          secret_hash text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
          secret_hint text NOT NULL,
          environment text NOT NULL CHECK (environment IN ('live', 'test')),
          name text,
          scopes text[],
          created_at timestamptz(3) NOT NULL,
          secret_created_at timestamptz(3) NOT NULL,
          expires_at timestamptz(3) NOT NULL,
          revoked_at timestamptz(3)
        );
        COMMENT ON COLUMN ${s}.service_accounts.secret_hash IS 'SHA-256 of the client secret, lowercase hex; the secret itself is never stored';
        CREATE INDEX service_accounts_account_created_idx ON ${s}.service_accounts (account_id, created_at);
        CREATE TABLE ${s}.signing_keys (
          kid text PRIMARY KEY,
          alg text NOT NULL,
          public_jwk text NOT NULL,
          encrypted_private_key text NOT NULL,
          created_at timestamptz(3) NOT NULL,
          retired_at timestamptz(3)
        );
        COMMENT ON COLUMN ${s}.signing_keys.encrypted_private_key IS 'encrypted by the issuer under a secret this database never sees';
      `;
    },
  },
  {
    version: 3,
    name: 'rate limits, credits, usage, rate windows',
    sql: (schema) => {
      const s = ident(schema);
      // NULL everywhere means what a v2 row meant: no rate limit, unmetered. Rate windows are UNLOGGED: counters
      // a few seconds long need no crash safety, and skipping the WAL keeps the fleet's pushes cheap.
      return `
        ALTER TABLE ${s}.accounts
          ADD COLUMN rate_requests integer CHECK (rate_requests > 0),
          ADD COLUMN rate_per_seconds integer CHECK (rate_per_seconds > 0),
          ADD COLUMN credit_balance bigint CHECK (credit_balance >= 0),
          ADD COLUMN refill_amount bigint CHECK (refill_amount >= 0),
          ADD COLUMN refill_period text CHECK (refill_period IN ('day', 'month')),
          ADD COLUMN refilled_period text;
        COMMENT ON COLUMN ${s}.accounts.credit_balance IS 'NULL: not metered (never granted credits)';
        ALTER TABLE ${s}.api_keys
          ADD COLUMN rate_requests integer CHECK (rate_requests > 0),
          ADD COLUMN rate_per_seconds integer CHECK (rate_per_seconds > 0);
        CREATE TABLE ${s}.usage (
          account_id text NOT NULL,
          day text NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
          key_id text NOT NULL,
          environment text NOT NULL CHECK (environment IN ('live', 'test')),
          module text NOT NULL DEFAULT '',
          allowed bigint NOT NULL DEFAULT 0,
          credits_spent bigint NOT NULL DEFAULT 0,
          PRIMARY KEY (account_id, day, key_id, environment, module)
        );
        COMMENT ON COLUMN ${s}.usage.module IS 'empty: no module';
        CREATE UNLOGGED TABLE ${s}.rate_windows (
          bucket text NOT NULL,
          window_start bigint NOT NULL,
          count bigint NOT NULL,
          expires_at timestamptz NOT NULL,
          PRIMARY KEY (bucket, window_start)
        );
        CREATE INDEX rate_windows_expires_idx ON ${s}.rate_windows (expires_at);
      `;
    },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

const migrationsTable = (schema: string) => `${ident(schema)}.schema_migrations`;

/**
 * The whole schema as SQL, for teams that run migrations themselves (`migrate: false`). It is what the store
 * runs on first use, minus the advisory lock; running it twice fails on the existing tables.
 */
export function migrationSql(schema = 'finora_auth'): string {
  const lines = [
    `CREATE SCHEMA IF NOT EXISTS ${ident(schema)};`,
    `CREATE TABLE IF NOT EXISTS ${migrationsTable(schema)} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`,
  ];
  for (const migration of MIGRATIONS) {
    lines.push(migration.sql(schema).trim().replace(/^ {8}/gm, ''));
    lines.push(`INSERT INTO ${migrationsTable(schema)} (version, name) VALUES (${migration.version}, '${migration.name}');`);
  }
  return `${lines.join('\n')}\n`;
}

/** SQLSTATEs meaning "the schema or the migrations table is not there". */
const MISSING = new Set(['3F000', '42P01']);

/** The schema's migration version, 0 when it has none. */
export async function schemaVersion(pool: Pool, schema: string): Promise<number> {
  try {
    const { rows } = await pool.query<{ version: number }>(
      `SELECT coalesce(max(version), 0)::integer AS version FROM ${migrationsTable(schema)}`,
    );
    return rows[0]?.version ?? 0;
  } catch (error) {
    if (MISSING.has((error as { code?: string }).code ?? '')) return 0;
    throw error;
  }
}

/**
 * Brings the schema to the latest version. Instances starting together serialize on a transaction-level
 * advisory lock keyed by the schema name, and each one re-reads the version once it holds the lock, so a
 * migration runs exactly once; the lock goes with the transaction, even if this process dies mid-way.
 */
export async function runMigrations(
  pool: Pool,
  schema: string,
  onError: (error: Error) => void,
  /** @internal Stops at this version: tests make an older schema with it. */
  upTo = LATEST_VERSION,
): Promise<void> {
  const client: PoolClient = await pool.connect();
  // A checked-out client without an error listener would crash the process if its connection died between queries.
  client.on('error', onError);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`finora-auth:migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${migrationsTable(schema)} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(
      `SELECT coalesce(max(version), 0)::integer AS version FROM ${migrationsTable(schema)}`,
    );
    const current = rows[0]?.version ?? 0;
    for (const migration of MIGRATIONS) {
      if (migration.version <= current || migration.version > upTo) continue;
      await client.query(migration.sql(schema));
      await client.query(`INSERT INTO ${migrationsTable(schema)} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.removeListener('error', onError);
    // A failed migration's connection is not reused: it may be mid-transaction or dead.
    client.release(broken);
  }
}
