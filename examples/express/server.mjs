// An Express 5 API guarded by finoraAuth over the SQLite store the `finora-auth` command writes.

import express from 'express';
import { createAuthenticator } from '@finora-auth/core';
import { finoraAuth } from '@finora-auth/express';
import { SqliteKeyStore } from '@finora-auth/sqlite';

// The same store URL the CLI reads, so `finora-auth keys create` here issues keys this server accepts.
const path = (process.env.FINORA_AUTH_STORE ?? 'sqlite:./.finora/keys.db').replace(/^sqlite:/, '');
const store = new SqliteKeyStore({ path });
const authenticator = createAuthenticator({ store });

const app = express();
app.use('/v1', finoraAuth({ authenticator })); // module from the path: /v1/payments → payments (enterprise)
app.get('/v1/:module', (req, res) => res.json({ module: req.auth.module, account: req.auth.accountId }));

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.once('SIGTERM', () => server.close(() => authenticator.close().then(() => store.close())));
