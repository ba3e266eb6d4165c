// A Fastify 5 API guarded by the finoraAuth plugin over the SQLite store the `finora-auth` command writes.

import Fastify from 'fastify';
import { createAuthenticator } from '@finora-auth/core';
import { finoraAuth } from '@finora-auth/fastify';
import { SqliteKeyStore } from '@finora-auth/sqlite';

// The same store URL the CLI reads, so `finora-auth keys create` here issues keys this server accepts.
const path = (process.env.FINORA_AUTH_STORE ?? 'sqlite:./.finora/keys.db').replace(/^sqlite:/, '');
const store = new SqliteKeyStore({ path });
const authenticator = createAuthenticator({ store });

const app = Fastify();
await app.register(
  async (v1) => {
    await v1.register(finoraAuth, { authenticator }); // guards this scope; module from the route: /v1/payments → payments
    v1.get('/:module', async (request) => ({ module: request.auth.module, account: request.auth.accountId }));
  },
  { prefix: '/v1' },
);
app.addHook('onClose', async () => {
  await authenticator.close();
  await store.close();
});

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on ${address}`);
process.once('SIGTERM', () => void app.close());
