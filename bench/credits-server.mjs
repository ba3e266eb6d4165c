// The HTTP server of bench/credits.mjs: Hono with finoraAuth on one MemoryKeyStore, and three live keys of the same
// kind but for their account's metering and rate limit, so one server measures all three side by side.
// Sends { type: 'ready', port, keys: { unmetered, metered, limited } } over IPC; the keys stay in the bench's memory.

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = (pkg) => import(pathToFileURL(join(root, 'packages', pkg, 'dist', 'index.js')).href);
const core = await dist('core');
const { finoraAuth } = await dist('hono');
const { seedCreditsBench } = await import('./credits-seed.mjs');

const { store, keys } = await seedCreditsBench(core);
const authenticator = core.createAuthenticator({ store });
const app = new Hono();
app.use('/v1/*', finoraAuth({ authenticator }));
app.get('/v1/invoices', (c) => c.json({ invoices: [], account: c.get('auth').accountId }));

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.send({ type: 'ready', port: info.port, keys });
});
process.on('message', (message) => {
  if (message?.type === 'cpu') process.send({ type: 'cpu', usage: process.cpuUsage() });
  if (message?.type === 'stop') {
    server.close();
    setImmediate(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
