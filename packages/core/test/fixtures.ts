// Test fixtures: a clock, and accounts and keys made through the public API (the store wrapper is core/testing's tapStore).

import { createKeyManager, MemoryKeyStore } from '../src/index';

export const DAY = 24 * 60 * 60 * 1000;
export const START = Date.parse('2026-01-01T00:00:00Z');

export function clock(start = START) {
  const state = { now: start };
  return { now: () => state.now, advance: (ms: number) => (state.now += ms), set: (ms: number) => (state.now = ms) };
}

export async function seed(store: MemoryKeyStore, now: () => number) {
  const manager = createKeyManager({ store, now });
  await manager.putAccount({ id: 'acct_premium', tier: 'premium' });
  await manager.putAccount({ id: 'acct_ent', tier: 'accountant_pro', enterprise: true });
  const retail = await manager.issue({ accountId: 'acct_premium', environment: 'live', name: 'woo' });
  const test = await manager.issue({ accountId: 'acct_premium', environment: 'test' });
  const enterprise = await manager.issue({ accountId: 'acct_ent', environment: 'live', surface: 'enterprise' });
  return { manager, retail, test, enterprise };
}

export const bearer = (apiKey: string) => `Bearer ${apiKey}`;
