// @finora-auth/sqlite: the embedded persistent KeyStore, the default for a single machine.

export { SqliteKeyStore } from './sqlite-key-store';
export { migrateSqliteKeyStore } from './migrate';
export { SqliteKeyStoreError } from './errors';
export type { SqliteKeyStoreErrorCode } from './errors';
export type { SqliteKeyStoreOptions } from './options';
export { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './schema';
export type { SqliteMigration } from './schema';
