// An in-process KeyStore: for tests, examples and single-process tools. Nothing survives a restart.

import { StoreEvents, type AccountPatch, type KeyStore, type ServiceAccountSecret, type StoreListener } from './store';
import type {
  Account,
  KeyRecord,
  ServiceAccountRecord,
  StoredKey,
  StoredServiceAccount,
  StoredSigningKey,
} from './types';

const copyScopes = <T extends { scopes?: string[] }>(value: T): T => (value.scopes ? { ...value, scopes: [...value.scopes] } : { ...value });
const copyKey = (key: StoredKey): StoredKey => copyScopes(key);
const copyAccount = (account: Account): Account => ({ ...account });
const copyServiceAccount = (serviceAccount: StoredServiceAccount): StoredServiceAccount => copyScopes(serviceAccount);
const copySigningKey = (key: StoredSigningKey): StoredSigningKey => ({ ...key });

export class MemoryKeyStore implements KeyStore {
  readonly #accounts = new Map<string, Account>();
  readonly #keys = new Map<string, StoredKey>();
  readonly #idByHash = new Map<string, string>();
  readonly #serviceAccounts = new Map<string, StoredServiceAccount>();
  readonly #signingKeys = new Map<string, StoredSigningKey>();
  readonly #events = new StoreEvents();
  #closed = false;

  async findByHash(hash: string, _options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    this.#assertOpen();
    const id = this.#idByHash.get(hash);
    const key = id === undefined ? undefined : this.#keys.get(id);
    const account = key && this.#accounts.get(key.accountId);
    return key && account ? { key: copyKey(key), account: copyAccount(account) } : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    this.#assertOpen();
    const account = this.#accounts.get(accountId);
    return account ? copyAccount(account) : null;
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
    this.#accounts.set(accountId, updated);
    this.#events.emit({ type: 'account-changed', accountId });
    return copyAccount(updated);
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
      ? { serviceAccount: copyServiceAccount(serviceAccount), account: copyAccount(account) }
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

  /** Everything the store holds, as plain data: what a database would have at rest. */
  dump(): { accounts: Account[]; keys: StoredKey[]; serviceAccounts: StoredServiceAccount[]; signingKeys: StoredSigningKey[] } {
    return {
      accounts: [...this.#accounts.values()].map(copyAccount),
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
