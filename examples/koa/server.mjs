// A Koa 3 API guarded by finoraAuth over the SQLite store the `finora-auth` command writes.

import Koa from 'koa';
import { createAuthenticator } from '@finora-auth/core';
import { finoraAuth } from '@finora-auth/koa';
import { SqliteKeyStore } from '@finora-auth/sqlite';

// The same store URL the CLI reads, so `finora-auth keys create` here issues keys this server accepts.
const path = (process.env.FINORA_AUTH_STORE ?? 'sqlite:./.finora/keys.db').replace(/^sqlite:/, '');
const store = new SqliteKeyStore({ path });
const authenticator = createAuthenticator({ store });

const app = new Koa();
app.use(finoraAuth({ authenticator })); // module from the path: /v1/payments → payments (enterprise)
app.use((ctx) => {
  ctx.body = { module: ctx.state.auth.module, account: ctx.state.auth.accountId };
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.once('SIGTERM', () => server.close(() => authenticator.close().then(() => store.close())));
