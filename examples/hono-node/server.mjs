// A Hono 4 API on Node (@hono/node-server) guarded by finoraAuth over the SQLite store the `finora-auth` command writes.

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createAuthenticator } from '@finora-auth/core';
import { finoraAuth } from '@finora-auth/hono';
import { SqliteKeyStore } from '@finora-auth/sqlite';

// The same store URL the CLI reads, so `finora-auth keys create` here issues keys this server accepts.
const path = (process.env.FINORA_AUTH_STORE ?? 'sqlite:./.finora/keys.db').replace(/^sqlite:/, '');
const store = new SqliteKeyStore({ path });
const authenticator = createAuthenticator({ store });

const app = new Hono();
app.use('/v1/*', finoraAuth({ authenticator })); // module from the path: /v1/payments → payments (enterprise)
app.get('/v1/:module', (c) => c.json({ module: c.get('auth').module, account: c.get('auth').accountId }));

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening on http://127.0.0.1:${info.port}`);
});
process.once('SIGTERM', () => server.close(() => authenticator.close().then(() => store.close())));
