// The errors SqliteKeyStore throws: each has a stable `code` from a closed union, so callers can switch on it.

export type SqliteKeyStoreErrorCode =
  /** The file could not be opened or set up (permissions, not a database, a lock held too long). */
  | 'OPEN_FAILED'
  /** `autoMigrate: false` and the file has no finora-auth tables. */
  | 'SCHEMA_MISSING'
  /** `autoMigrate: false` and the file's schema is older than this package's. */
  | 'SCHEMA_OUTDATED'
  /** The file was migrated by a newer version of this package; this one will not guess at its tables. */
  | 'SCHEMA_TOO_NEW'
  /** A method was called after `close()`. */
  | 'CLOSED'
  /** `insertKey` with an id or a hash that is already stored; (v2) likewise a service account's client id or a signing key's kid. */
  | 'DUPLICATE_KEY'
  /** A record that does not fit the schema (for instance a hash that is not a SHA-256 hex digest). */
  | 'INVALID_RECORD'
  /** SQLite failed while running a statement (busy past `busyTimeoutMs`, I/O error, corruption). */
  | 'STORE_FAILED';

export class SqliteKeyStoreError extends Error {
  override readonly name = 'SqliteKeyStoreError';
  constructor(
    readonly code: SqliteKeyStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** better-sqlite3's SqliteError carries SQLite's extended result code, e.g. `SQLITE_CONSTRAINT_UNIQUE`. */
export function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** Turns whatever a statement threw into a SqliteKeyStoreError; SQLite's messages never hold bound values. */
export function storeFailure(operation: string, error: unknown): SqliteKeyStoreError {
  if (error instanceof SqliteKeyStoreError) return error;
  const detail = sqliteCode(error) ?? (error instanceof Error ? error.name : 'unknown error');
  const text = error instanceof Error ? `: ${error.message}` : '';
  return new SqliteKeyStoreError('STORE_FAILED', `finora-auth: SqliteKeyStore ${operation} failed (${detail}${text})`, {
    cause: error,
  });
}
