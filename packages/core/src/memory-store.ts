// An in-process KeyStore: for tests, examples and single-process tools. Nothing survives a restart.

import { StoreEvents, type AccountPatch, type KeyStore, type ServiceAccountSecret, type StoreListener } from './store';
import type {
  Account,
  CreditRefill,
  CreditState,
  KeyRecord,
  UsageIncrement,
  UsageRow,
  ServiceAccountRecord,
  StoredKey,
  StoredServiceAccount,
  StoredSigningKey,
} from './types';

const copyScopes = <T extends { scopes?: string[] }>(value: T): T => (value.scopes ? { ...value, scopes: [...value.scopes] } : { ...value });
const copyKey = (key: StoredKey): StoredKey => {
  const copy = copyScopes(key);
  if (key.rateLimit) copy.rateLimit = { ...key.rateLimit };
  return copy;
};
const copyAccount = (account: Account): Account => {
  const copy: Account = { id: account.id, tier: account.tier, enterprise: account.enterprise };
  if (account.rateLimit) copy.rateLimit = { ...account.rateLimit };
  return copy;
};
const copySigningKey = (key: StoredSigningKey): StoredSigningKey => ({ ...key });

/** A metered account's credits. */
interface Credits {
  balance: number;
  refill?: CreditRefill;
  refilledPeriod?: string;
}

/** The UTC period of `now` a refill is applied for: `YYYY-MM-DD` or `YYYY-MM`; later periods sort later. */
export function refillPeriod(period: CreditRefill['period'], now: number): string {
  return new Date(now).toISOString().slice(0, period === 'day' ? 10 : 7);
}

const usageKey = (row: UsageIncrement) =>
  JSON.stringify([row.accountId, row.day, row.keyId, row.environment, row.module ?? null]);
const copyServiceAccount = (serviceAccount: StoredServiceAccount): StoredServiceAccount => copyScopes(serviceAccount);

export class MemoryKeyStore implements KeyStore {
  readonly #accounts = new Map<string, Account>();
  readonly #keys = new Map<string, StoredKey>();
  readonly #idByHash = new Map<string, string>();
  readonly #serviceAccounts = new Map<string, StoredServiceAccount>();
  readonly #signingKeys = new Map<string, StoredSigningKey>();
  readonly #credits = new Map<string, Credits>();
  readonly #usage = new Map<string, UsageIncrement>();
  readonly #rateWindows = new Map<string, { count: number; forgetAt: number }>();
  readonly #events = new StoreEvents();
  #closed = false;

  /** The account as read back: `metered` only when it is (the flag is credits' to set, never putAccount's). */
  #readAccount(account: Account): Account {
    const copy = copyAccount(account);
    if (this.#credits.has(account.id)) copy.metered = true;
    return copy;
  }

  async findByHash(hash: string, _options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    this.#assertOpen();
    const id = this.#idByHash.get(hash);
    const key = id === undefined ? undefined : this.#keys.get(id);
    const account = key && this.#accounts.get(key.accountId);
    return key && account ? { key: copyKey(key), account: this.#readAccount(account) } : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    this.#assertOpen();
    const account = this.#accounts.get(accountId);
    return account ? this.#readAccount(account) : null;
  }

  async listAccounts(): Promise<Account[]> {
    this.#assertOpen();
    return [...this.#accounts.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((a) => this.#readAccount(a));
  }

  async putAccount(account: Account): Promise<void> {
    this.#assertOpen();
    this.#accounts.set(account.id, copyAccount(account));
    this.#events.emit({ type: 'account-changed', accountId: account.id });
  }

  /** Atomic: nothing else runs between reading the account and writing it back (one synchronous step). */
  async updateAccount(accountId: string, patch: AccountPatch): Promise<Account | null> {
    this.#assertOpen();
    const account = this.#accounts.get(accountId);
    if (!account) return null;
    const updated: Account = { ...account };
    if (patch.tier !== undefined) updated.tier = patch.tier;
    if (patch.enterprise !== undefined) updated.enterprise = patch.enterprise;
    if (patch.rateLimit === null) delete updated.rateLimit;
    else if (patch.rateLimit !== undefined) updated.rateLimit = { ...patch.rateLimit };
    this.#accounts.set(accountId, updated);
    this.#events.emit({ type: 'account-changed', accountId });
    return this.#readAccount(updated);
  }

  async getKey(keyId: string): Promise<StoredKey | null> {
    this.#assertOpen();
    const key = this.#keys.get(keyId);
    return key ? copyKey(key) : null;
  }

  async insertKey(key: StoredKey): Promise<void> {
    this.#assertOpen();
    if (this.#keys.has(key.id) || this.#idByHash.has(key.hash)) {
      throw new Error(`finora-auth: key ${key.id} or its hash is already stored`);
    }
    this.#keys.set(key.id, copyKey(key));
    this.#idByHash.set(key.hash, key.id);
    this.#events.emit({ type: 'key-changed', keyHash: key.hash });
  }

  async revokeKey(keyId: string, revokedAt: number): Promise<StoredKey | null> {
    this.#assertOpen();
    const key = this.#keys.get(keyId);
    if (!key) return null;
    if (key.revokedAt === undefined) {
      key.revokedAt = revokedAt;
      this.#events.emit({ type: 'key-changed', keyHash: key.hash });
    }
    return copyKey(key);
  }

  async listKeys(accountId: string): Promise<StoredKey[]> {
    this.#assertOpen();
    return [...this.#keys.values()]
      .filter((key) => key.accountId === accountId)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(copyKey);
  }

  async listExpiring(after: number, until: number): Promise<StoredKey[]> {
    this.#assertOpen();
    return [...this.#keys.values()]
      .filter((key) => key.revokedAt === undefined && key.expiresAt > after && key.expiresAt <= until)
      .sort((a, b) => a.expiresAt - b.expiresAt)
      .map(copyKey);
  }

  async findServiceAccount(clientId: string, _options?: { signal?: AbortSignal }): Promise<ServiceAccountRecord | null> {
    this.#assertOpen();
    const serviceAccount = this.#serviceAccounts.get(clientId);
    const account = serviceAccount && this.#accounts.get(serviceAccount.accountId);
    return serviceAccount && account
      ? { serviceAccount: copyServiceAccount(serviceAccount), account: this.#readAccount(account) }
      : null;
  }

  async insertServiceAccount(serviceAccount: StoredServiceAccount): Promise<void> {
    this.#assertOpen();
    const hashTaken = [...this.#serviceAccounts.values()].some((stored) => stored.secretHash === serviceAccount.secretHash);
    if (this.#serviceAccounts.has(serviceAccount.clientId) || hashTaken) {
      throw new Error(`finora-auth: service account ${serviceAccount.clientId} or its secret hash is already stored`);
    }
    this.#serviceAccounts.set(serviceAccount.clientId, copyServiceAccount(serviceAccount));
    this.#events.emit({ type: 'service-account-changed', clientId: serviceAccount.clientId });
  }

  async replaceServiceAccountSecret(clientId: string, secret: ServiceAccountSecret): Promise<StoredServiceAccount | null> {
    this.#assertOpen();
    const serviceAccount = this.#serviceAccounts.get(clientId);
    if (!serviceAccount || serviceAccount.revokedAt !== undefined) return null;
    serviceAccount.secretHash = secret.secretHash;
    serviceAccount.secretHint = secret.secretHint;
    serviceAccount.secretCreatedAt = secret.secretCreatedAt;
    serviceAccount.expiresAt = secret.expiresAt;
    this.#events.emit({ type: 'service-account-changed', clientId });
    return copyServiceAccount(serviceAccount);
  }

  async revokeServiceAccount(clientId: string, revokedAt: number): Promise<StoredServiceAccount | null> {
    this.#assertOpen();
    const serviceAccount = this.#serviceAccounts.get(clientId);
    if (!serviceAccount) return null;
    if (serviceAccount.revokedAt === undefined) {
      serviceAccount.revokedAt = revokedAt;
      this.#events.emit({ type: 'service-account-changed', clientId });
    }
    return copyServiceAccount(serviceAccount);
  }

  async listServiceAccounts(accountId: string): Promise<StoredServiceAccount[]> {
    this.#assertOpen();
    return [...this.#serviceAccounts.values()]
      .filter((serviceAccount) => serviceAccount.accountId === accountId)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(copyServiceAccount);
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    this.#assertOpen();
    return [...this.#signingKeys.values()].sort((a, b) => a.createdAt - b.createdAt).map(copySigningKey);
  }

  async insertSigningKey(key: StoredSigningKey): Promise<void> {
    this.#assertOpen();
    if (this.#signingKeys.has(key.kid)) throw new Error(`finora-auth: signing key ${key.kid} is already stored`);
    this.#signingKeys.set(key.kid, copySigningKey(key));
  }

  async retireSigningKey(kid: string, retiredAt: number): Promise<StoredSigningKey | null> {
    this.#assertOpen();
    const key = this.#signingKeys.get(kid);
    if (!key) return null;
    if (key.retiredAt === undefined) key.retiredAt = retiredAt;
    return copySigningKey(key);
  }

  // v2: credits, usage and rate windows. Each method is one synchronous step, so each is atomic.

  async grantCredits(accountId: string, amount: number): Promise<{ balance: number } | null> {
    this.#assertOpen();
    if (!this.#accounts.has(accountId)) return null;
    const credits = this.#credits.get(accountId);
    if (credits) {
      credits.balance += amount;
      return { balance: credits.balance };
    }
    this.#credits.set(accountId, { balance: amount });
    this.#events.emit({ type: 'account-changed', accountId });
    return { balance: amount };
  }

  async setCreditRefill(accountId: string, refill: CreditRefill | null): Promise<CreditState | null> {
    this.#assertOpen();
    const credits = this.#credits.get(accountId);
    if (!this.#accounts.has(accountId) || !credits) return null;
    // A new or changed refill applies at the next take, then once per period.
    delete credits.refilledPeriod;
    if (refill) credits.refill = { ...refill };
    else delete credits.refill;
    return this.#creditState(accountId);
  }

  async getCredits(accountId: string): Promise<CreditState | null> {
    this.#assertOpen();
    return this.#accounts.has(accountId) ? this.#creditState(accountId) : null;
  }

  async unmeter(accountId: string): Promise<boolean> {
    this.#assertOpen();
    if (!this.#accounts.has(accountId)) return false;
    this.#credits.delete(accountId);
    this.#events.emit({ type: 'account-changed', accountId });
    return true;
  }

  async takeCredits(accountId: string, want: number, min: number, now: number): Promise<{ granted: number; balance: number; metered: boolean }> {
    this.#assertOpen();
    const credits = this.#accounts.has(accountId) ? this.#credits.get(accountId) : undefined;
    if (!credits) return { granted: 0, balance: 0, metered: false };
    if (credits.refill) {
      const period = refillPeriod(credits.refill.period, now);
      if (credits.refilledPeriod === undefined || period > credits.refilledPeriod) {
        credits.balance = credits.refill.amount;
        credits.refilledPeriod = period;
      }
    }
    const granted = credits.balance >= min ? Math.min(want, credits.balance) : 0;
    credits.balance -= granted;
    return { granted, balance: credits.balance, metered: true };
  }

  async returnCredits(accountId: string, amount: number): Promise<void> {
    this.#assertOpen();
    const credits = this.#credits.get(accountId);
    if (credits) credits.balance += amount;
  }

  async addUsage(rows: readonly UsageIncrement[]): Promise<void> {
    this.#assertOpen();
    for (const row of rows) {
      const key = usageKey(row);
      const stored = this.#usage.get(key);
      if (stored) {
        stored.allowed += row.allowed;
        stored.creditsSpent += row.creditsSpent;
      } else {
        this.#usage.set(key, { ...row });
      }
    }
  }

  async listUsage(accountId: string, since: string, until: string): Promise<UsageRow[]> {
    this.#assertOpen();
    const order = (row: UsageIncrement) => [row.day, row.keyId, row.environment, row.module === undefined ? '' : `m${row.module}`];
    return [...this.#usage.values()]
      .filter((row) => row.accountId === accountId && row.day >= since && row.day <= until)
      .sort((a, b) => {
        const [x, y] = [order(a), order(b)];
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
        return 0;
      })
      .map(({ accountId: _account, ...row }) => {
        const copy: UsageRow = { day: row.day, keyId: row.keyId, environment: row.environment, allowed: row.allowed, creditsSpent: row.creditsSpent };
        if (row.module !== undefined) copy.module = row.module;
        return copy;
      });
  }

  async incrementRateWindow(bucket: string, windowStart: number, by: number, ttlMs: number): Promise<number> {
    this.#assertOpen();
    const now = Date.now();
    const key = `${bucket}\u0000${windowStart}`;
    const window = this.#rateWindows.get(key);
    const count = (window && window.forgetAt > now ? window.count : 0) + by;
    this.#rateWindows.set(key, { count, forgetAt: now + ttlMs });
    if (this.#rateWindows.size > 10_000) {
      for (const [k, w] of this.#rateWindows) if (w.forgetAt <= now) this.#rateWindows.delete(k);
    }
    return count;
  }

  #creditState(accountId: string): CreditState {
    const credits = this.#credits.get(accountId);
    if (!credits) return { metered: false, balance: null };
    const state: CreditState = { metered: true, balance: credits.balance };
    if (credits.refill) state.refill = { ...credits.refill };
    if (credits.refilledPeriod !== undefined) state.refilledPeriod = credits.refilledPeriod;
    return state;
  }

  /** Everything the store holds, as plain data: what a database would have at rest. */
  dump(): { accounts: Account[]; keys: StoredKey[]; serviceAccounts: StoredServiceAccount[]; signingKeys: StoredSigningKey[] } {
    return {
      accounts: [...this.#accounts.values()].map((a) => this.#readAccount(a)),
      keys: [...this.#keys.values()].map(copyKey),
      serviceAccounts: [...this.#serviceAccounts.values()].map(copyServiceAccount),
      signingKeys: [...this.#signingKeys.values()].map(copySigningKey),
    };
  }

  subscribe(listener: StoreListener): () => void {
    return this.#events.subscribe(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('finora-auth: MemoryKeyStore is closed');
  }
}
