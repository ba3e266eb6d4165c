// The KeyStore interface a storage backend implements, and helpers for the backends that implement it.

import type {
  Account,
  CreditRefill,
  CreditState,
  RateLimit,
  UsageIncrement,
  UsageRow,
  KeyRecord,
  ServiceAccountRecord,
  StoredKey,
  StoredServiceAccount,
  StoredSigningKey,
  Tier,
} from './types';

/**
 * What a store tells the authenticators that share it, so no cache outlives a change.
 * A store emits each event to its own in-process listeners before the write that caused it resolves,
 * and carries it to other processes through its own channel (pub/sub, LISTEN/NOTIFY, a change log).
 */
export type StoreEvent =
  /** A key was revoked, or created (a cached "no such key" for that hash must go). */
  | { type: 'key-changed'; keyHash: string }
  /** An account's tier or enterprise provisioning changed. */
  | { type: 'account-changed'; accountId: string }
  /** (v2) A service account was created, revoked or had its secret rotated: cached answers for it must go. */
  | { type: 'service-account-changed'; clientId: string }
  /**
   * Events may have been missed: every cached answer must go. `live: false` means the channel is down, so no
   * cached answer is trusted until a later reset with `live: true`; a store whose channel is not live when a
   * listener subscribes sends it `{ type: 'reset', live: false }` at once.
   */
  | { type: 'reset'; live: boolean };

export type StoreListener = (event: StoreEvent) => void;

export interface KeyStore {
  /** The key with this SHA-256 hex digest and its account, in one round trip; `null` when there is none. */
  findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null>;
  getAccount(accountId: string): Promise<Account | null>;
  /** Creates or replaces an account; emits `account-changed`. */
  putAccount(account: Account): Promise<void>;
  getKey(keyId: string): Promise<StoredKey | null>;
  /** Adds a key (its id and hash are new); emits `key-changed` for its hash. */
  insertKey(key: StoredKey): Promise<void>;
  /** Marks a key revoked at `revokedAt` unless it already is; returns the key as stored, or `null` if unknown. Emits `key-changed`. */
  revokeKey(keyId: string, revokedAt: number): Promise<StoredKey | null>;
  /** An account's keys, oldest first. */
  listKeys(accountId: string): Promise<StoredKey[]>;
  /** Unrevoked keys with `after < expiresAt <= until`, soonest first. */
  listExpiring(after: number, until: number): Promise<StoredKey[]>;
  /** Listens for changes; returns the function that stops listening. */
  subscribe(listener: StoreListener): () => void;
  close(): Promise<void>;

  // v2. Optional, so a v1 store keeps compiling; every store of this project implements them all. A feature whose
  // methods a store lacks is refused with a clear error where it is used (the key manager, the OAuth issuer).

  /** Changes only the named fields, atomically; returns the account as stored, or `null` if unknown. Emits `account-changed`. */
  updateAccount?(accountId: string, patch: AccountPatch): Promise<Account | null>;
  /** The service account with this client id and its account, in one round trip; `null` when there is none. */
  findServiceAccount?(clientId: string, options?: { signal?: AbortSignal }): Promise<ServiceAccountRecord | null>;
  /** Adds a service account (its client id and secret hash are new); emits `service-account-changed`. */
  insertServiceAccount?(serviceAccount: StoredServiceAccount): Promise<void>;
  /**
   * Replaces the secret of a service account that is not revoked; returns it as stored, or `null` if unknown or
   * revoked. Emits `service-account-changed`.
   */
  replaceServiceAccountSecret?(clientId: string, secret: ServiceAccountSecret): Promise<StoredServiceAccount | null>;
  /** Marks it revoked at `revokedAt` unless it already is; returns it as stored, or `null` if unknown. Emits `service-account-changed`. */
  revokeServiceAccount?(clientId: string, revokedAt: number): Promise<StoredServiceAccount | null>;
  /** An account's service accounts, oldest first. */
  listServiceAccounts?(accountId: string): Promise<StoredServiceAccount[]>;
  /** Every signing key, oldest first (retired ones too, until deleted). */
  listSigningKeys?(): Promise<StoredSigningKey[]>;
  /** Adds a signing key (its kid is new). */
  insertSigningKey?(key: StoredSigningKey): Promise<void>;
  /** Sets `retiredAt` unless it is already set; returns the key as stored, or `null` if unknown. */
  retireSigningKey?(kid: string, retiredAt: number): Promise<StoredSigningKey | null>;

  // v2: accounts listed; credits, usage and rate limits.

  /** Every account, by id. */
  listAccounts?(): Promise<Account[]>;
  /**
   * Adds `amount` (> 0) to the balance atomically and makes the account metered (from a balance of 0 if it was not);
   * `null` if the account is unknown. Emits `account-changed` when the account becomes metered.
   */
  grantCredits?(accountId: string, amount: number): Promise<{ balance: number } | null>;
  /** Sets or (with `null`) removes the account's refill; `null` if the account is unknown or not metered. */
  setCreditRefill?(accountId: string, refill: CreditRefill | null): Promise<CreditState | null>;
  /** The account's credits; `null` if the account is unknown. */
  getCredits?(accountId: string): Promise<CreditState | null>;
  /** Ends metering (balance and refill dropped); false if the account is unknown. Emits `account-changed`. */
  unmeter?(accountId: string): Promise<boolean>;
  /**
   * Takes credits for a local lease, atomically: first applies a due refill (the UTC period of `now` later than
   * `refilledPeriod`; periods never move back, so skewed clocks cannot refill twice), then takes
   * `min(want, balance)` when `balance >= min`, else nothing. `granted` is what was taken (0 when refused).
   * An unknown or unmetered account grants nothing and says `metered: false`.
   */
  takeCredits?(accountId: string, want: number, min: number, now: number): Promise<{ granted: number; balance: number; metered: boolean }>;
  /** Gives unused lease credits back (a graceful shutdown, a lease given up); ignored for an unmetered account. */
  returnCredits?(accountId: string, amount: number): Promise<void>;
  /** Adds counts to usage rows, atomically per row (a batch of increments; rows are created as needed). */
  addUsage?(rows: readonly UsageIncrement[]): Promise<void>;
  /** An account's usage rows with `since <= day <= until` (`YYYY-MM-DD`), by day, then key, environment, module. */
  listUsage?(accountId: string, since: string, until: string): Promise<UsageRow[]>;
  /**
   * A shared rate-limit counter: adds `by` to the count of `bucket` (a credential id, never a secret) for the window
   * starting at `windowStart` (epoch ms) and returns the count after it. The counter may be forgotten `ttlMs` after
   * it was last written.
   */
  incrementRateWindow?(bucket: string, windowStart: number, by: number, ttlMs: number): Promise<number>;
}

/** (v2) The fields `updateAccount` may change; an absent field is left as it is. */
export interface AccountPatch {
  tier?: Tier;
  enterprise?: boolean;
  /** `null` removes the account's rate limit. */
  rateLimit?: RateLimit | null;
}

/** (v2) A service account's new secret, as stored. */
export interface ServiceAccountSecret {
  secretHash: string;
  secretHint: string;
  secretCreatedAt: number;
  expiresAt: number;
}

/** Fan-out of store events to in-process listeners; a throwing listener never stops the others. */
export class StoreEvents {
  readonly #listeners = new Set<StoreListener>();

  get size(): number {
    return this.#listeners.size;
  }

  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's fault is its own; the store's write has already happened.
      }
    }
  }
}

const TIERS = new Set(['free', 'premium', 'accountant_pro']);
const ENVIRONMENTS = new Set(['live', 'test']);
const SURFACES = new Set(['retail', 'enterprise']);
const HASH = /^[0-9a-f]{64}$/;

const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** True when `value` is a whole, well-typed record for `hash`. Anything else from a store is treated as a fault. */
export function isValidKeyRecord(value: unknown, hash: string): value is KeyRecord {
  if (!value || typeof value !== 'object') return false;
  const { key, account } = value as Partial<KeyRecord>;
  if (!key || typeof key !== 'object' || !account || typeof account !== 'object') return false;
  return (
    isText(key.id) &&
    key.hash === hash &&
    HASH.test(key.hash) &&
    isText(key.accountId) &&
    key.accountId === account.id &&
    isText(key.hint) &&
    ENVIRONMENTS.has(key.environment as string) &&
    SURFACES.has(key.surface as string) &&
    isTime(key.createdAt) &&
    isTime(key.expiresAt) &&
    (key.revokedAt === undefined || isTime(key.revokedAt)) &&
    (key.name === undefined || typeof key.name === 'string') &&
    (key.scopes === undefined || isScopeList(key.scopes)) &&
    (key.rateLimit === undefined || isRateLimit(key.rateLimit)) &&
    isValidAccount(account)
  );
}

const isRateLimit = (value: unknown): boolean => {
  const limit = value as { requests?: unknown; perSeconds?: unknown } | null;
  return (
    !!limit &&
    typeof limit === 'object' &&
    Number.isSafeInteger(limit.requests) &&
    (limit.requests as number) > 0 &&
    Number.isSafeInteger(limit.perSeconds) &&
    (limit.perSeconds as number) > 0
  );
};

const isScopeList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length > 0 && value.every((scope) => isText(scope));

const isValidAccount = (account: Partial<Account>): boolean =>
  isText(account.id) &&
  TIERS.has(account.tier as string) &&
  typeof account.enterprise === 'boolean' &&
  (account.rateLimit === undefined || isRateLimit(account.rateLimit)) &&
  (account.metered === undefined || typeof account.metered === 'boolean');

/** (v2) True when `value` is a whole, well-typed service-account record for `clientId`; anything else is a fault. */
export function isValidServiceAccountRecord(value: unknown, clientId: string): value is ServiceAccountRecord {
  if (!value || typeof value !== 'object') return false;
  const { serviceAccount: sa, account } = value as Partial<ServiceAccountRecord>;
  if (!sa || typeof sa !== 'object' || !account || typeof account !== 'object') return false;
  return (
    sa.clientId === clientId &&
    isText(sa.clientId) &&
    isText(sa.accountId) &&
    sa.accountId === account.id &&
    typeof sa.secretHash === 'string' &&
    HASH.test(sa.secretHash) &&
    isText(sa.secretHint) &&
    ENVIRONMENTS.has(sa.environment as string) &&
    isTime(sa.createdAt) &&
    isTime(sa.secretCreatedAt) &&
    isTime(sa.expiresAt) &&
    (sa.revokedAt === undefined || isTime(sa.revokedAt)) &&
    (sa.name === undefined || typeof sa.name === 'string') &&
    (sa.scopes === undefined || isScopeList(sa.scopes)) &&
    isValidAccount(account)
  );
}
