// An in-process KeyStore: for tests, examples and single-process tools. Nothing survives a restart.

import { StoreEvents, type KeyStore, type StoreListener } from './store';
import type { Account, KeyRecord, StoredKey } from './types';

const copyKey = (key: StoredKey): StoredKey => ({ ...key });
const copyAccount = (account: Account): Account => ({ ...account });

export class MemoryKeyStore implements KeyStore {
  readonly #accounts = new Map<string, Account>();
  readonly #keys = new Map<string, StoredKey>();
  readonly #idByHash = new Map<string, string>();
  readonly #events = new StoreEvents();
  #closed = false;

  async findByHash(hash: string): Promise<KeyRecord | null> {
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

  /** Everything the store holds, as plain data: what a database would have at rest. */
  dump(): { accounts: Account[]; keys: StoredKey[] } {
    return { accounts: [...this.#accounts.values()].map(copyAccount), keys: [...this.#keys.values()].map(copyKey) };
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
