import { expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, MemoryKeyStore } from '@finora-auth/core';
it('smoke', async () => {
  const store = new MemoryKeyStore();
  const m = createKeyManager({ store });
  await m.putAccount({ id: 'a1', tier: 'premium' });
  const { apiKey } = await m.issue({ accountId: 'a1', environment: 'live' });
  const auth = createAuthenticator({ store });
  const r = await auth.authenticate({ authorization: `Bearer ${apiKey}`, module: 'invoices' });
  expect(r.ok).toBe(true);
  const r2 = await auth.authenticate({ authorization: `Bearer ${apiKey}`, module: 'payments' });
  expect(r2.ok ? null : r2.error.code).toBe('ENTERPRISE_ONLY');
});
