// The PostgresKeyStore options: their documented defaults, resolved once and validated with errors naming the option.

export interface PostgresKeyStoreOptions {
  /** A `postgres://` or `postgresql://` URL (or any connection string pg accepts). Required; never echoed in errors. */
  connectionString: string;
  /**
   * The schema holding the store's tables. It also names the NOTIFY channel (`<schema>_events`), so instances on
   * different schemas of one database never hear each other. Lowercase letters, digits and `_`, at most 56
   * characters. Default: `'finora_auth'`.
   */
  schema?: string;
  /**
   * Create the schema, or bring it to the latest version, on first use. `false` for teams that run migrations
   * themselves (see `migrationSql`): a missing or older schema is then an error naming it. Default: `true`.
   */
  migrate?: boolean;
  /** Most pooled connections for queries (the LISTEN connection is one more). Default: 10. */
  poolSize?: number;
  /** Longest wait for a connection, new or from a full pool, in ms. Default: 5,000. */
  connectTimeoutMs?: number;
  /** Server-side `statement_timeout` of every connection, in ms: a query blocked this long is cancelled. Default: 5,000. */
  statementTimeoutMs?: number;
  /**
   * Client-side limit on waiting for an answer, in ms, for a server that stops answering altogether (the
   * connection is then dropped). Default: `statementTimeoutMs` + 1,000.
   */
  queryTimeoutMs?: number;
  /** A pooled connection idle this long is closed, in ms. Default: 30,000. */
  idleTimeoutMs?: number;
  /**
   * `application_name` of the pooled connections, as seen in `pg_stat_activity`; the LISTEN connection uses
   * `<applicationName>:listen`. Default: `'finora-auth'`.
   */
  applicationName?: string;
  /** First wait before reconnecting a lost LISTEN connection, in ms; doubles per failed attempt. Default: 100. */
  reconnectMinMs?: number;
  /** Longest wait between LISTEN reconnection attempts, in ms. Default: 5,000. */
  reconnectMaxMs?: number;
  /**
   * How often, in ms, the LISTEN connection sends a NOTIFY (a few bytes, on a channel of this instance's own) that
   * it must hear back: proof that notifications still reach it, where a connection that silently stopped
   * answering would otherwise be trusted until TCP noticed. 0 turns it off (and with it the bound below). Default: 250.
   */
  heartbeatMs?: number;
  /**
   * When no heartbeat sent in the last this-many ms has been heard back, the channel is treated as down: the
   * authenticators stop trusting their caches (`reset`, `live: false`) until one is heard again (`live: true`,
   * which clears them). After twice this long the LISTEN connection is replaced. This is the longest a cached
   * answer is trusted during a silent network partition. Must exceed `heartbeatMs`. Default: 1,000.
   */
  heartbeatTimeoutMs?: number;
  /**
   * Told of connection faults the store recovers from by itself: an idle pooled connection that died, the LISTEN
   * connection lost or failing to reconnect. Errors never carry a key. Default: none (they are dropped).
   */
  onError?: (error: Error) => void;
}

export interface ResolvedOptions {
  connectionString: string;
  schema: string;
  channel: string;
  migrate: boolean;
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  queryTimeoutMs: number;
  idleTimeoutMs: number;
  applicationName: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  onError: (error: Error) => void;
}

// 56 characters leaves room for the `_events` suffix within PostgreSQL's 63-byte identifier limit (the channel name).
const SCHEMA = /^[a-z_][a-z0-9_]{0,55}$/;
// Printable ASCII only: PostgreSQL truncates application_name to 63 bytes and replaces anything else with '?'.
const APPLICATION_NAME = /^[\x20-\x7e]{1,50}$/;

function wholeNumber(value: number | undefined, fallback: number, name: string, min: number): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min) {
    throw new TypeError(`finora-auth: PostgresKeyStore option ${name} must be a whole number >= ${min}; got ${String(value)}`);
  }
  return resolved;
}

export function resolveOptions(options: PostgresKeyStoreOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') {
    throw new TypeError('finora-auth: PostgresKeyStore needs an options object with connectionString');
  }
  const { connectionString } = options;
  if (typeof connectionString !== 'string' || connectionString.trim() === '') {
    throw new TypeError('finora-auth: PostgresKeyStore option connectionString must be a non-empty string');
  }
  const schema = options.schema ?? 'finora_auth';
  if (typeof schema !== 'string' || !SCHEMA.test(schema) || schema.startsWith('pg_')) {
    throw new TypeError(
      'finora-auth: PostgresKeyStore option schema must be 1-56 lowercase letters, digits or _, starting with a letter or _ and not with pg_; ' +
        `got ${JSON.stringify(options.schema)}`,
    );
  }
  const migrate = options.migrate ?? true;
  if (typeof migrate !== 'boolean') throw new TypeError('finora-auth: PostgresKeyStore option migrate must be a boolean');
  const applicationName = options.applicationName ?? 'finora-auth';
  if (typeof applicationName !== 'string' || !APPLICATION_NAME.test(applicationName)) {
    throw new TypeError('finora-auth: PostgresKeyStore option applicationName must be 1-50 printable ASCII characters');
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError('finora-auth: PostgresKeyStore option onError must be a function');
  }
  const statementTimeoutMs = wholeNumber(options.statementTimeoutMs, 5_000, 'statementTimeoutMs', 1);
  const reconnectMinMs = wholeNumber(options.reconnectMinMs, 100, 'reconnectMinMs', 1);
  const reconnectMaxMs = wholeNumber(options.reconnectMaxMs, 5_000, 'reconnectMaxMs', 1);
  if (reconnectMaxMs < reconnectMinMs) {
    throw new TypeError('finora-auth: PostgresKeyStore option reconnectMaxMs must be >= reconnectMinMs');
  }
  const heartbeatMs = wholeNumber(options.heartbeatMs, 250, 'heartbeatMs', 0);
  const heartbeatTimeoutMs = wholeNumber(options.heartbeatTimeoutMs, 1_000, 'heartbeatTimeoutMs', 1);
  if (heartbeatMs > 0 && heartbeatTimeoutMs <= heartbeatMs) {
    throw new TypeError(
      `finora-auth: PostgresKeyStore option heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be greater than heartbeatMs (${heartbeatMs})`,
    );
  }
  const onError = options.onError;
  return {
    connectionString,
    schema,
    channel: `${schema}_events`,
    migrate,
    poolSize: wholeNumber(options.poolSize, 10, 'poolSize', 1),
    connectTimeoutMs: wholeNumber(options.connectTimeoutMs, 5_000, 'connectTimeoutMs', 1),
    statementTimeoutMs,
    queryTimeoutMs: wholeNumber(options.queryTimeoutMs, statementTimeoutMs + 1_000, 'queryTimeoutMs', 1),
    idleTimeoutMs: wholeNumber(options.idleTimeoutMs, 30_000, 'idleTimeoutMs', 1),
    applicationName,
    reconnectMinMs,
    reconnectMaxMs,
    heartbeatMs,
    heartbeatTimeoutMs,
    onError: (error) => {
      try {
        onError?.(error);
      } catch {
        // A failing error reporter must not take the store down with it.
      }
    },
  };
}
