// PostgresKeyStore: a KeyStore in PostgreSQL, with changes pushed to every instance through LISTEN/NOTIFY.

import { randomUUID } from 'node:crypto';
import { Pool, type QueryConfig, type QueryResultRow } from 'pg';
import { StoreEvents, type Account, type KeyRecord, type KeyStore, type StoreListener, type StoredKey } from '@finora-auth/core';
import { ChannelListener } from './listener';
import { LATEST_VERSION, ident, runMigrations, schemaVersion } from './migrations';
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
}

interface KeyAccountRow extends KeyRow {
  tier: Account['tier'];
  enterprise: boolean;
}

/** What travels in a NOTIFY payload: the writing instance, then what changed. Never a key, only its digest. */
type Notice = { o: string; t: 'k'; h: string } | { o: string; t: 'a'; a: string };

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
  ].join(', ');

function statements(schema: string) {
  const s = ident(schema);
  const keys = `${s}.api_keys`;
  const accounts = `${s}.accounts`;
  const named = (name: string, text: string) => ({ name: `finora-auth:${schema}:${name}`, text });
  return {
    // One round trip for the hot path: the key and its account together.
    findByHash: named(
      'find-by-hash',
      `SELECT ${keyColumns('k')}, a.tier, a.enterprise FROM ${keys} k JOIN ${accounts} a ON a.id = k.account_id WHERE k.key_hash = $1`,
    ),
    getAccount: named('get-account', `SELECT id, tier, enterprise FROM ${accounts} WHERE id = $1`),
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
      `WITH saved AS (INSERT INTO ${accounts} (id, tier, enterprise) VALUES ($1, $2, $3) ` +
        `ON CONFLICT (id) DO UPDATE SET tier = EXCLUDED.tier, enterprise = EXCLUDED.enterprise, updated_at = now() RETURNING id) ` +
        `SELECT pg_notify($4, json_build_object('o', $5::text, 't', 'a', 'a', saved.id)::text) FROM saved`,
    ),
    insertKey: named(
      'insert-key',
      `WITH inserted AS (INSERT INTO ${keys} (id, account_id, key_hash, hint, environment, surface, name, created_at, expires_at, revoked_at) ` +
        `VALUES ($1, $2, $3, $4, $5, $6, $7, ${toTime('$8')}, ${toTime('$9')}, ${toTime('$10')}) RETURNING key_hash) ` +
        `SELECT pg_notify($11, json_build_object('o', $12::text, 't', 'k', 'h', inserted.key_hash)::text) FROM inserted`,
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

export class PostgresKeyStore implements KeyStore {
  readonly #options: ResolvedOptions;
  readonly #pool: Pool;
  readonly #events = new StoreEvents();
  readonly #listener: ChannelListener;
  readonly #sql: ReturnType<typeof statements>;
  /** Tags this instance's NOTIFYs, so it does not hear its own writes twice (it already told its listeners). */
  readonly #origin = randomUUID();
  #ready: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Connects nothing: the pool and the LISTEN connection open on first use, so a database down at startup throws here never. */
  constructor(options: PostgresKeyStoreOptions) {
    const config = resolveOptions(options);
    this.#options = config;
    this.#sql = statements(config.schema);
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
    return { key: toStoredKey(row), account: { id: row.account_id, tier: row.tier, enterprise: row.enterprise } };
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const rows = await this.#read<Account & QueryResultRow>(this.#sql.getAccount, [accountId]);
    const row = rows[0];
    return row ? { id: row.id, tier: row.tier, enterprise: row.enterprise } : null;
  }

  async putAccount(account: Account): Promise<void> {
    const { channel } = this.#options;
    await this.#write(this.#sql.putAccount, [account.id, account.tier, account.enterprise, channel, this.#origin]);
    this.#events.emit({ type: 'account-changed', accountId: account.id });
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
    } else {
      // A notice this version cannot read (another writer on the channel): forget everything rather than guess.
      this.#events.emit({ type: 'reset', live: this.#listener.live });
    }
  }
}
