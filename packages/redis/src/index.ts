// @finora-auth/redis: a KeyStore for a fleet of gateways on one Redis, revocations pushed over pub/sub.

export { RedisKeyStore } from './redis-key-store';
export type { RedisKeyStoreOptions } from './options';
