// Key administration: accounts, issuing, revoking, rotating and listing keys, through any KeyStore.

import { KeyManagerError } from './errors';
import { generateApiKey, generateKeyId, keyHint, sha256Hex } from './keys';
import type { KeyStore } from './store';
import type { Account, Environment, KeyInfo, StoredKey, Surface, Tier } from './types';

const DAY_MS = 24 * 60 * 60 * 1000;
const TIERS: readonly Tier[] = ['free', 'premium', 'accountant_pro'];
const MAX_NAME_LENGTH = 200;
const ACCOUNT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export interface KeyManagerOptions {
  store: KeyStore;
  /** Clock in epoch milliseconds. Default: `Date.now`. */
  now?: () => number;
  /** Days from creation until a key expires. Default: 90, as the product rules say. */
  keyTtlDays?: number;
}

export interface IssuedKey {
  /** The plaintext key. It is returned here once and stored nowhere. */
  apiKey: string;
  key: KeyInfo;
}

export interface KeyManager {
  putAccount(account: { id: string; tier: Tier; enterprise?: boolean }): Promise<Account>;
  issue(input: { accountId: string; environment: Environment; surface?: Surface; name?: string }): Promise<IssuedKey>;
  revoke(keyId: string): Promise<void>;
  rotate(keyId: string): Promise<IssuedKey>;
  list(accountId: string): Promise<KeyInfo[]>;
  expiring(withinDays: number): Promise<KeyInfo[]>;
}

/** The public view of a stored key: dates as `Date`, no hash. */
export function toKeyInfo(key: StoredKey): KeyInfo {
  const info: KeyInfo = {
    id: key.id,
    accountId: key.accountId,
    environment: key.environment,
    surface: key.surface,
    hint: key.hint,
    createdAt: new Date(key.createdAt),
    expiresAt: new Date(key.expiresAt),
    scopes: key.scopes ? [...key.scopes] : ['write'],
  };
  if (key.name !== undefined) info.name = key.name;
  if (key.revokedAt !== undefined) info.revokedAt = new Date(key.revokedAt);
  return info;
}

// An operator may paste a key where an id belongs (`keys revoke live_sk_…`): such input is never echoed back.
const SECRET_LOOKING = /_sk_|[0-9a-f]{32}/i;

/** `value` quoted for an error message, unless it might be a key or a piece of one. */
function quote(value: unknown): string {
  const text = String(value);
  return typeof value === 'string' && !SECRET_LOOKING.test(text) && text.length <= 128
    ? JSON.stringify(text)
    : '(not shown: it looks like an API key; pass an id, such as key_…)';
}

function invalid(message: string): never {
  throw new KeyManagerError('INVALID_INPUT', `finora-auth: ${message}`);
}

export function createKeyManager(options: KeyManagerOptions): KeyManager {
  if (!options || typeof options.store?.findByHash !== 'function') {
    throw new TypeError('finora-auth: createKeyManager needs options.store, a KeyStore');
  }
  const keyTtlDays = options.keyTtlDays ?? 90;
  if (!Number.isFinite(keyTtlDays) || keyTtlDays <= 0) {
    throw new TypeError(`finora-auth: keyTtlDays must be a positive number of days; got ${String(options.keyTtlDays)}`);
  }
  const store = options.store;
  const now = options.now ?? Date.now;
  const ttlMs = keyTtlDays * DAY_MS;

  async function accountFor(accountId: string): Promise<Account> {
    const account = await store.getAccount(accountId);
    if (!account) throw new KeyManagerError('ACCOUNT_NOT_FOUND', `finora-auth: no account ${quote(accountId)}`);
    return account;
  }

  async function mint(account: Account, environment: Environment, surface: Surface, name: string | undefined): Promise<IssuedKey> {
    if (account.tier === 'free') {
      throw new KeyManagerError('PREMIUM_REQUIRED', 'finora-auth: API keys need a Premium or Accountant Pro account');
    }
    if (surface === 'enterprise' && !account.enterprise) {
      throw new KeyManagerError('ENTERPRISE_ONLY', 'finora-auth: enterprise keys need an enterprise-provisioned account');
    }
    const apiKey = generateApiKey(environment);
    const createdAt = now();
    const key: StoredKey = {
      id: generateKeyId(),
      accountId: account.id,
      hash: await sha256Hex(apiKey),
      hint: keyHint(apiKey),
      environment,
      surface,
      createdAt,
      expiresAt: createdAt + ttlMs,
    };
    if (name !== undefined) key.name = name;
    await store.insertKey(key);
    return { apiKey, key: toKeyInfo(key) };
  }

  async function storedKey(keyId: string): Promise<StoredKey> {
    if (typeof keyId !== 'string' || keyId === '') invalid('keyId must be a non-empty string');
    const key = await store.getKey(keyId);
    if (!key) throw new KeyManagerError('KEY_NOT_FOUND', `finora-auth: no key ${quote(keyId)}`);
    return key;
  }

  return {
    async putAccount(input) {
      if (typeof input?.id !== 'string' || !ACCOUNT_ID.test(input.id)) {
        invalid('account id must be 1-128 letters, digits or . _ : @ -, starting with a letter or digit');
      }
      if (!TIERS.includes(input.tier)) invalid(`tier must be one of ${TIERS.join(', ')}; got ${quote(input.tier)}`);
      if (input.enterprise !== undefined && typeof input.enterprise !== 'boolean') invalid('enterprise must be a boolean');
      const existing = await store.getAccount(input.id);
      const account: Account = { id: input.id, tier: input.tier, enterprise: input.enterprise ?? existing?.enterprise ?? false };
      await store.putAccount(account);
      return { ...account };
    },

    async issue(input) {
      const environment = input?.environment;
      if (environment !== 'live' && environment !== 'test') invalid("environment must be 'live' or 'test'");
      const surface = input.surface ?? 'retail';
      if (surface !== 'retail' && surface !== 'enterprise') invalid("surface must be 'retail' or 'enterprise'");
      const name = input.name;
      if (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(name))) {
        invalid(`name must be a string of at most ${MAX_NAME_LENGTH} characters without control characters`);
      }
      return mint(await accountFor(input.accountId), environment, surface, name);
    },

    async revoke(keyId) {
      if (typeof keyId !== 'string' || keyId === '') invalid('keyId must be a non-empty string');
      // One round trip: the store says null for an unknown key.
      if (!(await store.revokeKey(keyId, now()))) throw new KeyManagerError('KEY_NOT_FOUND', `finora-auth: no key ${quote(keyId)}`);
    },

    async rotate(keyId) {
      const old = await storedKey(keyId);
      return mint(await accountFor(old.accountId), old.environment, old.surface, old.name);
    },

    async list(accountId) {
      await accountFor(accountId);
      return (await store.listKeys(accountId)).map(toKeyInfo);
    },

    async expiring(withinDays) {
      if (!Number.isFinite(withinDays) || withinDays < 0) invalid('withinDays must be a number of days, 0 or more');
      const from = now();
      return (await store.listExpiring(from, from + withinDays * DAY_MS)).map(toKeyInfo);
    },
  };
}
