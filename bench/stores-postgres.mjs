// Measures @finora-auth/postgres on a real PostgreSQL (built dists): cold lookups, and fleet revocation across two processes. Prints JSON.
//
//   node bench/stores-postgres.mjs [--lookups 1000] [--revocations 250]
//   FINORA_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); build first: cd packages/postgres && npx tsup

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createAuthenticator, createKeyManager, sha256Hex } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';

const URL_ = process.env.FINORA_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const now = () => performance.now();

/** Reads one JSON message per line from a stream, in order. */
function messages(input) {
  const queue = [];
  const waiting = [];
  createInterface({ input }).on('line', (line) => {
    const message = JSON.parse(line);
    const next = waiting.shift();
    if (next) next(message);
    else queue.push(message);
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve)));
}

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const round = (ms) => Math.round(ms * 1000) / 1000;
  return {
    samples: sorted.length,
    p50Ms: round(at(0.5)),
    p90Ms: round(at(0.9)),
    p99Ms: round(at(0.99)),
    maxMs: round(sorted[sorted.length - 1]),
    meanMs: round(sorted.reduce((sum, x) => sum + x, 0) / sorted.length),
  };
}

/** Resolves once the store's LISTEN connection is live (its `reset` with `live: true`). */
function whenLive(store) {
  return new Promise((resolve) => {
    const stop = store.subscribe((event) => {
      if (event.type === 'reset' && event.live) {
        queueMicrotask(() => stop());
        resolve();
      }
    });
  });
}

// The second gateway: its own store and authenticator; warms keys on request and reports when one is refused.
async function child() {
  const store = new PostgresKeyStore({ connectionString: URL_, schema: process.env.FINORA_BENCH_SCHEMA, poolSize: 4 });
  const live = whenLive(store);
  let lastCache;
  const authenticator = createAuthenticator({ store, onDecision: (event) => (lastCache = event.cache) });
  await live;
  const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
  let watching; // { apiKey, hash, done }
  const check = async () => {
    const target = watching;
    if (!target || target.done) return;
    const result = await authenticator.authenticate({ authorization: `Bearer ${target.apiKey}` });
    if (!result.ok && !target.done) {
      target.done = true;
      clearInterval(target.poll);
      send({ refused: true, code: result.error.code });
    }
  };
  // Subscribed after the authenticator, so its cache has already dropped the key when this runs.
  store.subscribe((event) => {
    if (event.type === 'key-changed' && event.keyHash === watching?.hash) void check();
  });
  send({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const command = JSON.parse(line);
    if (command.op === 'warm') {
      const auth = { authorization: `Bearer ${command.apiKey}` };
      const first = await authenticator.authenticate(auth);
      const second = await authenticator.authenticate(auth);
      // A fallback poll, in case an event were missed; the event path normally answers first.
      watching = { apiKey: command.apiKey, hash: command.hash, done: false, poll: setInterval(check, 25) };
      send({ warm: first.ok && second.ok, cache: lastCache });
    }
  }
  await authenticator.close();
  await store.close();
}

async function main() {
  const { values } = parseArgs({
    options: { lookups: { type: 'string', default: '1000' }, revocations: { type: 'string', default: '250' } },
  });
  const lookups = Number(values.lookups);
  const revocations = Number(values.revocations);
  const schema = `finora_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  const { rows } = await admin.query('SHOW server_version');
  const store = new PostgresKeyStore({ connectionString: URL_, schema, poolSize: 4 });
  let proc;
  try {
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acct-bench', tier: 'premium' });

    // Cold lookups: every key asked once, so each one is a cache miss and a round trip to PostgreSQL.
    const issued = [];
    for (let i = 0; i < lookups; i++) issued.push(await manager.issue({ accountId: 'acct-bench', environment: 'live' }));
    const hashes = await Promise.all(issued.map(({ apiKey }) => sha256Hex(apiKey)));
    const live = whenLive(store);
    const outcomes = new Map();
    const authenticator = createAuthenticator({ store, onDecision: (e) => outcomes.set(e.cache, (outcomes.get(e.cache) ?? 0) + 1) });
    await live;
    for (let i = 0; i < 50; i++) await store.findByHash(hashes[i % hashes.length]); // pool connections and plans
    const direct = [];
    for (const hash of hashes) {
      const started = now();
      await store.findByHash(hash);
      direct.push(now() - started);
    }
    const cold = [];
    for (const { apiKey } of issued) {
      const started = now();
      const result = await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
      cold.push(now() - started);
      if (!result.ok) throw new Error(`bench: a fresh key was refused (${result.error.code})`);
    }
    const warm = [];
    for (const { apiKey } of issued) {
      const started = now();
      await authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
      warm.push(now() - started);
    }

    // Fleet revocation: a second process warms the key, this one revokes it, and the time runs until the
    // other process reports its authenticator refusing it (so the figure includes the pipe back to us).
    proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child'], {
      env: { ...process.env, FINORA_BENCH_SCHEMA: schema },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const next = messages(proc.stdout);
    const ask = (command) => {
      proc.stdin.write(`${JSON.stringify(command)}\n`);
      return next();
    };
    if (!(await next()).ready) throw new Error('bench: child did not start');
    const fleet = [];
    const revokeCalls = [];
    const afterCommit = [];
    let childHits = 0;
    for (let i = 0; i < revocations; i++) {
      const { apiKey, key } = await manager.issue({ accountId: 'acct-bench', environment: 'live' });
      const auth = { authorization: `Bearer ${apiKey}` };
      await authenticator.authenticate(auth);
      if (!(await authenticator.authenticate(auth)).ok) throw new Error('bench: warm-up refused here');
      const warmed = await ask({ op: 'warm', apiKey, hash: await sha256Hex(apiKey) });
      if (!warmed.warm) throw new Error('bench: warm-up refused in the child');
      if (warmed.cache === 'hit') childHits++;
      const refusal = next();
      const started = now();
      await manager.revoke(key.id);
      const resolved = now();
      revokeCalls.push(resolved - started);
      if ((await authenticator.authenticate(auth)).ok) throw new Error('bench: revoking instance still accepts the key');
      const message = await refusal;
      const refused = now();
      fleet.push(refused - started);
      afterCommit.push(refused - resolved);
      if (message.code !== 'INVALID_API_KEY') throw new Error(`bench: child refused with ${message.code}`);
    }
    await authenticator.close();

    const fleetSummary = summary(fleet);
    console.log(
      JSON.stringify(
        {
          bench: 'stores-postgres',
          node: process.version,
          postgres: rows[0]?.server_version,
          cpus: cpus().length,
          coldLookup: {
            note: 'authenticate() of a key never seen by this authenticator: SHA-256, cache miss, one findByHash round trip',
            authenticate: summary(cold),
            findByHash: summary(direct),
          },
          warmLookup: { note: 'the same keys again, answered from the cache', authenticate: summary(warm) },
          cacheOutcomes: Object.fromEntries(outcomes),
          fleetRevocation: {
            note: 'revoke() in this process until the other process\'s authenticator, warm on the key, refuses it (reported back over a pipe)',
            childCacheHitsBeforeRevoke: childHits,
            ...fleetSummary,
            revokeCall: { note: 'keyManager.revoke(): getKey, then UPDATE + pg_notify committed (WAL flushed)', ...summary(revokeCalls) },
            afterRevokeResolved: { note: 'from revoke() resolving here to the refusal there', ...summary(afterCommit) },
            targetP99Ms: 50,
            metTarget: fleetSummary.p99Ms < 50,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    proc?.stdin.end();
    if (proc && proc.exitCode === null) await new Promise((resolve) => proc.once('exit', resolve));
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

if (process.argv.includes('--child')) await child();
else await main();
