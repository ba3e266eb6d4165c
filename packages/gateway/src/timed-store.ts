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
  // The core reads some members on every request (the usage batcher checks `store.addUsage`): each method is
  // bound once, not on every read, so a read allocates nothing. A method the store replaces is bound anew.
  const bound = new Map<PropertyKey, { method: (...args: never[]) => unknown; bound: unknown }>();
  return new Proxy(store, {
    get(target, property) {
      if (property === 'findByHash') return findByHash;
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const known = bound.get(property);
      if (known?.method === value) return known.bound;
      const fresh = (value as (...args: never[]) => unknown).bind(target);
      bound.set(property, { method: value as (...args: never[]) => unknown, bound: fresh });
      return fresh;
    },
  });
}
