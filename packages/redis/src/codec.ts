// Turns keys and accounts into Redis hash fields and back; anything unreadable is a store fault, never a guess.

import type { Account, StoredKey } from '@finora-auth/core';

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
  return fields;
}

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
  return key;
}

export function decodeAccount(fields: Fields): Account {
  const map = toMap(fields);
  const enterprise = map.get('enterprise');
  return {
    id: map.get('id'),
    tier: map.get('tier'),
    enterprise: enterprise === '1' ? true : enterprise === '0' ? false : enterprise,
  } as Account;
}

const isText = (value: unknown) => typeof value === 'string' && value.length > 0;
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
    (key.revokedAt === undefined || isTime(key.revokedAt));
  if (!whole) throw new Error('finora-auth: RedisKeyStore read a garbled key record');
  return key;
}

export function assertAccount(account: Account): Account {
  const whole =
    isText(account.id) &&
    (account.tier === 'free' || account.tier === 'premium' || account.tier === 'accountant_pro') &&
    typeof account.enterprise === 'boolean';
  if (!whole) throw new Error('finora-auth: RedisKeyStore read a garbled account record');
  return account;
}
