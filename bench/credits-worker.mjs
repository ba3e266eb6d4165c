// One process of a credits fleet (bench/credits-fleet.mjs and test/credits-fleet.test.ts): an authenticator on a
// shared store, driven over IPC. Uses the built packages, as a deployed gateway would.
//
//   fork('bench/credits-worker.mjs', [storeUrl, schemaOrPrefix])
//   → { type: 'run', apiKey, concurrency, durationMs?, stopAfterRefusedMs?, module? }   ← { type: 'ran', counts, heldMs }
//   → { type: 'clock', fixedNow }   (epoch ms; null: the real clock)                      ← { type: 'clock-set' }
//   → { type: 'close' }   (graceful: leases returned, counts flushed)                      ← { type: 'closed' }
// The key arrives over IPC and lives only in this process's memory; nothing here prints it.

import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = (pkg) => import(pathToFileURL(join(root, 'packages', pkg, 'dist', 'index.js')).href);

const [url, namespace] = process.argv.slice(2);
const core = await dist('core');

async function openStore() {
  if (url.startsWith('postgres')) {
    const { PostgresKeyStore } = await dist('postgres');
    return new PostgresKeyStore({ connectionString: url, schema: namespace });
  }
  if (url.startsWith('redis')) {
    const { RedisKeyStore } = await dist('redis');
    return new RedisKeyStore({ url, prefix: namespace });
  }
  throw new Error(`credits-worker: unsupported store ${url.split(':')[0]}`);
}

const store = await openStore();
let fixedNow = null;
const now = () => fixedNow ?? Date.now();
const authenticator = core.createAuthenticator({ store, now });

/** Sends requests, `concurrency` at a time, until `durationMs` passed or refusals went on for `stopAfterRefusedMs`. */
async function run({ apiKey, concurrency = 8, durationMs, stopAfterRefusedMs, module }) {
  const counts = {};
  const started = Date.now();
  let lastAllowed = Date.now();
  let stop = false;
  const request = { authorization: `Bearer ${apiKey}`, ...(module ? { module } : {}) };
  async function lane() {
    let sent = 0;
    while (!stop) {
      const result = await authenticator.authenticate(request);
      const status = result.ok ? 200 : result.error.status;
      counts[status] = (counts[status] ?? 0) + 1;
      const t = Date.now();
      if (result.ok) lastAllowed = t;
      if (durationMs !== undefined && t - started >= durationMs) stop = true;
      if (stopAfterRefusedMs !== undefined && !result.ok && t - lastAllowed >= stopAfterRefusedMs) stop = true;
      // Let timers and the store's client run, as requests arriving over sockets would: a lane answered from the
      // cache and its lease never leaves the microtask queue otherwise, and the rate-limit sync would never run.
      if ((++sent & 31) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { counts, ms: Date.now() - started };
}

process.on('message', async (message) => {
  try {
    if (message.type === 'run') process.send({ type: 'ran', ...(await run(message)) });
    else if (message.type === 'clock') {
      fixedNow = message.fixedNow;
      process.send({ type: 'clock-set' });
    } else if (message.type === 'close') {
      await authenticator.close();
      await store.close();
      process.send({ type: 'closed' }, () => process.exit(0));
    }
  } catch (error) {
    process.send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  }
});
process.send({ type: 'ready' });
