// A Hono app guarded by the built @finora-auth/hono, bundled by the runtime suite for Node, workerd, Bun and Deno.

import { createAuthenticator, createKeyManager, MemoryKeyStore, type KeyInfo } from '@finora-auth/core';
import { finoraAuth, type FinoraAuthEnv } from '@finora-auth/hono';
import { Hono, type MiddlewareHandler } from 'hono';

export interface RuntimeKeys {
  retail: string;
  enterprise: string;
  revoked: string;
  free: string;
  retailKey: KeyInfo;
  enterpriseKey: KeyInfo;
}

interface World {
  guard: MiddlewareHandler<FinoraAuthEnv>;
  keys: Promise<RuntimeKeys>;
}

let world: World | undefined;

// Built on the first request: workerd allows no random values or timers at module scope.
function getWorld(): World {
  if (world) return world;
  const store = new MemoryKeyStore();
  const manager = createKeyManager({ store });
  const keys = (async (): Promise<RuntimeKeys> => {
    await manager.putAccount({ id: 'bank', tier: 'premium', enterprise: true });
    await manager.putAccount({ id: 'shop', tier: 'accountant_pro' });
    const retail = await manager.issue({ accountId: 'bank', environment: 'live', name: 'ledger sync' });
    const enterprise = await manager.issue({ accountId: 'bank', environment: 'test', surface: 'enterprise' });
    const revoked = await manager.issue({ accountId: 'shop', environment: 'live' });
    await manager.revoke(revoked.key.id);
    const free = await manager.issue({ accountId: 'shop', environment: 'test' });
    await manager.putAccount({ id: 'shop', tier: 'free' });
    return {
      retail: retail.apiKey,
      enterprise: enterprise.apiKey,
      revoked: revoked.apiKey,
      free: free.apiKey,
      retailKey: retail.key,
      enterpriseKey: enterprise.key,
    };
  })();
  world = { guard: finoraAuth({ authenticator: createAuthenticator({ store }) }), keys };
  return world;
}

export const app = new Hono<FinoraAuthEnv>();

// Test-only: hands the suite the keys this process issued (they exist nowhere else).
app.post('/__keys', async (c) => c.json(await getWorld().keys));
app.use(async (c, next) => {
  await getWorld().keys;
  return getWorld().guard(c, next);
});
for (const route of ['/health', '/invoices', '/invoices/:id', '/payments', '/payments/*']) {
  app.get(route, (c) => c.json({ route, auth: c.get('auth') }));
}
