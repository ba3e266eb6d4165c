// The README's Fastify quick start, verbatim: `pnpm typecheck` compiles it under --strict against Fastify 5 and 4.

import Fastify from 'fastify';
import { createAuthenticator } from '@finora-auth/core';
import { finoraAuth } from '@finora-auth/fastify';
import { SqliteKeyStore } from '@finora-auth/sqlite';

const authenticator = createAuthenticator({ store: new SqliteKeyStore({ path: './.finora/keys.db' }) });
const app = Fastify();
await app.register(async (v1) => {
  await v1.register(finoraAuth, { authenticator }); // guards this scope only; module from the route: /v1/invoices/:id → invoices
  v1.get('/invoices/:id', async (request) => ({ account: request.auth?.accountId, billable: request.auth?.billable }));
}, { prefix: '/v1' });
await app.listen({ port: 3000 });
