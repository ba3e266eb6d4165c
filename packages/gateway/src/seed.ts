// First start on an empty store: a demo premium account and one test key, so the first command ends in a working request.

import { createKeyManager, type IssuedKey, type KeyStore } from '@finora-auth/core';

/** The demo account's id. Its presence is the marker that a store was seeded (or is in use) and never is again. */
export const DEMO_ACCOUNT_ID = 'demo';

/**
 * Seeds `store` when it is empty: no demo account, and not one unrevoked key of any account (a store someone
 * already uses is left alone). Returns the issued key, or `undefined` when nothing was done.
 */
export async function seedIfEmpty(store: KeyStore, now: () => number = Date.now): Promise<IssuedKey | undefined> {
  if (await store.getAccount(DEMO_ACCOUNT_ID)) return undefined;
  const keys = await store.listExpiring(0, Number.MAX_SAFE_INTEGER);
  if (keys.length > 0) return undefined;
  const manager = createKeyManager({ store, now });
  await manager.putAccount({ id: DEMO_ACCOUNT_ID, tier: 'premium', enterprise: false });
  return manager.issue({ accountId: DEMO_ACCOUNT_ID, environment: 'test', name: 'demo key from first start' });
}
