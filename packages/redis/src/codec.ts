// Turns keys, accounts, service accounts and signing keys into Redis hash fields and back; anything unreadable is a
// store fault, never a guess.

import type { Account, RateLimit, StoredKey, StoredServiceAccount, StoredSigningKey } from '@finora-auth/core';

type Fields = string[];

function toMap(fields: Fields): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return map;
}

/** A stored key as HSET arguments: only the digest and the hint, never a plaintext key (the store never has one). */
export function encodeKey(key: StoredKey): string[] {
  const fields = [
    'id', key.id,
    'accountId', key.accountId,
    'hash', key.hash,
    'hint', key.hint,
    'environment', key.environment,
    'surface', key.surface,
    'createdAt', String(key.createdAt),
    'expiresAt', String(key.expiresAt),
  ];
  if (key.name !== undefined) fields.push('name', key.name);
  if (key.revokedAt !== undefined) fields.push('revokedAt', String(key.revokedAt));
  if (key.scopes !== undefined) fields.push('scopes', JSON.stringify(key.scopes));
  if (key.rateLimit !== undefined) fields.push(...encodeRateLimit(key.rateLimit));
  return fields;
}

/** (v2) A rate limit as HSET arguments, on a key's hash or an account's. */
export function encodeRateLimit(rateLimit: RateLimit): string[] {
  return ['rateRequests', String(rateLimit.requests), 'ratePerSeconds', String(rateLimit.perSeconds)];
}

/** Neither field: no limit. A half or garbled one is handed on (NaN) for the core to refuse as a fault. */
function decodeRateLimit(map: Map<string, string>): RateLimit | undefined {
  const requests = map.get('rateRequests');
  const perSeconds = map.get('ratePerSeconds');
  if (requests === undefined && perSeconds === undefined) return undefined;
  return { requests: Number(requests), perSeconds: Number(perSeconds) };
}

/**
 * Scopes as stored (JSON text). Text that does not parse is handed on as it is, which no check accepts as a list
 * of scopes: a garbled value is a fault, never full access.
 */
function decodeScopes(text: string): string[] {
  try {
    return JSON.parse(text) as string[];
  } catch {
    return text as unknown as string[];
  }
}

const isScopeList = (value: unknown) =>
  Array.isArray(value) && value.every((scope) => typeof scope === 'string' && scope.length > 0);

/**
 * Reads a key hash as written by {@link encodeKey}. Malformed values pass through as they are (a missing number
 * becomes `NaN`) for the caller to judge: the authenticator's own check reports them as a garbled store answer.
 */
export function decodeKey(fields: Fields): StoredKey {
  const map = toMap(fields);
  const key = {
    id: map.get('id'),
    accountId: map.get('accountId'),
    hash: map.get('hash'),
    hint: map.get('hint'),
    environment: map.get('environment'),
    surface: map.get('surface'),
    createdAt: Number(map.get('createdAt')),
    expiresAt: Number(map.get('expiresAt')),
  } as StoredKey;
  const name = map.get('name');
  if (name !== undefined) key.name = name;
  const revokedAt = map.get('revokedAt');
  if (revokedAt !== undefined) key.revokedAt = Number(revokedAt);
  const scopes = map.get('scopes');
  if (scopes !== undefined) key.scopes = decodeScopes(scopes);
  const rateLimit = decodeRateLimit(map);
  if (rateLimit) key.rateLimit = rateLimit;
  return key;
}

/** A service account as HSET arguments: only the secret's digest and hint. */
export function encodeServiceAccount(sa: StoredServiceAccount): string[] {
  const fields = [
    'clientId', sa.clientId,
    'accountId', sa.accountId,
    'secretHash', sa.secretHash,
    'secretHint', sa.secretHint,
    'environment', sa.environment,
    'createdAt', String(sa.createdAt),
    'secretCreatedAt', String(sa.secretCreatedAt),
    'expiresAt', String(sa.expiresAt),
  ];
  if (sa.name !== undefined) fields.push('name', sa.name);
  if (sa.scopes !== undefined) fields.push('scopes', JSON.stringify(sa.scopes));
  if (sa.revokedAt !== undefined) fields.push('revokedAt', String(sa.revokedAt));
  return fields;
}

/** Reads a service-account hash; like {@link decodeKey}, malformed values pass through for the caller to judge. */
export function decodeServiceAccount(fields: Fields): StoredServiceAccount {
  const map = toMap(fields);
  const sa = {
    clientId: map.get('clientId'),
    accountId: map.get('accountId'),
    secretHash: map.get('secretHash'),
    secretHint: map.get('secretHint'),
    environment: map.get('environment'),
    createdAt: Number(map.get('createdAt')),
    secretCreatedAt: Number(map.get('secretCreatedAt')),
    expiresAt: Number(map.get('expiresAt')),
  } as StoredServiceAccount;
  const name = map.get('name');
  if (name !== undefined) sa.name = name;
  const scopes = map.get('scopes');
  if (scopes !== undefined) sa.scopes = decodeScopes(scopes);
  const revokedAt = map.get('revokedAt');
  if (revokedAt !== undefined) sa.revokedAt = Number(revokedAt);
  return sa;
}

export function encodeSigningKey(key: StoredSigningKey): string[] {
  const fields = [
    'kid', key.kid,
    'alg', key.alg,
    'publicJwk', key.publicJwk,
    'encryptedPrivateKey', key.encryptedPrivateKey,
    'createdAt', String(key.createdAt),
  ];
  if (key.retiredAt !== undefined) fields.push('retiredAt', String(key.retiredAt));
  return fields;
}

export function decodeSigningKey(fields: Fields): StoredSigningKey {
  const map = toMap(fields);
  const key = {
    kid: map.get('kid'),
    alg: map.get('alg'),
    publicJwk: map.get('publicJwk'),
    encryptedPrivateKey: map.get('encryptedPrivateKey'),
    createdAt: Number(map.get('createdAt')),
  } as StoredSigningKey;
  const retiredAt = map.get('retiredAt');
  if (retiredAt !== undefined) key.retiredAt = Number(retiredAt);
  return key;
}

/** An account hash; a `balance` field (even 0) means metered, and only then is `metered` set. */
export function decodeAccount(fields: Fields): Account {
  const map = toMap(fields);
  const enterprise = map.get('enterprise');
  const account = {
    id: map.get('id'),
    tier: map.get('tier'),
    enterprise: enterprise === '1' ? true : enterprise === '0' ? false : enterprise,
  } as Account;
  const rateLimit = decodeRateLimit(map);
  if (rateLimit) account.rateLimit = rateLimit;
  if (map.has('balance')) account.metered = true;
  return account;
}

const isText = (value: unknown) => typeof value === 'string' && value.length > 0;
const isRateLimit = (value: RateLimit | undefined) =>
  value === undefined || (Number.isSafeInteger(value.requests) && value.requests > 0 && Number.isSafeInteger(value.perSeconds) && value.perSeconds > 0);
const isTime = (value: unknown) => typeof value === 'number' && Number.isFinite(value);

/** Throws unless `key` is whole: a garbled record must not reach the key manager as if it were real. */
export function assertKey(key: StoredKey): StoredKey {
  const whole =
    isText(key.id) &&
    isText(key.accountId) &&
    typeof key.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(key.hash) &&
    isText(key.hint) &&
    (key.environment === 'live' || key.environment === 'test') &&
    (key.surface === 'retail' || key.surface === 'enterprise') &&
    isTime(key.createdAt) &&
    isTime(key.expiresAt) &&
    (key.revokedAt === undefined || isTime(key.revokedAt)) &&
    (key.scopes === undefined || isScopeList(key.scopes)) &&
    isRateLimit(key.rateLimit);
  if (!whole) throw new Error('finora-auth: RedisKeyStore read a garbled key record');
  return key;
}

export function assertServiceAccount(sa: StoredServiceAccount): StoredServiceAccount {
  const whole =
    isText(sa.clientId) &&
    isText(sa.accountId) &&
    typeof sa.secretHash === 'string' &&
    /^[0-9a-f]{64}$/.test(sa.secretHash) &&
    isText(sa.secretHint) &&
    (sa.environment === 'live' || sa.environment === 'test') &&
    isTime(sa.createdAt) &&
    isTime(sa.secretCreatedAt) &&
    isTime(sa.expiresAt) &&
    (sa.revokedAt === undefined || isTime(sa.revokedAt)) &&
    (sa.scopes === undefined || isScopeList(sa.scopes));
  if (!whole) throw new Error('finora-auth: RedisKeyStore read a garbled service-account record');
  return sa;
}

export function assertSigningKey(key: StoredSigningKey): StoredSigningKey {
  const whole =
    isText(key.kid) &&
    isText(key.alg) &&
    isText(key.publicJwk) &&
    isText(key.encryptedPrivateKey) &&
    isTime(key.createdAt) &&
    (key.retiredAt === undefined || isTime(key.retiredAt));
  if (!whole) throw new Error('finora-auth: RedisKeyStore read a garbled signing-key record');
  return key;
}

export function assertAccount(account: Account): Account {
  const whole =
    isText(account.id) &&
    (account.tier === 'free' || account.tier === 'premium' || account.tier === 'accountant_pro') &&
    typeof account.enterprise === 'boolean' &&
    isRateLimit(account.rateLimit);
  if (!whole) throw new Error('finora-auth: RedisKeyStore read a garbled account record');
  return account;
}
