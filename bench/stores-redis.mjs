// Measures @finora-auth/redis from its built dist: cold lookup latency, and fleet revocation between two processes.
// Usage: node bench/stores-redis.mjs [--url redis://127.0.0.1:6379] [--keys 2000] [--revocations 300]
// Prints one JSON object. Needs `pnpm run build` (core and redis dists) and a Redis; uses a fresh prefix, then drops it.

import { spawn } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createAuthenticator, createKeyManager } from '../packages/core/dist/index.js';
import { RedisKeyStore } from '../packages/redis/dist/index.js';

// Wall-clock ms with sub-ms precision, comparable across the two processes.
const clock = () => performance.timeOrigin + performance.now();
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

// Child mode: the second gateway. It warms its own authenticator on keys it is told of, and reports the instant a
// request for a watched key is refused. It asks right when its store reports that key changed (the authenticator,
// subscribed first, has dropped its cache entry by then), so the time is pub/sub delivery plus one lookup.
if (process.argv[2] === '--child') {
  const [, , , url, prefix] = process.argv;
  const store = new RedisKeyStore({ url, prefix });
  let lastCache;
  const authenticator = createAuthenticator({ store, onDecision: (event) => (lastCache = event.cache) });
  const watched = new Map(); // hash -> { n, apiKey }
  const refusedAt = async (n, apiKey) => {
    for (;;) {
      const result = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
      if (!result.ok) return clock();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  store.subscribe((event) => {
    if (event.type !== 'key-changed' || !watched.has(event.keyHash)) return;
    const { n, apiKey } = watched.get(event.keyHash);
    watched.delete(event.keyHash);
    const heardAt = clock();
    refusedAt(n, apiKey).then((at) => send({ refused: n, heardAt, at }));
  });
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line) continue;
    const message = JSON.parse(line);
    if (message.exit) break;
    const { n, apiKey, hash } = message;
    // Warm: ask until the answer comes from the cache (the channel must be live for that).
    for (let tries = 0; ; tries++) {
      const result = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
      if (!result.ok) throw new Error(`child: key ${n} refused while warming`);
      if (lastCache === 'hit') break;
      if (tries > 1000) throw new Error('child: never served from cache (channel not live?)');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    watched.set(hash, { n, apiKey });
    send({ warmed: n });
  }
  await authenticator.close();
  await store.close();
  process.exit(0);
}

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
};
const url = arg('url', process.env.FINORA_REDIS_URL ?? 'redis://127.0.0.1:6379');
const keyCount = Number(arg('keys', 2_000));
const revocations = Number(arg('revocations', 300));
const prefix = `{finora-bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}}:`;

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const summary = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (n) => Math.round(n * 1000) / 1000;
  return {
    samples: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted.at(-1)),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
};

const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
const store = new RedisKeyStore({ url, prefix });
const manager = createKeyManager({ store });
const hashOf = async (id) => (await store.getKey(id)).hash;

try {
  const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1];
  await manager.putAccount({ id: 'bench-account', tier: 'premium', enterprise: true });

  // ------------------------------------------------------------ cold lookups: every key asked once, nothing cached
  const keys = [];
  for (let i = 0; i < keyCount; i++) {
    const { apiKey, key } = await manager.issue({ accountId: 'bench-account', environment: 'live' });
    keys.push({ apiKey, id: key.id, hash: await hashOf(key.id) });
  }
  const half = Math.floor(keys.length / 2);
  await store.findByHash(keys[0].hash); // the first call loads the script; not a steady-state lookup
  const findSamples = [];
  for (const { hash } of keys.slice(0, half)) {
    const started = performance.now();
    const record = await store.findByHash(hash);
    findSamples.push(performance.now() - started);
    if (!record) throw new Error('a key went missing');
  }
  const cold = createAuthenticator({ store });
  const missSamples = [];
  for (const { apiKey } of keys.slice(half)) {
    const started = performance.now();
    const result = await cold.authenticate({ authorization: `Bearer ${apiKey}` });
    missSamples.push(performance.now() - started);
    if (!result.ok) throw new Error('a key was refused');
  }
  await cold.close();

  // ------------------------------------------------------------ fleet revocation between two processes
  const local = createAuthenticator({ store }); // this process's gateway: warm too, sees its own revocation at once
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', url, prefix], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting = new Map();
  const expect = (key) => new Promise((resolve) => waiting.set(key, resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line);
    const key = message.warmed !== undefined ? `warmed:${message.warmed}` : `refused:${message.refused}`;
    waiting.get(key)?.(message);
    waiting.delete(key);
  });
  const tell = (message) => child.stdin.write(`${JSON.stringify(message)}\n`);

  const refusedMs = [];
  const heardMs = [];
  const revokeCallMs = [];
  let localStale = 0;
  for (let n = 0; n < revocations; n++) {
    const { apiKey, key } = await manager.issue({ accountId: 'bench-account', environment: 'live' });
    const hash = await hashOf(key.id);
    if (!(await local.authenticate({ authorization: `Bearer ${apiKey}` })).ok) throw new Error('local warm failed');
    const warmed = expect(`warmed:${n}`);
    tell({ n, apiKey, hash });
    await warmed;
    const refused = expect(`refused:${n}`);
    const started = clock();
    await manager.revoke(key.id);
    revokeCallMs.push(clock() - started);
    if ((await local.authenticate({ authorization: `Bearer ${apiKey}` })).ok) localStale++;
    const { heardAt, at } = await refused;
    heardMs.push(heardAt - started);
    refusedMs.push(at - started);
  }
  tell({ exit: true });
  await new Promise((resolve) => child.once('exit', resolve));
  await local.close();

  const fleet = summary(refusedMs);
  send({
    bench: 'stores-redis',
    at: new Date().toISOString(),
    machine: { node: process.version, cpus: os.cpus().length, loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100, cpuModel: os.cpus()[0]?.model, redis: redisVersion, url: url.replace(/\/\/[^@]*@/, '//') },
    coldLookup: {
      note: 'each key asked once on a loopback Redis: one EVALSHA round trip; authenticate adds hashing and the decision',
      findByHash: summary(findSamples),
      authenticateCacheMiss: summary(missSamples),
    },
    fleetRevocation: {
      note: 'two processes, each with a warm authenticator; revoke through one (key manager: getKey + revoke script), time until the other refuses',
      untilOtherRefusesMs: fleet,
      untilOtherHearsMs: summary(heardMs),
      revokeCallMs: summary(revokeCallMs),
      revokingProcessServedRevokedKey: localStale,
      target: { p99Ms: 50, met: fleet.p99Ms < 50 },
    },
  });
} finally {
  const names = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    names.push(...batch);
  } while (cursor !== '0');
  for (let i = 0; i < names.length; i += 1000) await admin.del(...names.slice(i, i + 1000));
  admin.disconnect();
  await store.close();
}
