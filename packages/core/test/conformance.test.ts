// MemoryKeyStore against the shared store kits, called as every store package calls them: conformance, then metering.

import { describeKeyStoreConformance, describeMeteringChecks } from '@finora-auth/core/testing';
import { MemoryKeyStore } from '../src/memory-store';

// A store that lives in memory: every open() is the same instance, so nothing crosses instances.
describeKeyStoreConformance('MemoryKeyStore', () => {
  const store = new MemoryKeyStore();
  return { open: () => store, raw: async () => JSON.stringify(store.dump()) };
});

describeMeteringChecks('MemoryKeyStore', () => {
  const store = new MemoryKeyStore();
  return { open: () => store };
});
