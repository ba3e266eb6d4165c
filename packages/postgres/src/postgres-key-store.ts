// PostgresKeyStore: a KeyStore in PostgreSQL, with changes pushed to every instance through LISTEN/NOTIFY.

import { randomUUID } from 'node:crypto';
import { Pool, type QueryConfig, type QueryResultRow } from 'pg';
import {
  StoreEvents,
  type Account,
  type AccountPatch,
  type CreditRefill,
  type CreditState,
  type KeyRecord,
  type RateLimit,
  type KeyStore,
  type ServiceAccountRecord,
  type ServiceAccountSecret,
  type StoreListener,
  type StoredKey,
  type StoredServiceAccount,
  type StoredSigningKey,
  type UsageIncrement,
  type UsageRow,
} from '@finora-auth/core';
import { ChannelListener } from './listener';
import {
  meteringStatements,
  refillPeriods,
  toCreditState,
  toUsageColumns,
  toUsageRow,
  type CreditsRow,
  type UsageDbRow,
} from './metering-statements';
import { LATEST_VERSION, ident, runMigrations, schemaVersion, statementName } from './migrations';
import { resolveOptions, type PostgresKeyStoreOptions, type ResolvedOptions } from './options';

/** The schema is missing or older than this version of the store needs, and `migrate` is off. */
export class PostgresSchemaError extends Error {
  override readonly name = 'PostgresSchemaError';
  readonly code = 'SCHEMA_NOT_MIGRATED';
}

interface KeyRow extends QueryResultRow {
  id: string;
  account_id: string;
  key_hash: string;
  hint: string;
  environment: StoredKey['environment'];
  surface: StoredKey['surface'];
  name: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  /** NULL: full access. */
  scopes: string[] | null;
  /** (v2) NULL: no rate limit of its own. */
  rate_requests: number | null;
  rate_per_seconds: number | null;
}

/** An account's columns as every read returns them (joined ones prefixed `account_` where they would clash). */
interface AccountColumns {
  tier: Account['tier'];
  enterprise: boolean;
  account_rate_requests: number | null;
  account_rate_per_seconds: number | null;
  metered: boolean;
}

interface AccountRow extends QueryResultRow, AccountColumns {
  id: string;
}

interface KeyAccountRow extends KeyRow, AccountColumns {}

interface ServiceAccountRow extends QueryResultRow {
  client_id: string;
  account_id: string;
  secret_hash: string;
  secret_hint: string;
  environment: StoredServiceAccount['environment'];
  name: string | null;
  scopes: string[] | null;
  created_at: number;
  secret_created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

interface ServiceAccountAccountRow extends ServiceAccountRow, AccountColumns {}

interface SigningKeyRow extends QueryResultRow {
  kid: string;
  alg: string;
  public_jwk: string;
  encrypted_private_key: string;
  created_at: number;
  retired_at: number | null;
}

/**
 * What travels in a NOTIFY payload: the writing instance, then what changed. Never a key or a secret: a key's
 * digest, an account id, a service account's client id.
 */
type Notice = { o: string; t: 'k'; h: string } | { o: string; t: 'a'; a: string } | { o: string; t: 's'; c: string };

// Epoch ms <-> timestamptz(3). `round` keeps the result whole whether extract() gives numeric (PG 14+) or double.
const toTime = (param: string) => `to_timestamp(${param}::float8 / 1000)`;
const fromTime = (column: string, as: string) => `round(extract(epoch FROM ${column}) * 1000)::float8 AS ${as}`;
const keyColumns = (k: string) =>
  [
    `${k}.id`,
    `${k}.account_id`,
    `${k}.key_hash`,
    `${k}.hint`,
    `${k}.environment`,
    `${k}.surface`,
    `${k}.name`,
    fromTime(`${k}.created_at`, 'created_at'),
    fromTime(`${k}.expires_at`, 'expires_at'),
    fromTime(`${k}.revoked_at`, 'revoked_at'),
    `${k}.scopes`,
    `${k}.rate_requests`,
    `${k}.rate_per_seconds`,
  ].join(', ');
/** What every read of an account returns; the same names whether read alone or joined beside a key. */
const accountColumns = (a: string) =>
  `${a}.tier, ${a}.enterprise, ${a}.rate_requests AS account_rate_requests, ${a}.rate_per_seconds AS account_rate_per_seconds, ` +
  `${a}.credit_balance IS NOT NULL AS metered`;
const serviceAccountColumns = (sa: string) =>
  [
    `${sa}.client_id`,
    `${sa}.account_id`,
    `${sa}.secret_hash`,
    `${sa}.secret_hint`,
    `${sa}.environment`,
    `${sa}.name`,
    `${sa}.scopes`,
    fromTime(`${sa}.created_at`, 'created_at'),
    fromTime(`${sa}.secret_created_at`, 'secret_created_at'),
    fromTime(`${sa}.expires_at`, 'expires_at'),
    fromTime(`${sa}.revoked_at`, 'revoked_at'),
  ].join(', ');
const signingKeyColumns = (sk: string) =>
  [
    `${sk}.kid`,
    `${sk}.alg`,
    `${sk}.public_jwk`,
    `${sk}.encrypted_private_key`,
    fromTime(`${sk}.created_at`, 'created_at'),
    fromTime(`${sk}.retired_at`, 'retired_at'),
  ].join(', ');

function statements(schema: string) {
  const s = ident(schema);
  const keys = `${s}.api_keys`;
  const accounts = `${s}.accounts`;
  const serviceAccounts = `${s}.service_accounts`;
  const signingKeys = `${s}.signing_keys`;
  /** The NOTIFY of a service-account write, its channel and origin taken from the statement's parameters. */
  const notifyServiceAccount = (row: string, channel: string, origin: string) =>
    `pg_notify(${channel}, json_build_object('o', ${origin}::text, 't', 's', 'c', ${row}.client_id)::text)::text AS notified`;
  const named = (name: string, text: string) => ({ name: statementName(schema, name), text });
  return {
    // One round trip for the hot path: the key and its account together.
    findByHash: named(
      'find-by-hash',
      `SELECT ${keyColumns('k')}, ${accountColumns('a')} FROM ${keys} k JOIN ${accounts} a ON a.id = k.account_id WHERE k.key_hash = $1`,
    ),
    getAccount: named('get-account', `SELECT a.id, ${accountColumns('a')} FROM ${accounts} a WHERE a.id = $1`),
    listAccounts: named('list-accounts', `SELECT a.id, ${accountColumns('a')} FROM ${accounts} a ORDER BY a.id COLLATE "C"`),
    getKey: named('get-key', `SELECT ${keyColumns('k')} FROM ${keys} k WHERE k.id = $1`),
    listKeys: named('list-keys', `SELECT ${keyColumns('k')} FROM ${keys} k WHERE k.account_id = $1 ORDER BY k.created_at, k.id`),
    listExpiring: named(
      'list-expiring',
      `SELECT ${keyColumns('k')} FROM ${keys} k WHERE k.revoked_at IS NULL AND k.expires_at > ${toTime('$1')} ` +
        `AND k.expires_at <= ${toTime('$2')} ORDER BY k.expires_at, k.id`,
    ),
    // Each write and its NOTIFY are one statement, hence one transaction: the notice is sent if and only if the
    // change commits, and only once it has, so whoever hears it reads the new row.
    putAccount: named(
      'put-account',
      `WITH saved AS (INSERT INTO ${accounts} (id, tier, enterprise, rate_requests, rate_per_seconds) VALUES ($1, $2, $3, $6, $7) ` +
        `ON CONFLICT (id) DO UPDATE SET tier = EXCLUDED.tier, enterprise = EXCLUDED.enterprise, ` +
        `rate_requests = EXCLUDED.rate_requests, rate_per_seconds = EXCLUDED.rate_per_seconds, updated_at = now() RETURNING id) ` +
        `SELECT pg_notify($4, json_build_object('o', $5::text, 't', 'a', 'a', saved.id)::text) FROM saved`,
    ),
    // Only the named fields are written (a NULL parameter leaves its column as it is; $6 true writes the rate limit,
    // NULL removing it), in one statement: a concurrent update of another field is never read and written back.
    updateAccount: named(
      'update-account',
      `WITH updated AS (UPDATE ${accounts} a SET tier = coalesce($2::text, tier), enterprise = coalesce($3::boolean, enterprise), ` +
        `rate_requests = CASE WHEN $6::boolean THEN $7::integer ELSE rate_requests END, ` +
        `rate_per_seconds = CASE WHEN $6::boolean THEN $8::integer ELSE rate_per_seconds END, ` +
        `updated_at = now() WHERE id = $1 RETURNING a.id, ${accountColumns('a')}) ` +
        `SELECT updated.*, pg_notify($4, json_build_object('o', $5::text, 't', 'a', 'a', updated.id)::text)::text AS notified FROM updated`,
    ),
    insertKey: named(
      'insert-key',
      `WITH inserted AS (INSERT INTO ${keys} (id, account_id, key_hash, hint, environment, surface, name, created_at, expires_at, revoked_at, scopes, ` +
        `rate_requests, rate_per_seconds) ` +
        `VALUES ($1, $2, $3, $4, $5, $6, $7, ${toTime('$8')}, ${toTime('$9')}, ${toTime('$10')}, $13::text[], $14::integer, $15::integer) RETURNING key_hash) ` +
        `SELECT pg_notify($11, json_build_object('o', $12::text, 't', 'k', 'h', inserted.key_hash)::text) FROM inserted`,
    ),
    findServiceAccount: named(
      'find-service-account',
      `SELECT ${serviceAccountColumns('sa')}, ${accountColumns('a')} FROM ${serviceAccounts} sa ` +
        `JOIN ${accounts} a ON a.id = sa.account_id WHERE sa.client_id = $1`,
    ),
    getServiceAccount: named('get-service-account', `SELECT ${serviceAccountColumns('sa')} FROM ${serviceAccounts} sa WHERE sa.client_id = $1`),
    listServiceAccounts: named(
      'list-service-accounts',
      `SELECT ${serviceAccountColumns('sa')} FROM ${serviceAccounts} sa WHERE sa.account_id = $1 ORDER BY sa.created_at, sa.client_id`,
    ),
    insertServiceAccount: named(
      'insert-service-account',
      `WITH inserted AS (INSERT INTO ${serviceAccounts} (client_id, account_id, secret_hash, secret_hint, environment, name, scopes, ` +
        `created_at, secret_created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7::text[], ` +
        `${toTime('$8')}, ${toTime('$9')}, ${toTime('$10')}, ${toTime('$11')}) RETURNING client_id) ` +
        `SELECT ${notifyServiceAccount('inserted', '$12', '$13')} FROM inserted`,
    ),
    replaceServiceAccountSecret: named(
      'replace-service-account-secret',
      `WITH replaced AS (UPDATE ${serviceAccounts} AS sa SET secret_hash = $2, secret_hint = $3, secret_created_at = ${toTime('$4')}, ` +
        `expires_at = ${toTime('$5')} WHERE sa.client_id = $1 AND sa.revoked_at IS NULL RETURNING ${serviceAccountColumns('sa')}) ` +
        `SELECT replaced.*, ${notifyServiceAccount('replaced', '$6', '$7')} FROM replaced`,
    ),
    revokeServiceAccount: named(
      'revoke-service-account',
      `WITH revoked AS (UPDATE ${serviceAccounts} AS sa SET revoked_at = ${toTime('$2')} WHERE sa.client_id = $1 AND sa.revoked_at IS NULL ` +
        `RETURNING ${serviceAccountColumns('sa')}) ` +
        `SELECT revoked.*, ${notifyServiceAccount('revoked', '$3', '$4')} FROM revoked`,
    ),
    listSigningKeys: named('list-signing-keys', `SELECT ${signingKeyColumns('sk')} FROM ${signingKeys} sk ORDER BY sk.created_at, sk.kid`),
    getSigningKey: named('get-signing-key', `SELECT ${signingKeyColumns('sk')} FROM ${signingKeys} sk WHERE sk.kid = $1`),
    insertSigningKey: named(
      'insert-signing-key',
      `INSERT INTO ${signingKeys} (kid, alg, public_jwk, encrypted_private_key, created_at, retired_at) ` +
        `VALUES ($1, $2, $3, $4, ${toTime('$5')}, ${toTime('$6')})`,
    ),
    retireSigningKey: named(
      'retire-signing-key',
      `UPDATE ${signingKeys} AS sk SET retired_at = ${toTime('$2')} WHERE sk.kid = $1 AND sk.retired_at IS NULL ` +
        `RETURNING ${signingKeyColumns('sk')}`,
    ),
    revokeKey: named(
      'revoke-key',
      `WITH revoked AS (UPDATE ${keys} AS k SET revoked_at = ${toTime('$2')} WHERE k.id = $1 AND k.revoked_at IS NULL ` +
        `RETURNING ${keyColumns('k')}) ` +
        `SELECT revoked.*, pg_notify($3, json_build_object('o', $4::text, 't', 'k', 'h', revoked.key_hash)::text)::text AS notified FROM revoked`,
    ),
  } satisfies Record<string, QueryConfig>;
}

function toStoredKey(row: KeyRow): StoredKey {
  const key: StoredKey = {
    id: row.id,
    accountId: row.account_id,
    hash: row.key_hash,
    hint: row.hint,
    environment: row.environment,
    surface: row.surface,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
  if (row.name !== null) key.name = row.name;
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  if (row.scopes !== null) key.scopes = row.scopes;
  const rateLimit = toRateLimit(row.rate_requests, row.rate_per_seconds);
  if (rateLimit) key.rateLimit = rateLimit;
  return key;
}

/** Both columns set: a limit; both NULL: none. Half a limit is handed on for the core to refuse as a fault. */
function toRateLimit(requests: number | null, perSeconds: number | null): RateLimit | undefined {
  if (requests === null && perSeconds === null) return undefined;
  return { requests, perSeconds } as RateLimit;
}

/** `metered` only when it is, `rateLimit` only when set: an unmetered, unlimited account reads as in v1. */
function toAccount(id: string, row: AccountColumns): Account {
  const account: Account = { id, tier: row.tier, enterprise: row.enterprise };
  const rateLimit = toRateLimit(row.account_rate_requests, row.account_rate_per_seconds);
  if (rateLimit) account.rateLimit = rateLimit;
  if (row.metered) account.metered = true;
  return account;
}

function toStoredServiceAccount(row: ServiceAccountRow): StoredServiceAccount {
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
  if (row.scopes !== null) sa.scopes = row.scopes;
  if (row.revoked_at !== null) sa.revokedAt = row.revoked_at;
  return sa;
}

function toStoredSigningKey(row: SigningKeyRow): StoredSigningKey {
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

const CONNECTION_LOST_CODES = new Set(['ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03']);

/**
 * A connection that died under the query (terminated backend, reset socket): the query did not run, or its
 * answer was lost. Timeouts are not included: a slow server is not made faster by asking twice.
 */
function isConnectionLost(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (CONNECTION_LOST_CODES.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && /Connection terminated|not queryable/.test(message);
}

/** The promise, or the signal's reason as soon as it aborts; the abandoned query finishes (or times out) unobserved. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

const READ_ATTEMPTS = 3;
/** Expired rate windows are deleted on every this-many increments by this instance. */
const PRUNE_RATE_WINDOWS_EVERY = 500;

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

function assertAmount(operation: string, value: unknown, least: number): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < least) {
    throw new TypeError(`finora-auth: PostgresKeyStore ${operation} needs a whole number >= ${least}; got ${String(value)}`);
  }
}

export class PostgresKeyStore implements KeyStore {
  readonly #options: ResolvedOptions;
  readonly #pool: Pool;
  readonly #events = new StoreEvents();
  readonly #listener: ChannelListener;
  readonly #sql: ReturnType<typeof statements>;
  readonly #metering: ReturnType<typeof meteringStatements>;
  #rateIncrements = 0;
  /** Tags this instance's NOTIFYs, so it does not hear its own writes twice (it already told its listeners). */
  readonly #origin = randomUUID();
  #ready: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Connects nothing: the pool and the LISTEN connection open on first use, so a database down at startup throws here never. */
  constructor(options: PostgresKeyStoreOptions) {
    const config = resolveOptions(options);
    this.#options = config;
    this.#sql = statements(config.schema);
    this.#metering = meteringStatements(config.schema);
    this.#pool = new Pool({
      connectionString: config.connectionString,
      max: config.poolSize,
      connectionTimeoutMillis: config.connectTimeoutMs,
      idleTimeoutMillis: config.idleTimeoutMs,
      statement_timeout: config.statementTimeoutMs,
      query_timeout: config.queryTimeoutMs,
      // A transaction left open by a crashed caller must not hold row locks for ever.
      idle_in_transaction_session_timeout: Math.max(config.statementTimeoutMs * 2, 10_000),
      application_name: config.applicationName,
      keepAlive: true,
    });
    // An idle connection that dies (server restart, pg_terminate_backend) is removed by the pool; without a
    // listener here its 'error' event would crash the process.
    this.#pool.on('error', (error) => {
      config.onError(new Error(`finora-auth: idle PostgreSQL connection lost: ${error.message}`, { cause: error }));
    });
    this.#listener = new ChannelListener(config, {
      notification: (payload) => this.#onNotice(payload),
      live: (live) => this.#events.emit({ type: 'reset', live }),
    });
  }

  async findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const rows = await abortable(this.#read<KeyAccountRow>(this.#sql.findByHash, [hash], signal), signal);
    const row = rows[0];
    if (!row) return null;
    return { key: toStoredKey(row), account: toAccount(row.account_id, row) };
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const rows = await this.#read<AccountRow>(this.#sql.getAccount, [accountId]);
    const row = rows[0];
    return row ? toAccount(row.id, row) : null;
  }

  /** Replaces tier, provisioning and rate limit; `account.metered` is ignored (credits change only through grants and unmeter). */
  async putAccount(account: Account): Promise<void> {
    const { channel } = this.#options;
    await this.#write(this.#sql.putAccount, [
      account.id,
      account.tier,
      account.enterprise,
      channel,
      this.#origin,
      account.rateLimit?.requests ?? null,
      account.rateLimit?.perSeconds ?? null,
    ]);
    this.#events.emit({ type: 'account-changed', accountId: account.id });
  }

  async updateAccount(accountId: string, patch: AccountPatch): Promise<Account | null> {
    const { channel } = this.#options;
    const rateLimit = patch?.rateLimit;
    const rows = await this.#write<AccountRow>(this.#sql.updateAccount, [
      accountId,
      patch?.tier ?? null,
      patch?.enterprise ?? null,
      channel,
      this.#origin,
      rateLimit !== undefined,
      rateLimit?.requests ?? null,
      rateLimit?.perSeconds ?? null,
    ]);
    const row = rows[0];
    if (!row) return null;
    this.#events.emit({ type: 'account-changed', accountId });
    return toAccount(row.id, row);
  }

  async listAccounts(): Promise<Account[]> {
    return (await this.#read<AccountRow>(this.#sql.listAccounts, [])).map((row) => toAccount(row.id, row));
  }

  async grantCredits(accountId: string, amount: number): Promise<{ balance: number } | null> {
    assertAmount('grantCredits', amount, 1);
    const rows = await this.#write<{ balance: number; notified: string | null }>(this.#metering.grantCredits, [
      accountId,
      amount,
      this.#options.channel,
      this.#origin,
    ]);
    const row = rows[0];
    if (!row) return null;
    // The metered flag is cached with the account's keys: becoming metered must reach every cache.
    if (row.notified !== null) this.#events.emit({ type: 'account-changed', accountId });
    return { balance: row.balance };
  }

  async setCreditRefill(accountId: string, refill: CreditRefill | null): Promise<CreditState | null> {
    if (refill !== null) {
      assertAmount('setCreditRefill', refill?.amount, 0);
      if (refill.period !== 'day' && refill.period !== 'month') {
        throw new TypeError("finora-auth: PostgresKeyStore setCreditRefill needs period 'day' or 'month'");
      }
    }
    const rows = await this.#write<CreditsRow>(this.#metering.setCreditRefill, [accountId, refill?.amount ?? null, refill?.period ?? null]);
    return rows[0] ? toCreditState(rows[0]) : null;
  }

  async getCredits(accountId: string): Promise<CreditState | null> {
    const rows = await this.#read<CreditsRow>(this.#metering.getCredits, [accountId]);
    return rows[0] ? toCreditState(rows[0]) : null;
  }

  async unmeter(accountId: string): Promise<boolean> {
    const rows = await this.#write(this.#metering.unmeter, [accountId, this.#options.channel, this.#origin]);
    if (rows.length === 0) return false;
    this.#events.emit({ type: 'account-changed', accountId });
    return true;
  }

  /** One statement: the row is locked, a due refill applied and the lease taken before any other take sees it. */
  async takeCredits(accountId: string, want: number, min: number, now: number): Promise<{ granted: number; balance: number; metered: boolean }> {
    assertAmount('takeCredits', want, 0);
    assertAmount('takeCredits', min, 0);
    const [day, month] = refillPeriods(now);
    const rows = await this.#write<{ granted: number; balance: number }>(this.#metering.takeCredits, [accountId, want, min, day, month]);
    const row = rows[0];
    return row ? { granted: row.granted, balance: row.balance, metered: true } : { granted: 0, balance: 0, metered: false };
  }

  async returnCredits(accountId: string, amount: number): Promise<void> {
    assertAmount('returnCredits', amount, 0);
    if (amount > 0) await this.#write(this.#metering.returnCredits, [accountId, amount]);
  }

  async addUsage(rows: readonly UsageIncrement[]): Promise<void> {
    for (const row of rows) {
      if (!isCount(row?.allowed) || !isCount(row.creditsSpent)) throw new TypeError('finora-auth: PostgresKeyStore addUsage needs whole counts >= 0');
    }
    if (rows.length === 0) return;
    await this.#write(this.#metering.addUsage, toUsageColumns(rows));
  }

  async listUsage(accountId: string, since: string, until: string): Promise<UsageRow[]> {
    return (await this.#read<UsageDbRow>(this.#metering.listUsage, [accountId, since, until])).map(toUsageRow);
  }

  /** Shared by every instance on the database; expired windows are deleted now and then, off the caller's path. */
  async incrementRateWindow(bucket: string, windowStart: number, by: number, ttlMs: number): Promise<number> {
    assertAmount('incrementRateWindow', by, 0);
    const rows = await this.#write<{ count: number }>(this.#metering.incrementRateWindow, [bucket, windowStart, by, ttlMs]);
    if (++this.#rateIncrements % PRUNE_RATE_WINDOWS_EVERY === 0) {
      this.#write(this.#metering.pruneRateWindows, []).catch((error: unknown) => {
        this.#options.onError(error instanceof Error ? error : new Error(String(error)));
      });
    }
    return rows[0]!.count;
  }

  async getKey(keyId: string): Promise<StoredKey | null> {
    const rows = await this.#read<KeyRow>(this.#sql.getKey, [keyId]);
    return rows[0] ? toStoredKey(rows[0]) : null;
  }

  async insertKey(key: StoredKey): Promise<void> {
    await this.#write(this.#sql.insertKey, [
      key.id,
      key.accountId,
      key.hash,
      key.hint,
      key.environment,
      key.surface,
      key.name ?? null,
      key.createdAt,
      key.expiresAt,
      key.revokedAt ?? null,
      this.#options.channel,
      this.#origin,
      key.scopes ?? null,
      key.rateLimit?.requests ?? null,
      key.rateLimit?.perSeconds ?? null,
    ]);
    this.#events.emit({ type: 'key-changed', keyHash: key.hash });
  }

  async revokeKey(keyId: string, revokedAt: number): Promise<StoredKey | null> {
    const rows = await this.#write<KeyRow>(this.#sql.revokeKey, [keyId, revokedAt, this.#options.channel, this.#origin]);
    const revoked = rows[0];
    if (revoked) {
      const key = toStoredKey(revoked);
      this.#events.emit({ type: 'key-changed', keyHash: key.hash });
      return key;
    }
    // Unknown, or revoked already (perhaps a moment ago by another instance): a new statement sees the committed row.
    return this.getKey(keyId);
  }

  async listKeys(accountId: string): Promise<StoredKey[]> {
    return (await this.#read<KeyRow>(this.#sql.listKeys, [accountId])).map(toStoredKey);
  }

  async listExpiring(after: number, until: number): Promise<StoredKey[]> {
    return (await this.#read<KeyRow>(this.#sql.listExpiring, [after, until])).map(toStoredKey);
  }

  async findServiceAccount(clientId: string, options?: { signal?: AbortSignal }): Promise<ServiceAccountRecord | null> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const rows = await abortable(this.#read<ServiceAccountAccountRow>(this.#sql.findServiceAccount, [clientId], signal), signal);
    const row = rows[0];
    if (!row) return null;
    return { serviceAccount: toStoredServiceAccount(row), account: toAccount(row.account_id, row) };
  }

  async insertServiceAccount(serviceAccount: StoredServiceAccount): Promise<void> {
    const sa = serviceAccount;
    await this.#write(this.#sql.insertServiceAccount, [
      sa.clientId,
      sa.accountId,
      sa.secretHash,
      sa.secretHint,
      sa.environment,
      sa.name ?? null,
      sa.scopes ?? null,
      sa.createdAt,
      sa.secretCreatedAt,
      sa.expiresAt,
      sa.revokedAt ?? null,
      this.#options.channel,
      this.#origin,
    ]);
    this.#events.emit({ type: 'service-account-changed', clientId: sa.clientId });
  }

  async replaceServiceAccountSecret(clientId: string, secret: ServiceAccountSecret): Promise<StoredServiceAccount | null> {
    const rows = await this.#write<ServiceAccountRow>(this.#sql.replaceServiceAccountSecret, [
      clientId,
      secret.secretHash,
      secret.secretHint,
      secret.secretCreatedAt,
      secret.expiresAt,
      this.#options.channel,
      this.#origin,
    ]);
    const row = rows[0];
    // Unknown or revoked: nothing changed, no one is told.
    if (!row) return null;
    this.#events.emit({ type: 'service-account-changed', clientId });
    return toStoredServiceAccount(row);
  }

  async revokeServiceAccount(clientId: string, revokedAt: number): Promise<StoredServiceAccount | null> {
    const rows = await this.#write<ServiceAccountRow>(this.#sql.revokeServiceAccount, [
      clientId,
      revokedAt,
      this.#options.channel,
      this.#origin,
    ]);
    const row = rows[0];
    if (row) {
      this.#events.emit({ type: 'service-account-changed', clientId });
      return toStoredServiceAccount(row);
    }
    const current = await this.#read<ServiceAccountRow>(this.#sql.getServiceAccount, [clientId]);
    return current[0] ? toStoredServiceAccount(current[0]) : null;
  }

  async listServiceAccounts(accountId: string): Promise<StoredServiceAccount[]> {
    return (await this.#read<ServiceAccountRow>(this.#sql.listServiceAccounts, [accountId])).map(toStoredServiceAccount);
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    return (await this.#read<SigningKeyRow>(this.#sql.listSigningKeys, [])).map(toStoredSigningKey);
  }

  /** No event: authenticators cache nothing about signing keys; each issuer reads them when it needs them. */
  async insertSigningKey(key: StoredSigningKey): Promise<void> {
    await this.#write(this.#sql.insertSigningKey, [
      key.kid,
      key.alg,
      key.publicJwk,
      key.encryptedPrivateKey,
      key.createdAt,
      key.retiredAt ?? null,
    ]);
  }

  async retireSigningKey(kid: string, retiredAt: number): Promise<StoredSigningKey | null> {
    const rows = await this.#write<SigningKeyRow>(this.#sql.retireSigningKey, [kid, retiredAt]);
    if (rows[0]) return toStoredSigningKey(rows[0]);
    const current = await this.#read<SigningKeyRow>(this.#sql.getSigningKey, [kid]);
    return current[0] ? toStoredSigningKey(current[0]) : null;
  }

  /** Listening starts the LISTEN connection; until it is listening, a new listener is told `reset` with `live: false`. */
  subscribe(listener: StoreListener): () => void {
    const stop = this.#events.subscribe(listener);
    if (!this.#closing) this.#listener.start();
    if (!this.#listener.live) {
      try {
        listener({ type: 'reset', live: false });
      } catch {
        // The listener's fault is its own.
      }
    }
    return stop;
  }

  /**
   * Creates the schema or brings it to the latest version now, whatever `migrate` says: for a deploy step that
   * migrates before the gateways start. Safe to run from several processes at once.
   */
  async migrate(): Promise<void> {
    this.#assertOpen();
    await runMigrations(this.#pool, this.#options.schema, this.#options.onError);
    this.#ready = Promise.resolve();
  }

  /** Ends the LISTEN connection and the pool; later calls return the same promise. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const wasLive = this.#listener.live;
      await this.#listener.close();
      // No change will be heard any more: caches built on this store must stop trusting themselves.
      if (wasLive) this.#events.emit({ type: 'reset', live: false });
      await this.#pool.end();
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing) throw new Error('finora-auth: PostgresKeyStore is closed');
  }

  #whenReady(): Promise<void> {
    this.#assertOpen();
    this.#ready ??= this.#prepare().catch((error: unknown) => {
      // Not remembered: the next call tries again (the database may be back).
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async #prepare(): Promise<void> {
    const { schema, migrate } = this.#options;
    const version = await schemaVersion(this.#pool, schema);
    if (version >= LATEST_VERSION) return;
    if (!migrate) {
      throw new PostgresSchemaError(
        `finora-auth: PostgreSQL schema ${JSON.stringify(schema)} is at version ${version}, this store needs ${LATEST_VERSION}; ` +
          'run its migrations (store.migrate() or migrationSql()) or leave the migrate option on',
      );
    }
    await runMigrations(this.#pool, schema, this.#options.onError);
  }

  /** A read, retried on a fresh connection when the one it got had died (a terminated backend, a reset socket). */
  async #read<R extends QueryResultRow>(query: QueryConfig, values: unknown[], signal?: AbortSignal): Promise<R[]> {
    await this.#whenReady();
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#pool.query<R>({ ...query, values })).rows;
      } catch (error) {
        if (attempt >= READ_ATTEMPTS || !isConnectionLost(error) || signal?.aborted || this.#closing) throw error;
      }
    }
  }

  /** A write runs once: if its connection dies, whether it committed is unknown, so the caller hears the error. */
  async #write<R extends QueryResultRow>(query: QueryConfig, values: unknown[]): Promise<R[]> {
    await this.#whenReady();
    return (await this.#pool.query<R>({ ...query, values })).rows;
  }

  #onNotice(payload: string): void {
    let notice: Partial<Notice> | undefined;
    try {
      notice = JSON.parse(payload) as Partial<Notice>;
    } catch {
      notice = undefined;
    }
    if (notice?.o === this.#origin) return;
    if (notice?.t === 'k' && typeof notice.h === 'string') {
      this.#events.emit({ type: 'key-changed', keyHash: notice.h });
    } else if (notice?.t === 'a' && typeof notice.a === 'string') {
      this.#events.emit({ type: 'account-changed', accountId: notice.a });
    } else if (notice?.t === 's' && typeof notice.c === 'string') {
      this.#events.emit({ type: 'service-account-changed', clientId: notice.c });
    } else {
      // A notice this version cannot read (another writer on the channel): forget everything rather than guess.
      this.#events.emit({ type: 'reset', live: this.#listener.live });
    }
  }
}
