// A Hono 4 API on Bun guarded by finoraAuth, asking a running gateway for keys through HttpKeyStore.

import { Hono } from 'hono';
import { createAuthenticator } from '@finora-auth/core';
import { finoraAuth, type FinoraAuthEnv } from '@finora-auth/hono';
import { HttpKeyStore } from '@finora-auth/http';

// The gateway: `finora-auth serve --internal-token-file internal.token`. Revocations arrive over its event stream (1 s bound).
const store = new HttpKeyStore({ url: Bun.env.FINORA_GATEWAY_URL ?? 'http://127.0.0.1:8787', token: Bun.env.FINORA_INTERNAL_TOKEN ?? '' });
const authenticator = createAuthenticator({ store });

const app = new Hono<FinoraAuthEnv>();
app.use('/v1/*', finoraAuth({ authenticator })); // module from the path: /v1/payments → payments (enterprise)
app.get('/v1/:module', (c) => c.json({ module: c.get('auth').module, account: c.get('auth').accountId }));

const server = Bun.serve({ port: Number(Bun.env.PORT ?? 3000), hostname: '127.0.0.1', fetch: app.fetch });
console.log(`listening on http://127.0.0.1:${server.port}`);
process.once('SIGTERM', async () => {
  await server.stop();
  await authenticator.close();
  await store.close();
  process.exit(0);
});
