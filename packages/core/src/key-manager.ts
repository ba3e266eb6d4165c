// Key administration: accounts, issuing, revoking, rotating and listing keys and (v2) service accounts, through any KeyStore.

import { KeyManagerError } from './errors';
import { generateApiKey, generateClientId, generateClientSecret, generateKeyId, keyHint, sha256Hex } from './keys';
import { ScopeError, scopesToStore } from './scopes';
import type { AccountPatch, KeyStore } from './store';
import type {
  Account,
  CreditRefill,
  Environment,
  KeyInfo,
  RateLimit,
  ServiceAccountInfo,
  StoredKey,
  StoredServiceAccount,
  Surface,
  Tier,
  UsageRow,
} from './types';

const DAY_MS = 24 * 60 * 60 * 1000;
const TIERS: readonly Tier[] = ['free', 'premium', 'accountant_pro'];
const MAX_NAME_LENGTH = 200;
const ACCOUNT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
/** A rate limit's window may be at most 31 days; its count at most a billion. */
const MAX_RATE_WINDOW_SECONDS = 31 * 24 * 60 * 60;
const MAX_RATE_REQUESTS = 1_000_000_000;
/** `usage()` without `since` reads this many days, today included. */
const USAGE_DEFAULT_DAYS = 30;

export interface KeyManagerOptions {
  store: KeyStore;
  /** Clock in epoch milliseconds. Default: `Date.now`. */
  now?: () => number;
  /** Days from creation until a key (or a service account's secret) expires. Default: 90, as the product rules say. */
  keyTtlDays?: number;
}

export interface IssuedKey {
  /** The plaintext key. It is returned here once and stored nowhere. */
  apiKey: string;
  key: KeyInfo;
}

/** (v2) A new service account, or a new secret for one. */
export interface IssuedServiceAccountSecret {
  /** The plaintext client secret. It is returned here once and stored nowhere. */
  clientSecret: string;
  serviceAccount: ServiceAccountInfo;
}

/** (v2) An account's credits as the key manager shows them. */
export interface CreditsInfo {
  metered: boolean;
  /** `null` when not metered. */
  balance: number | null;
  refill?: CreditRefill;
}

export interface KeyManager {
  /**
   * Creates an account, or sets the named fields of an existing one (atomically on a store with `updateAccount`).
   * An absent `enterprise` or `rateLimit` keeps the existing value (none for a new account); `rateLimit: null`
   * removes it. Metering is not changed here: see `grantCredits` and `unmeter`.
   */
  putAccount(account: { id: string; tier: Tier; enterprise?: boolean; rateLimit?: RateLimit | null }): Promise<Account>;
  /** (v2) Changes only the named fields; atomically on a store with `updateAccount`. */
  updateAccount(accountId: string, patch: AccountPatch): Promise<Account>;
  /** Rejects with code `PREMIUM_REQUIRED`, `ENTERPRISE_ONLY` or (v2) `INVALID_SCOPE`. */
  issue(input: {
    accountId: string;
    environment: Environment;
    surface?: Surface;
    name?: string;
    scopes?: string[];
    /** (v2) This key's own rate limit, overriding its account's; `null` or absent: the account's. */
    rateLimit?: RateLimit | null;
  }): Promise<IssuedKey>;
  revoke(keyId: string): Promise<void>;
  /** A new key like the old one (scopes too); the old stays valid until revoked. A revoked key: `KEY_REVOKED`. */
  rotate(keyId: string): Promise<IssuedKey>;
  list(accountId: string): Promise<KeyInfo[]>;
  expiring(withinDays: number): Promise<KeyInfo[]>;
  /** (v2) For an enterprise-provisioned, paying account only. */
  createServiceAccount(input: {
    accountId: string;
    environment: Environment;
    name?: string;
    scopes?: string[];
  }): Promise<IssuedServiceAccountSecret & { clientId: string }>;
  /** (v2) A new secret, ending every token issued under the old one. A revoked one: `SERVICE_ACCOUNT_REVOKED`. */
  rotateServiceAccountSecret(clientId: string): Promise<IssuedServiceAccountSecret>;
  /** (v2) Its tokens are refused at once, like a revoked key. */
  revokeServiceAccount(clientId: string): Promise<void>;
  listServiceAccounts(accountId: string): Promise<ServiceAccountInfo[]>;
  /** (v2) Every account, by id. */
  listAccounts(): Promise<Account[]>;
  /** (v2) Adds `amount` (a whole number > 0) to the balance, making the account metered if it was not. */
  grantCredits(accountId: string, amount: number): Promise<{ balance: number }>;
  /** (v2) The account's credits: `{ metered: false, balance: null }` for an unmetered account. */
  credits(accountId: string): Promise<CreditsInfo>;
  /** (v2) Ends metering: the balance and refill are dropped and the account's requests cost nothing. */
  unmeter(accountId: string): Promise<void>;
  /**
   * (v2) Sets the balance of a metered account to `refill.amount` once per UTC day or month (first at the next
   * request after this call), or with `null` stops refilling. An unmetered account: `NOT_METERED`.
   */
  setCreditRefill(accountId: string, refill: CreditRefill | null): Promise<CreditsInfo>;
  /** (v2) Usage rows with `since <= day <= until` (UTC days). Default: the last 30 days, today included. */
  usage(accountId: string, range?: { since?: Date; until?: Date }): Promise<UsageRow[]>;
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
  if (key.rateLimit !== undefined) info.rateLimit = { ...key.rateLimit };
  return info;
}

/** (v2) The public view of a stored service account: dates as `Date`, no secret digest. */
export function toServiceAccountInfo(serviceAccount: StoredServiceAccount): ServiceAccountInfo {
  const info: ServiceAccountInfo = {
    clientId: serviceAccount.clientId,
    accountId: serviceAccount.accountId,
    environment: serviceAccount.environment,
    scopes: serviceAccount.scopes ? [...serviceAccount.scopes] : ['write'],
    secretHint: serviceAccount.secretHint,
    createdAt: new Date(serviceAccount.createdAt),
    expiresAt: new Date(serviceAccount.expiresAt),
  };
  if (serviceAccount.name !== undefined) info.name = serviceAccount.name;
  if (serviceAccount.revokedAt !== undefined) info.revokedAt = new Date(serviceAccount.revokedAt);
  return info;
}

// An operator may paste a key or secret where an id belongs (`keys revoke live_sk_…`): such input is never echoed back.
const SECRET_LOOKING = /_sk_|_cs_|[0-9a-f]{32}/i;

/** `value` quoted for an error message, unless it might be a key or a piece of one. */
function quote(value: unknown): string {
  const text = String(value);
  return typeof value === 'string' && !SECRET_LOOKING.test(text) && text.length <= 128
    ? JSON.stringify(text)
    : '(not shown: it looks like a secret; pass an id, such as key_… or sa_…)';
}

function invalid(message: string): never {
  throw new KeyManagerError('INVALID_INPUT', `finora-auth: ${message}`);
}

function checkEnvironment(environment: unknown): asserts environment is Environment {
  if (environment !== 'live' && environment !== 'test') invalid("environment must be 'live' or 'test'");
}

function checkName(name: unknown): asserts name is string | undefined {
  if (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_LENGTH || /[\u0000-\u001f\u007f]/.test(name))) {
    invalid(`name must be a string of at most ${MAX_NAME_LENGTH} characters without control characters`);
  }
}

/** Normalised scopes as a store keeps them (`undefined` for full access), or `INVALID_SCOPE`. */
function storedScopes(scopes: unknown): string[] | undefined {
  try {
    return scopesToStore(scopes);
  } catch (error) {
    if (error instanceof ScopeError) throw new KeyManagerError('INVALID_SCOPE', error.message);
    throw error;
  }
}

const isWhole = (value: unknown, max: number): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= max;

/** A rate limit as stored, `null` to remove one, `undefined` to leave it; anything else is `INVALID_INPUT`. */
function checkRateLimit(value: unknown, field = 'rateLimit'): RateLimit | null | undefined {
  if (value === undefined || value === null) return value;
  const { requests, perSeconds } = (typeof value === 'object' ? value : {}) as Partial<RateLimit>;
  if (!isWhole(requests, MAX_RATE_REQUESTS) || !isWhole(perSeconds, MAX_RATE_WINDOW_SECONDS)) {
    invalid(
      `${field} must be { requests, perSeconds }: whole numbers, requests 1-${MAX_RATE_REQUESTS}, perSeconds 1-${MAX_RATE_WINDOW_SECONDS}` +
        ` (31 days); got ${quote(JSON.stringify(value) ?? String(value))}`,
    );
  }
  return { requests, perSeconds };
}

function checkCredits(value: unknown, field: string): asserts value is number {
  if (!isWhole(value, Number.MAX_SAFE_INTEGER)) {
    invalid(`${field} must be a whole number of credits, 1 to ${Number.MAX_SAFE_INTEGER}; got ${quote(String(value))}`);
  }
}

function checkRefill(value: unknown): CreditRefill | null {
  if (value === null) return null;
  const { amount, period } = (value && typeof value === 'object' ? value : {}) as Partial<CreditRefill>;
  if (period !== 'day' && period !== 'month') invalid("refill.period must be 'day' or 'month'");
  checkCredits(amount, 'refill.amount');
  return { amount, period };
}

const DAY_TEXT = (date: Date) => date.toISOString().slice(0, 10);

function checkDate(value: unknown, field: string): asserts value is Date | undefined {
  if (value !== undefined && (!(value instanceof Date) || Number.isNaN(value.getTime()))) invalid(`${field} must be a valid Date`);
}

const sameScopes = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((scope, i) => scope === b?.[i]);

/** A v2 method of the store, or `NOT_SUPPORTED` naming what is missing. */
function v2<K extends keyof KeyStore>(store: KeyStore, method: K): NonNullable<KeyStore[K]> {
  const fn = store[method];
  if (typeof fn !== 'function') {
    throw new KeyManagerError('NOT_SUPPORTED', `finora-auth: this store has no ${String(method)}(); upgrade it for v2 features`);
  }
  return (fn as (...args: never[]) => unknown).bind(store) as NonNullable<KeyStore[K]>;
}

/** `what`: the credentials for the messages (`API keys`); `enterpriseWhat`, when they need a provisioned account. */
function mayHoldCredentials(account: Account, what: string, enterpriseWhat: string | undefined): void {
  if (account.tier === 'free') {
    throw new KeyManagerError('PREMIUM_REQUIRED', `finora-auth: ${what} need a Premium or Accountant Pro account`);
  }
  if (enterpriseWhat !== undefined && !account.enterprise) {
    throw new KeyManagerError('ENTERPRISE_ONLY', `finora-auth: ${enterpriseWhat} need an enterprise-provisioned account`);
  }
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

  async function mint(
    account: Account,
    environment: Environment,
    surface: Surface,
    name: string | undefined,
    scopes: string[] | undefined,
    rateLimit: RateLimit | undefined,
  ): Promise<IssuedKey> {
    mayHoldCredentials(account, 'API keys', surface === 'enterprise' ? 'enterprise keys' : undefined);
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
    if (scopes !== undefined) key.scopes = [...scopes];
    if (rateLimit !== undefined) key.rateLimit = { ...rateLimit };
    await store.insertKey(key);
    if (scopes !== undefined || rateLimit !== undefined) {
      // A v1 store that drops scopes or a rate limit would hand out a key with more than it was given: never do that.
      const stored = await store.getKey(key.id);
      const what = !sameScopes(stored?.scopes, scopes)
        ? 'scopes'
        : rateLimit !== undefined && (stored?.rateLimit?.requests !== rateLimit.requests || stored.rateLimit.perSeconds !== rateLimit.perSeconds)
          ? 'rate limits'
          : undefined;
      if (what !== undefined) {
        await store.revokeKey(key.id, now());
        throw new KeyManagerError('NOT_SUPPORTED', `finora-auth: this store does not keep key ${what}; upgrade it for v2 features`);
      }
    }
    return { apiKey, key: toKeyInfo(key) };
  }

  async function storedKey(keyId: string): Promise<StoredKey> {
    if (typeof keyId !== 'string' || keyId === '') invalid('keyId must be a non-empty string');
    const key = await store.getKey(keyId);
    if (!key) throw new KeyManagerError('KEY_NOT_FOUND', `finora-auth: no key ${quote(keyId)}`);
    return key;
  }

  function checkClientId(clientId: unknown): asserts clientId is string {
    if (typeof clientId !== 'string' || clientId === '') invalid('clientId must be a non-empty string');
  }

  async function newSecret(environment: Environment) {
    const clientSecret = generateClientSecret(environment);
    return { clientSecret, secretHash: await sha256Hex(clientSecret), secretHint: keyHint(clientSecret) };
  }

  /** A v2 store method bound to the store, or `NOT_SUPPORTED`. */
  const method = <K extends keyof KeyStore>(name: K) => v2(store, name);

  async function accountExists(accountId: string): Promise<void> {
    if (typeof accountId !== 'string' || accountId === '') invalid('accountId must be a non-empty string');
    await accountFor(accountId);
  }

  const notFound = (accountId: string) => new KeyManagerError('ACCOUNT_NOT_FOUND', `finora-auth: no account ${quote(accountId)}`);

  const creditsInfo = (state: { metered: boolean; balance: number | null; refill?: CreditRefill }): CreditsInfo => {
    const info: CreditsInfo = { metered: state.metered, balance: state.metered ? state.balance : null };
    if (state.refill) info.refill = { ...state.refill };
    return info;
  };

  function accountFields(patch: AccountPatch): AccountPatch {
    if (!patch || typeof patch !== 'object') invalid('patch must be an object: { tier?, enterprise?, rateLimit? }');
    if (patch.tier !== undefined && !TIERS.includes(patch.tier)) invalid(`tier must be one of ${TIERS.join(', ')}; got ${quote(patch.tier)}`);
    if (patch.enterprise !== undefined && typeof patch.enterprise !== 'boolean') invalid('enterprise must be a boolean');
    const rateLimit = checkRateLimit(patch.rateLimit);
    const fields: AccountPatch = {};
    if (patch.tier !== undefined) fields.tier = patch.tier;
    if (patch.enterprise !== undefined) fields.enterprise = patch.enterprise;
    if (rateLimit !== undefined) fields.rateLimit = rateLimit;
    return fields;
  }

  return {
    async putAccount(input) {
      if (typeof input?.id !== 'string' || !ACCOUNT_ID.test(input.id)) {
        invalid('account id must be 1-128 letters, digits or . _ : @ -, starting with a letter or digit');
      }
      if (!TIERS.includes(input.tier)) invalid(`tier must be one of ${TIERS.join(', ')}; got ${quote(input.tier)}`);
      const fields = accountFields({
        tier: input.tier,
        ...(input.enterprise !== undefined ? { enterprise: input.enterprise } : {}),
        ...(input.rateLimit !== undefined ? { rateLimit: input.rateLimit } : {}),
      });
      // An existing account changes only the named fields, atomically, so two admins cannot undo each other.
      const updated = store.updateAccount ? await store.updateAccount(input.id, fields) : null;
      if (updated) return { ...updated };
      const existing = await store.getAccount(input.id);
      const account: Account = { id: input.id, tier: input.tier, enterprise: fields.enterprise ?? existing?.enterprise ?? false };
      const rateLimit = fields.rateLimit === undefined ? existing?.rateLimit : fields.rateLimit;
      if (rateLimit) account.rateLimit = { ...rateLimit };
      await store.putAccount(account);
      return (await store.getAccount(input.id)) ?? account;
    },

    async updateAccount(accountId, patch) {
      if (typeof accountId !== 'string' || accountId === '') invalid('accountId must be a non-empty string');
      const fields = accountFields(patch);
      if (store.updateAccount) {
        const updated = await store.updateAccount(accountId, fields);
        if (!updated) throw new KeyManagerError('ACCOUNT_NOT_FOUND', `finora-auth: no account ${quote(accountId)}`);
        return { ...updated };
      }
      // A v1 store has no atomic update: read, change, write back. A concurrent write between the two can be lost;
      // every store of this project implements updateAccount, so only third-party v1 stores take this path.
      const { rateLimit, ...rest } = fields;
      const updated: Account = { ...(await accountFor(accountId)), ...rest };
      if (rateLimit === null) delete updated.rateLimit;
      else if (rateLimit !== undefined) updated.rateLimit = rateLimit;
      await store.putAccount(updated);
      return { ...updated };
    },

    async issue(input) {
      checkEnvironment(input?.environment);
      const surface = input.surface ?? 'retail';
      if (surface !== 'retail' && surface !== 'enterprise') invalid("surface must be 'retail' or 'enterprise'");
      checkName(input.name);
      const scopes = storedScopes(input.scopes);
      const rateLimit = checkRateLimit(input.rateLimit) ?? undefined;
      return mint(await accountFor(input.accountId), input.environment, surface, input.name, scopes, rateLimit);
    },

    async revoke(keyId) {
      if (typeof keyId !== 'string' || keyId === '') invalid('keyId must be a non-empty string');
      // One round trip: the store says null for an unknown key.
      if (!(await store.revokeKey(keyId, now()))) throw new KeyManagerError('KEY_NOT_FOUND', `finora-auth: no key ${quote(keyId)}`);
    },

    async rotate(keyId) {
      const old = await storedKey(keyId);
      if (old.revokedAt !== undefined) {
        throw new KeyManagerError('KEY_REVOKED', `finora-auth: key ${quote(keyId)} is revoked; issue a new key instead`);
      }
      return mint(await accountFor(old.accountId), old.environment, old.surface, old.name, old.scopes, old.rateLimit);
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

    async createServiceAccount(input) {
      const insert = v2(store, 'insertServiceAccount');
      checkEnvironment(input?.environment);
      checkName(input.name);
      const scopes = storedScopes(input.scopes);
      mayHoldCredentials(await accountFor(input.accountId), 'service accounts', 'service accounts');
      const { clientSecret, secretHash, secretHint } = await newSecret(input.environment);
      const createdAt = now();
      const serviceAccount: StoredServiceAccount = {
        clientId: generateClientId(),
        accountId: input.accountId,
        secretHash,
        secretHint,
        environment: input.environment,
        createdAt,
        secretCreatedAt: createdAt,
        expiresAt: createdAt + ttlMs,
      };
      if (input.name !== undefined) serviceAccount.name = input.name;
      if (scopes !== undefined) serviceAccount.scopes = scopes;
      await insert(serviceAccount);
      return { clientId: serviceAccount.clientId, clientSecret, serviceAccount: toServiceAccountInfo(serviceAccount) };
    },

    async rotateServiceAccountSecret(clientId) {
      const find = v2(store, 'findServiceAccount');
      const replace = v2(store, 'replaceServiceAccountSecret');
      checkClientId(clientId);
      const record = await find(clientId);
      if (!record) throw new KeyManagerError('SERVICE_ACCOUNT_NOT_FOUND', `finora-auth: no service account ${quote(clientId)}`);
      const revoked = () =>
        new KeyManagerError('SERVICE_ACCOUNT_REVOKED', `finora-auth: service account ${quote(clientId)} is revoked; create a new one`);
      if (record.serviceAccount.revokedAt !== undefined) throw revoked();
      mayHoldCredentials(record.account, 'service accounts', 'service accounts');
      const { clientSecret, secretHash, secretHint } = await newSecret(record.serviceAccount.environment);
      // Strictly later than the old secret's, even on a clock that has not moved: tokens carry it, and a rotation ends them.
      const secretCreatedAt = Math.max(now(), record.serviceAccount.secretCreatedAt + 1);
      const stored = await replace(clientId, { secretHash, secretHint, secretCreatedAt, expiresAt: secretCreatedAt + ttlMs });
      if (!stored) throw revoked();
      return { clientSecret, serviceAccount: toServiceAccountInfo(stored) };
    },

    async revokeServiceAccount(clientId) {
      const revoke = v2(store, 'revokeServiceAccount');
      checkClientId(clientId);
      if (!(await revoke(clientId, now()))) {
        throw new KeyManagerError('SERVICE_ACCOUNT_NOT_FOUND', `finora-auth: no service account ${quote(clientId)}`);
      }
    },

    async listServiceAccounts(accountId) {
      const list = v2(store, 'listServiceAccounts');
      await accountFor(accountId);
      return (await list(accountId)).map(toServiceAccountInfo);
    },

    async listAccounts() {
      return method('listAccounts')();
    },

    async grantCredits(accountId, amount) {
      const grant = method('grantCredits');
      if (typeof accountId !== 'string' || accountId === '') invalid('accountId must be a non-empty string');
      checkCredits(amount, 'amount');
      const granted = await grant(accountId, amount);
      if (!granted) throw notFound(accountId);
      return { balance: granted.balance };
    },

    async credits(accountId) {
      const get = method('getCredits');
      if (typeof accountId !== 'string' || accountId === '') invalid('accountId must be a non-empty string');
      const state = await get(accountId);
      if (!state) throw notFound(accountId);
      return creditsInfo(state);
    },

    async unmeter(accountId) {
      const unmeter = method('unmeter');
      if (typeof accountId !== 'string' || accountId === '') invalid('accountId must be a non-empty string');
      if (!(await unmeter(accountId))) throw notFound(accountId);
    },

    async setCreditRefill(accountId, refill) {
      const set = method('setCreditRefill');
      if (typeof accountId !== 'string' || accountId === '') invalid('accountId must be a non-empty string');
      const checked = checkRefill(refill);
      const state = await set(accountId, checked);
      if (state) return creditsInfo(state);
      await accountFor(accountId);
      throw new KeyManagerError('NOT_METERED', `finora-auth: account ${quote(accountId)} is not metered; grant it credits first`);
    },

    async usage(accountId, range = {}) {
      const list = method('listUsage');
      if (!range || typeof range !== 'object') invalid('range must be an object: { since?, until? }');
      checkDate(range.since, 'since');
      checkDate(range.until, 'until');
      await accountExists(accountId);
      const until = range.until ?? new Date(now());
      const since = range.since ?? new Date(until.getTime() - (USAGE_DEFAULT_DAYS - 1) * DAY_MS);
      if (DAY_TEXT(since) > DAY_TEXT(until)) invalid('since must not be after until');
      return list(accountId, DAY_TEXT(since), DAY_TEXT(until));
    },
  };
}
