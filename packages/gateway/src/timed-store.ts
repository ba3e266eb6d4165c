// A KeyStore decorator that times key lookups for the store latency histogram; everything else passes through.

import type { Account, KeyRecord, KeyStore, StoredKey, StoreListener } from '@finora-auth/core';
import type { Histogram } from './metrics';

export class TimedKeyStore implements KeyStore {
  constructor(
    readonly inner: KeyStore,
    private readonly histogram: Histogram,
  ) {}

  async findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    const started = performance.now();
    let result = 'error';
    try {
      const record = await this.inner.findByHash(hash, options);
      result = record ? 'found' : 'not_found';
      return record;
    } finally {
      this.histogram.observe((performance.now() - started) / 1000, { result });
    }
  }

  getAccount(accountId: string): Promise<Account | null> {
    return this.inner.getAccount(accountId);
  }
  putAccount(account: Account): Promise<void> {
    return this.inner.putAccount(account);
  }
  getKey(keyId: string): Promise<StoredKey | null> {
    return this.inner.getKey(keyId);
  }
  insertKey(key: StoredKey): Promise<void> {
    return this.inner.insertKey(key);
  }
  revokeKey(keyId: string, revokedAt: number): Promise<StoredKey | null> {
    return this.inner.revokeKey(keyId, revokedAt);
  }
  listKeys(accountId: string): Promise<StoredKey[]> {
    return this.inner.listKeys(accountId);
  }
  listExpiring(after: number, until: number): Promise<StoredKey[]> {
    return this.inner.listExpiring(after, until);
  }
  subscribe(listener: StoreListener): () => void {
    return this.inner.subscribe(listener);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
