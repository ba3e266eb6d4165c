// SqliteKeyStore's options: what each means, its default and unit, resolved once and validated.

export interface SqliteKeyStoreOptions {
  /**
   * The database file. It and its directory are created when missing. Several stores, in one process or many,
   * may open the same file. `':memory:'` gives a private database that no other instance can see. Required.
   */
  path: string;
  /**
   * Create or upgrade the tables when the store opens. Default: `true`. With `false` the store only checks,
   * and the constructor throws `SCHEMA_MISSING` or `SCHEMA_OUTDATED` unless the file is already current
   * (apply `SQLITE_MIGRATIONS` or call `migrateSqliteKeyStore` first).
   */
  autoMigrate?: boolean;
  /**
   * How long a statement waits for another connection's lock before failing, in ms. Default: 2,000.
   * better-sqlite3 is synchronous, so the wait blocks this thread: in WAL mode only writes (key administration)
   * ever wait on another writer; lookups do not.
   */
  busyTimeoutMs?: number;
  /**
   * How often the store looks for changes made by other connections (other processes, or other instances on
   * the same file), in ms. Default: 100. Each look is one `PRAGMA data_version` (a few microseconds); the change
   * log is read only when it moved. A change reaches this store's subscribers within about this long.
   * Polling runs only while someone is subscribed.
   */
  pollIntervalMs?: number;
  /**
   * How long rows of the change log are kept, in ms. Default: 600,000 (10 minutes). A subscriber that falls
   * further behind than this (a process paused that long) is sent a `reset` instead of the rows it missed.
   */
  changeRetentionMs?: number;
  /** Clock for change-log timestamps and pruning, in epoch ms. Default: `Date.now`. */
  now?: () => number;
  /**
   * Called when looking for other processes' changes fails. Subscribers are then sent `{ type: 'reset', live: false }`
   * (no cached answer is trusted) until a later look succeeds. Never receives a key. Default: none.
   */
  onError?: (error: Error) => void;
}

export interface ResolvedSqliteKeyStoreOptions {
  path: string;
  autoMigrate: boolean;
  busyTimeoutMs: number;
  pollIntervalMs: number;
  changeRetentionMs: number;
  now: () => number;
  onError: ((error: Error) => void) | undefined;
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < 1) {
    throw new TypeError(`finora-auth: SqliteKeyStore option ${name} must be a whole number > 0; got ${String(value)}`);
  }
  return resolved;
}

export function resolveOptions(options: SqliteKeyStoreOptions): ResolvedSqliteKeyStoreOptions {
  if (!options || typeof options !== 'object') {
    throw new TypeError('finora-auth: new SqliteKeyStore needs an options object with a path');
  }
  if (typeof options.path !== 'string' || options.path.trim() === '') {
    throw new TypeError(`finora-auth: SqliteKeyStore option path must be a non-empty string; got ${JSON.stringify(options.path)}`);
  }
  if (options.autoMigrate !== undefined && typeof options.autoMigrate !== 'boolean') {
    throw new TypeError('finora-auth: SqliteKeyStore option autoMigrate must be a boolean');
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new TypeError('finora-auth: SqliteKeyStore option now must be a function');
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError('finora-auth: SqliteKeyStore option onError must be a function');
  }
  return {
    path: options.path,
    autoMigrate: options.autoMigrate ?? true,
    busyTimeoutMs: positiveInteger(options.busyTimeoutMs, 2_000, 'busyTimeoutMs'),
    pollIntervalMs: positiveInteger(options.pollIntervalMs, 100, 'pollIntervalMs'),
    changeRetentionMs: positiveInteger(options.changeRetentionMs, 600_000, 'changeRetentionMs'),
    now: options.now ?? Date.now,
    onError: options.onError,
  };
}
