// A KeyStore decorator that times key lookups for the store latency histogram; everything else passes through.

import type { KeyRecord, KeyStore } from '@finora-auth/core';
import type { Histogram } from './metrics';

/**
 * `store` with `findByHash` timed. Every other member, the optional v2 methods included (service accounts,
 * signing keys, credits: the core and the OAuth issuer detect them with `typeof`), is the store's own, bound
 * to it, so a store gains nothing and loses nothing by being timed.
 */
export function timedKeyStore(store: KeyStore, histogram: Histogram): KeyStore {
  async function findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    const started = performance.now();
    let result = 'error';
    try {
      const record = await store.findByHash(hash, options);
      result = record ? 'found' : 'not_found';
      return record;
    } finally {
      histogram.observe((performance.now() - started) / 1000, { result });
    }
  }
  return new Proxy(store, {
    get(target, property) {
      if (property === 'findByHash') return findByHash;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
