// MemoryKeyStore must pass the same conformance suite as every real store.

import { describeKeyStoreConformance } from '@finora-auth/core/testing';
import { MemoryKeyStore } from '../src/memory-store';

describeKeyStoreConformance('MemoryKeyStore', () => {
  const store = new MemoryKeyStore();
  return {
    open: () => store,
    raw: async () => JSON.stringify(store.dump()),
  };
});
