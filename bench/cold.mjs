// Section 3: the cold path. Concurrent requests for one uncached key coalesce into one store lookup, and how long
// a cold lookup takes on the memory store (the real stores are measured by bench/stores-*.mjs).
//
// Coalescing is checked twice: against authenticate() directly (1,000 calls started in one tick), and over real
// HTTP through each built adapter (1,000 concurrent requests on loopback), both with a store that counts lookups
// and holds the lookup back (a delay, or until every request has arrived), so all of them find it in flight.

import http from 'node:http';
import { countingStore, emit, hasDist, issueKeys, loadCore, log, machine, parseArgs, percentile, randomKey, round, sized, sorted } from './lib.mjs';

const args = parseArgs();
const CONCURRENT = 1_000;
const STORE_DELAY_MS = 20;
const COLD_SAMPLES = sized(args, 5_000, 300, 100);

const core = await loadCore();

// ------------------------------------------------------------ coalescing, core
async function coalesceCore(kind) {
  const { store: inner, keys } = await issueKeys(core, 1);
  const { store, counter } = countingStore(inner, { delayMs: STORE_DELAY_MS });
  const served = {};
  const auth = core.createAuthenticator({ store, onDecision: (e) => (served[e.cache] = (served[e.cache] ?? 0) + 1) });
  const apiKey = kind === 'valid' ? keys[0] : randomKey();
  const authorization = `Bearer ${apiKey}`;
  const results = await Promise.all(Array.from({ length: CONCURRENT }, () => auth.authenticate({ authorization })));
  await auth.close();
  const statuses = {};
  for (const r of results) {
    const status = r.ok ? 200 : r.error.status;
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return { via: 'authenticate()', key: kind, requests: CONCURRENT, storeLookups: counter.lookups, statuses, cacheOutcomes: served };
}

// ------------------------------------------------------------ coalescing, HTTP through each adapter
async function appFor(framework, authenticator) {
  if (framework === 'express') {
    const { default: express } = await import('express');
    const { finoraAuth } = await import('@finora-auth/express');
    const app = express();
    app.use(finoraAuth({ authenticator }));
    app.get('/v1/invoices', (req, res) => res.json({ ok: true }));
    return http.createServer(app);
  }
  if (framework === 'koa') {
    const { default: Koa } = await import('koa');
    const { finoraAuth } = await import('@finora-auth/koa');
    const app = new Koa();
    app.use(finoraAuth({ authenticator }));
    app.use((ctx) => {
      ctx.body = { ok: true };
    });
    return http.createServer(app.callback());
  }
  const { Hono } = await import('hono');
  const { createAdaptorServer } = await import('@hono/node-server');
  const { finoraAuth } = await import('@finora-auth/hono');
  const app = new Hono();
  app.use(finoraAuth({ authenticator }));
  app.get('/v1/invoices', (c) => c.json({ ok: true }));
  return createAdaptorServer({ fetch: app.fetch });
}

async function coalesceHttp(framework) {
  const { store: inner, keys } = await issueKeys(core, 1);
  // The lookup is held until every request has reached the server (or 10 s pass), so all of them arrive while it
  // is in flight: the strongest case for coalescing, whatever the machine's load does to connection set-up.
  let arrivals = 0;
  let allArrived;
  const arrived = new Promise((resolve) => (allArrived = resolve));
  const gate = () => Promise.race([arrived, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  const { store, counter } = countingStore(inner, { gate });
  // How each request was served: 'miss' = it waited on the one in-flight lookup, 'hit' = it came after it.
  const served = {};
  const authenticator = core.createAuthenticator({
    store,
    lookupTimeoutMs: 15_000,
    onDecision: (e) => (served[e.cache] = (served[e.cache] ?? 0) + 1),
  });
  const server = await appFor(framework, authenticator);
  server.on('request', () => {
    if (++arrivals === CONCURRENT) allArrived();
  });
  await new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  const { port } = server.address();
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const request = () =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v1/invoices', agent, headers: { authorization: `Bearer ${keys[0]}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
    });
  try {
    const statuses = {};
    for (const status of await Promise.all(Array.from({ length: CONCURRENT }, request))) statuses[status] = (statuses[status] ?? 0) + 1;
    return { via: `HTTP, @finora-auth/${framework}`, key: 'valid', requests: CONCURRENT, storeLookups: counter.lookups, statuses, cacheOutcomes: served };
  } finally {
    agent.destroy();
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
    await authenticator.close();
  }
}

// ------------------------------------------------------------ cold lookup latency, memory store
async function coldLatency() {
  const { store: inner, keys } = await issueKeys(core, COLD_SAMPLES);
  const { store, counter } = countingStore(inner);
  const auth = core.createAuthenticator({ store, cache: { max: COLD_SAMPLES } });
  const measure = async () => {
    const times = new Float64Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const started = performance.now();
      const result = await auth.authenticate({ authorization: `Bearer ${keys[i]}` });
      times[i] = performance.now() - started;
      if (!result.ok) throw new Error(`cold lookup refused: ${result.error.code}`);
    }
    return sorted(times);
  };
  const cold = await measure();
  const lookupsCold = counter.lookups;
  const warm = await measure();
  await auth.close();
  const us = (s, p) => round(percentile(s, p) * 1000, 1);
  return {
    store: 'memory',
    samples: keys.length,
    storeLookups: lookupsCold,
    coldP50Us: us(cold, 50),
    coldP99Us: us(cold, 99),
    warmP50Us: us(warm, 50),
    warmP99Us: us(warm, 99),
  };
}

log(`cold: ${CONCURRENT} concurrent requests for one uncached key; ${COLD_SAMPLES} cold lookups on the memory store`);
const coalescing = [await coalesceCore('valid'), await coalesceCore('unknown')];
for (const framework of ['hono', 'express', 'koa']) {
  if (hasDist(framework)) coalescing.push(await coalesceHttp(framework));
  else coalescing.push({ via: `HTTP, @finora-auth/${framework}`, measured: false, reason: `packages/${framework}/dist is missing` });
}
const latency = await coldLatency();

const measured = coalescing.filter((c) => c.measured !== false);
emit({
  section: 'cold',
  quick: args.quick,
  storeDelayMs: STORE_DELAY_MS,
  coalescing,
  latency: [latency],
  target: { what: `${CONCURRENT} concurrent requests for one uncached key make exactly one store lookup`, met: measured.every((c) => c.storeLookups === 1) },
  machine: machine(),
  measuredAt: new Date().toISOString(),
});
