// @finora-auth/http: a KeyStore over fetch, for edge functions that cannot open a database.

export { HttpKeyStore } from './http-key-store';
export { HttpKeyStoreError } from './errors';
export type { HttpKeyStoreErrorCode } from './errors';
export type { HttpKeyStoreOptions } from './options';
