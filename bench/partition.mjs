// Measures how long a gateway keeps serving a revoked key from its cache during a silent network partition, on Redis
// and PostgreSQL: authenticator A on a store behind a TCP proxy that freezes (sockets open, nothing flowing), a key
// manager on a second store instance direct; A is kept busy by a loop of authenticate() calls while the key is revoked.
// Usage: node bench/partition.mjs [--rounds 3] [--workers 4] [--freeze-ms 3000] [--only redis|postgres]
//          [--redis redis://127.0.0.1:6379] [--postgres postgres://postgres@127.0.0.1:5432/test]
// Needs the built dists (core, redis, postgres). Prints one JSON object; a summary per round goes to stderr.

import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createAuthenticator, createKeyManager } from '../packages/core/dist/index.js';
import { PostgresKeyStore } from '../packages/postgres/dist/index.js';
import { RedisKeyStore } from '../packages/redis/dist/index.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '4' },
    'freeze-ms': { type: 'string', default: '3000' },
    only: { type: 'string' },
    redis: { type: 'string', default: process.env.FINORA_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    postgres: { type: 'string', default: process.env.FINORA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const rounds = Number(args.rounds);
const workers = Number(args.workers);
const freezeMs = Number(args['freeze-ms']);

/** A TCP proxy that can freeze: bytes are held (in order) instead of forwarded, and delivered on thaw. */
async function freezeProxy(url) {
  const target = new URL(url);
  const pipes = new Set();
  const held = new Map();
  let frozen = false;
  const forward = (chunk, destination) => {
    if (!frozen) return void destination.write(chunk);
    if (!held.has(destination)) held.set(destination, []);
    held.get(destination).push(chunk);
  };
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    const pipe = { client, upstream };
    pipes.add(pipe);
    const end = () => {
      client.destroy();
      upstream.destroy();
      held.delete(client);
      held.delete(upstream);
      pipes.delete(pipe);
    };
    for (const socket of [client, upstream]) socket.on('error', end).on('close', end);
    client.on('data', (chunk) => forward(chunk, upstream));
    upstream.on('data', (chunk) => forward(chunk, client));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(server.address().port);
  return {
    url: proxied.toString(),
    freeze: () => (frozen = true),
    thaw: () => {
      frozen = false;
      for (const [destination, chunks] of held) if (!destination.destroyed) for (const chunk of chunks) destination.write(chunk);
      held.clear();
    },
    close: () => {
      for (const { client, upstream } of pipes) client.destroy(), upstream.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const stores = {
  redis: {
    setup() {
      const prefix = `{finora-bench-partition-${randomBytes(4).toString('hex')}}:`;
      return {
        open: (url) => new RedisKeyStore({ url, prefix }),
        url: args.redis,
        async cleanup() {
          const redis = new Redis(args.redis);
          const names = await redis.keys(`${prefix}*`);
          if (names.length > 0) await redis.del(...names);
          redis.disconnect();
        },
      };
    },
  },
  postgres: {
    setup() {
      const schema = `finora_bench_partition_${randomBytes(4).toString('hex')}`;
      return {
        open: (connectionString) => new PostgresKeyStore({ connectionString, schema }),
        url: args.postgres,
        async cleanup() {
          const client = new pg.Client({ connectionString: args.postgres });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await client.end();
        },
      };
    },
  },
};

const waitFor = async (check, withinMs, what) => {
  const deadline = performance.now() + withinMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

async function round(name) {
  const kind = stores[name].setup();
  const proxy = await freezeProxy(kind.url);
  const partitioned = kind.open(proxy.url);
  const direct = kind.open(kind.url);
  const resets = [];
  let keysCreated = 0;
  partitioned.subscribe((event) => {
    if (event.type === 'reset') resets.push({ live: event.live, at: performance.now() });
    if (event.type === 'key-changed') keysCreated++;
  });
  // Store and authenticator defaults, but a cache that would hold the key for the whole run.
  const authenticator = createAuthenticator({ store: partitioned, cache: { ttlMs: 600_000 } });
  const manager = createKeyManager({ store: direct });
  try {
    await waitFor(() => resets.some((reset) => reset.live), 10_000, 'the channel to be live');
    await manager.putAccount({ id: 'acct-partition', tier: 'premium' });
    const revoked = await manager.issue({ accountId: 'acct-partition', environment: 'live' });
    const kept = await manager.issue({ accountId: 'acct-partition', environment: 'live' });
    const ask = (apiKey) => authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
    // Both keys' creation heard first: a late "key created" would drop the entry cached below.
    await waitFor(() => keysCreated >= 2, 10_000, 'the keys to be created');
    await ask(revoked.apiKey);
    await ask(kept.apiKey);

    const frozenAt = performance.now();
    let revokedAt = Infinity;
    let stop = false;
    const tally = { requests: 0, wrongAllows: 0, lastWrongAllow: -Infinity, statuses: {} };
    // The load: each worker asks for the revoked key in a loop, yielding to timers between calls as a server would.
    const loops = Array.from({ length: workers }, async () => {
      while (!stop) {
        const result = await ask(revoked.apiKey);
        const at = performance.now();
        tally.requests++;
        if (result.ok && at > revokedAt) {
          tally.wrongAllows++;
          tally.lastWrongAllow = Math.max(tally.lastWrongAllow, at);
        }
        if (!result.ok && at > revokedAt) tally.statuses[result.error.status] = (tally.statuses[result.error.status] ?? 0) + 1;
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    proxy.freeze();
    await manager.revoke(revoked.key.id);
    revokedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, frozenAt + freezeMs - performance.now())));
    const thawedAt = performance.now();
    proxy.thaw();
    await waitFor(
      async () => {
        const result = await ask(revoked.apiKey);
        return !result.ok && result.error.status === 401;
      },
      20_000,
      'the revocation to be seen after the thaw',
    );
    const refusedAfterThawMs = performance.now() - thawedAt;
    await waitFor(async () => (await ask(kept.apiKey)).ok, 20_000, 'the other key to be allowed again');
    const keptAllowedAfterThawMs = performance.now() - thawedAt;
    stop = true;
    await Promise.all(loops);
    const silentAt = resets.find((reset) => !reset.live && reset.at > frozenAt)?.at;
    const ms = (value) => Math.round(value * 10) / 10;
    return {
      store: name,
      requests: tally.requests,
      wrongAllows: tally.wrongAllows,
      lastWrongAllowAfterRevokeMs: tally.wrongAllows > 0 ? ms(tally.lastWrongAllow - revokedAt) : null,
      lastWrongAllowAfterFreezeMs: tally.wrongAllows > 0 ? ms(tally.lastWrongAllow - frozenAt) : null,
      revokeCallMs: ms(revokedAt - frozenAt),
      liveFalseAfterFreezeMs: silentAt === undefined ? null : ms(silentAt - frozenAt),
      refusalsDuringRun: tally.statuses,
      revokedRefused401AfterThawMs: ms(refusedAfterThawMs),
      otherKeyAllowedAfterThawMs: ms(keptAllowedAfterThawMs),
    };
  } finally {
    await authenticator.close();
    await Promise.all([partitioned.close(), direct.close()]);
    await proxy.close();
    await kind.cleanup();
  }
}

const results = [];
for (const name of Object.keys(stores)) {
  if (args.only && args.only !== name) continue;
  for (let i = 0; i < rounds; i++) {
    const result = await round(name);
    results.push(result);
    process.stderr.write(
      `${name} round ${i + 1}: ${result.wrongAllows} wrong allows of ${result.requests} requests, last ` +
        `${result.lastWrongAllowAfterRevokeMs} ms after the revocation (${result.lastWrongAllowAfterFreezeMs} ms after the freeze); ` +
        `live:false at +${result.liveFalseAfterFreezeMs} ms; 401 ${result.revokedRefused401AfterThawMs} ms after the thaw\n`,
    );
  }
}
console.log(
  JSON.stringify(
    { node: process.version, cpus: os.cpus().length, load: os.loadavg().map((v) => Math.round(v * 10) / 10), workers, freezeMs, results },
    null,
    2,
  ),
);
