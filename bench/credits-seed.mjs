// The accounts and keys bench/credits.mjs compares: the same live key three ways (unmetered, metered, rate-limited), and one near expiry.

/** A MemoryKeyStore with three premium accounts and one live key each, issued through the key manager. */
export async function seedCreditsBench(core) {
  const store = new core.MemoryKeyStore();
  const manager = core.createKeyManager({ store });
  for (const id of ['unmetered', 'metered', 'limited']) await manager.putAccount({ id, tier: 'premium' });
  // More credits than any run spends (a billion: a balance a real account might have), so the metered key is never
  // refused: the figure is the bookkeeping's cost.
  await manager.grantCredits('metered', 1_000_000_000);
  // A limit no run reaches (a billion a second), so every request is judged against it and allowed.
  await manager.updateAccount('limited', { rateLimit: { requests: 1_000_000_000, perSeconds: 1 } });
  const keys = {};
  for (const id of ['unmetered', 'metered', 'limited']) keys[id] = (await manager.issue({ accountId: id, environment: 'live' })).apiKey;
  // For reference: an unmetered key near its expiry, whose answers carry one response header (Finora-Key-Expires-At),
  // as a metered key's carry Finora-Credits-Remaining: what one header costs an adapter, metering apart.
  const soon = core.createKeyManager({ store, keyTtlDays: 7 });
  keys.expiring = (await soon.issue({ accountId: 'unmetered', environment: 'live' })).apiKey;
  return { store, manager, keys };
}
