// One build's side of bench/credits.mjs in process, in a process of its own: builds sharing a heap slow each
// other (V8's number-to-string cache and young-generation GC are per heap, so one build's garbage lands on the
// other's candidates). argv[2]: the checkout whose built core and bench/credits-seed.mjs to load.
//
// IPC: answers { type: 'ready', headers: { <kind>: [names] } } once seeded; { type: 'run', kind, ops } with
// { type: 'ran', nsPerCall } (CPU time of `ops` awaited authenticate() calls); { type: 'stop' } closes and exits.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const core = await import(pathToFileURL(join(dir, 'packages', 'core', 'dist', 'index.js')).href);
const { seedCreditsBench } = await import(pathToFileURL(join(dir, 'bench', 'credits-seed.mjs')).href);
const { store, keys } = await seedCreditsBench(core);
const authenticator = core.createAuthenticator({ store });
const requests = Object.fromEntries(Object.entries(keys).map(([kind, key]) => [kind, { authorization: `Bearer ${key}`, module: 'invoices', method: 'GET' }]));

const headers = {};
for (const [kind, request] of Object.entries(requests)) {
  const result = await authenticator.authenticate(request);
  if (!result.ok) throw new Error(`credits bench: the ${kind} key was refused: ${result.error.code}`);
  headers[kind] = Object.keys(result.headers);
}

/** CPU time (not wall time, so other processes on a shared machine slow it less) of `ops` awaited calls, in ns per call. */
async function cpuNsPerCall(kind, ops) {
  const request = requests[kind];
  const before = process.cpuUsage();
  for (let i = 0; i < ops; i++) await authenticator.authenticate(request);
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / ops;
}

process.on('message', async (message) => {
  if (message?.type === 'run') process.send({ type: 'ran', nsPerCall: await cpuNsPerCall(message.kind, message.ops) });
  if (message?.type === 'stop') {
    await authenticator.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', headers });
