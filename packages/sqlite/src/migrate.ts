// migrateSqliteKeyStore: the migration step on its own, for teams that run migrations apart from their services.

import { openDatabase } from './sqlite-key-store';
import { migrate } from './schema';

export interface MigrateSqliteKeyStoreOptions {
  /** The database file; created with its directory when missing. Required. */
  path: string;
  /** How long to wait for another connection's lock, in ms. Default: 2,000. */
  busyTimeoutMs?: number;
}

/** Brings the file's finora-auth tables up to date; returns the schema versions before and after. */
export function migrateSqliteKeyStore(options: MigrateSqliteKeyStoreOptions): { from: number; to: number } {
  if (typeof options?.path !== 'string' || options.path.trim() === '') {
    throw new TypeError('finora-auth: migrateSqliteKeyStore option path must be a non-empty string');
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 2_000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 1) {
    throw new TypeError(`finora-auth: migrateSqliteKeyStore option busyTimeoutMs must be a whole number > 0; got ${String(options.busyTimeoutMs)}`);
  }
  const db = openDatabase(options.path, busyTimeoutMs);
  try {
    return migrate(db, options.path);
  } finally {
    db.close();
  }
}
