// @finora-auth/postgres: a KeyStore in PostgreSQL; revocations reach every instance through LISTEN/NOTIFY.

export { PostgresKeyStore, PostgresSchemaError } from './postgres-key-store';
export type { PostgresKeyStoreOptions } from './options';
export { migrationSql } from './migrations';
