// Costs as a store grows: at N keys (10k, 100k, 1M), key-manager issues, uncached lookups, expiring, list and bytes per key, per store.
//
// Each store is filled step by step to each size by a bulk path (SQL in batches, or the store's own insertKey many at a
// time), shaped like keys the key manager issues: 100 keys per account, expiring 60-90 days out, plus 100 keys that
// expire within the week (so `expiring(7)` answers the same 100 at every size). For SQLite every bulk key also gets its
// change-log row, as if all N were issued within the log's retention: the case that made writes quadratic. Then, at
// each size, what is timed goes through the public API only: `issue()` through the key manager (the per-write cost),
// uncached `authenticate()` (cache: false), `expiring(7)` and `list()` of one 100-key account. Growth ratios are each
// figure at the largest size over the smallest, beside a target: flat (<= 1.5x over a 100x growth; a scan per call
// grows about 100x). Redis runs on a private redis-server (no persistence) so its memory per key is its own.
//
//   node bench/scale.mjs            SQLite and PostgreSQL to 1,000,000 keys, Redis to 100,000
//   node bench/scale.mjs --quick    2,000 and 20,000 keys on each
//   node bench/scale.mjs --smoke    500 and 2,000 keys on each

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createAuthenticator, createKeyManager } from '../packages/core/dist/index.js';
import { PostgresKeyStore } from '../packages/postgres/dist/index.js';
import { RedisKeyStore } from '../packages/redis/dist/index.js';
import { SqliteKeyStore } from '../packages/sqlite/dist/index.js';
import { emit, listening, log, parseArgs, percentile, round, sized } from './lib.mjs';

const args = parseArgs();
const SIZES = {
  sqlite: sized(args, [10_000, 100_000, 1_000_000], [2_000, 20_000], [500, 2_000]),
  postgres: sized(args, [10_000, 100_000, 1_000_000], [2_000, 20_000], [500, 2_000]),
  redis: sized(args, [10_000, 100_000], [2_000, 20_000], [500, 2_000]),
};
const ISSUES = sized(args, 300, 100, 20);
const LOOKUPS = sized(args, 2_000, 500, 100);
const LISTS = sized(args, 50, 20, 5);
const KEYS_PER_ACCOUNT = 100;
const SOON = 100;
const FLAT = 1.5;
const POSTGRES_URL = process.env.FINORA_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY = 86_400_000;
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

/** `count` bulk key rows from `start` on: random digests (no plaintext kept), 100 to an account. */
function* bulkKeys(start, count, now) {
  for (let i = start; i < start + count; i++) {
    const expiresAt = i < SOON ? now + DAY * (1 + (i % 6)) : now + DAY * (60 + (i % 30));
    yield {
      id: `key_bulk${i}`,
      accountId: `acct_${Math.floor(i / KEYS_PER_ACCOUNT)}`,
      hash: randomBytes(32).toString('hex'),
      hint: 'live_sk_…bulk',
      environment: 'live',
      surface: 'retail',
      createdAt: now - DAY + i,
      expiresAt,
    };
  }
}

const accountIds = (start, count) => {
  const ids = [];
  for (let a = Math.floor(start / KEYS_PER_ACCOUNT); a * KEYS_PER_ACCOUNT < start + count; a++) if (a * KEYS_PER_ACCOUNT >= start) ids.push(`acct_${a}`);
  return ids;
};

// ------------------------------------------------------------------ the stores

async function sqliteStore() {
  const dir = mkdtempSync(join(tmpdir(), 'finora-scale-'));
  const path = join(dir, 'keys.db');
  const store = new SqliteKeyStore({ path });
  const db = new Database(path);
  const insertAccount = db.prepare("INSERT INTO finora_accounts (id, tier, enterprise) VALUES (?, 'premium', 0)");
  const insertKey = db.prepare(
    `INSERT INTO finora_keys (id, account_id, hash, hint, environment, surface, created_at, expires_at)
     VALUES (@id, @accountId, @hash, @hint, @environment, @surface, @createdAt, @expiresAt)`,
  );
  const insertChange = db.prepare("INSERT INTO finora_changes (kind, subject, at) VALUES ('key', ?, ?)");
  const fill = db.transaction((start, count, now) => {
    for (const id of accountIds(start, count)) insertAccount.run(id);
    for (const key of bulkKeys(start, count, now)) {
      insertKey.run(key);
      insertChange.run(key.hash, now);
    }
  });
  return {
    name: 'sqlite',
    store,
    fill: async (start, count, now) => fill(start, count, now),
    bytes: async () => {
      db.pragma('wal_checkpoint(TRUNCATE)');
      return statSync(path).size;
    },
    bytesLabel: 'file bytes',
    close: async () => {
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresStore() {
  const schema = `finora_scale_${randomBytes(4).toString('hex')}`;
  const store = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema });
  await store.getAccount('probe'); // creates the schema
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  const s = `"${schema}"`;
  const BATCH = 10_000;
  return {
    name: 'postgres',
    store,
    async fill(start, count, now) {
      const accounts = accountIds(start, count);
      await client.query(`INSERT INTO ${s}.accounts (id, tier, enterprise) SELECT unnest($1::text[]), 'premium', false`, [accounts]);
      const rows = [...bulkKeys(start, count, now)];
      for (let i = 0; i < rows.length; i += BATCH) {
        const batch = rows.slice(i, i + BATCH);
        await client.query(
          `INSERT INTO ${s}.api_keys (id, account_id, key_hash, hint, environment, surface, created_at, expires_at)
           SELECT id, account_id, key_hash, hint, 'live', 'retail', to_timestamp(created / 1000), to_timestamp(expires / 1000)
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[])
             AS t(id, account_id, key_hash, hint, created, expires)`,
          [batch.map((k) => k.id), batch.map((k) => k.accountId), batch.map((k) => k.hash), batch.map((k) => k.hint),
            batch.map((k) => k.createdAt), batch.map((k) => k.expiresAt)],
        );
      }
      // A store at N keys grew over months and was vacuumed on the way; a bulk load leaves every new row without its
      // hint bits and hundreds of MB of dirty pages, so the timed lookups would otherwise pay the load's aftermath
      // (the first read of each page setting hint bits, a checkpoint or autovacuum writing it out) in their p99.
      await client.query(`VACUUM (ANALYZE) ${s}.accounts, ${s}.api_keys`);
      await client.query('CHECKPOINT').catch((error) => log(`scale: postgres CHECKPOINT refused (${error.message}); lookups may pay the load's writes`));
    },
    async bytes() {
      const { rows } = await client.query(
        `SELECT sum(pg_total_relation_size(c.oid))::float8 AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind = 'r'`,
        [schema],
      );
      return rows[0].bytes;
    },
    bytesLabel: 'table + index bytes',
    async close() {
      await store.close();
      await client.query(`DROP SCHEMA ${s} CASCADE`);
      await client.end();
    },
  };
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function redisStore() {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  // Retried until the server listens (it takes a moment to start); connection errors until then are expected.
  const admin = new Redis(url, { retryStrategy: () => 50, maxRetriesPerRequest: 100 });
  admin.on('error', () => {});
  await admin.ping();
  const used = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))[1]);
  const store = new RedisKeyStore({ url });
  await store.getAccount('probe');
  const baseline = await used();
  const IN_FLIGHT = 500;
  return {
    name: 'redis',
    store,
    async fill(start, count, now) {
      for (const id of accountIds(start, count)) await store.putAccount({ id, tier: 'premium', enterprise: false });
      let pending = [];
      for (const key of bulkKeys(start, count, now)) {
        pending.push(store.insertKey(key));
        if (pending.length >= IN_FLIGHT) {
          await Promise.all(pending);
          pending = [];
        }
      }
      await Promise.all(pending);
    },
    bytes: async () => (await used()) - baseline,
    bytesLabel: 'memory bytes',
    async close() {
      await store.close();
      admin.disconnect();
      child.kill('SIGTERM');
    },
  };
}

// ------------------------------------------------------------------ measuring

const ms = (start) => performance.now() - start;

async function timeEach(count, fn) {
  const times = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await fn(i);
    times.push(ms(start));
  }
  return { p50: round(percentile(times, 50), 3), p99: round(percentile(times, 99), 3) };
}

async function measureAt(harness, manager, n, plaintexts) {
  // The per-write cost: the key manager's own issue(), on a store that already holds n keys.
  const issue = await timeEach(ISSUES, async () => {
    plaintexts.push((await manager.issue({ accountId: 'acct_sample', environment: 'live' })).apiKey);
  });
  const authenticator = createAuthenticator({ store: harness.store, cache: false });
  const lookup = await timeEach(LOOKUPS, async (i) => {
    const result = await authenticator.authenticate({ authorization: `Bearer ${plaintexts[(i * 7919) % plaintexts.length]}`, module: 'invoices', method: 'GET' });
    if (!result.ok) throw new Error(`a sample key was refused at ${n} keys: ${result.error.code}`);
  });
  await authenticator.close();
  let expiringCount = 0;
  const expiring = await timeEach(LISTS, async () => {
    expiringCount = (await manager.expiring(7)).length;
  });
  let listCount = 0;
  const list = await timeEach(LISTS, async (i) => {
    listCount = (await manager.list(`acct_${(i * 37) % Math.floor(n / KEYS_PER_ACCOUNT)}`)).length;
  });
  const bytes = await harness.bytes();
  return {
    keys: n,
    issueMs: issue,
    lookupMs: lookup,
    expiringMs: expiring,
    expiringKeys: expiringCount,
    listMs: list,
    listKeys: listCount,
    bytesPerKey: round(bytes / n, 1),
  };
}

async function runStore(open, sizes) {
  const harness = await open();
  const manager = createKeyManager({ store: harness.store });
  const rows = [];
  try {
    await manager.putAccount({ id: 'acct_sample', tier: 'premium' });
    const plaintexts = [];
    let held = 0;
    for (const n of sizes) {
      const now = Date.now();
      const start = performance.now();
      await harness.fill(held, n - held, now);
      log(`  ${harness.name}: ${n - held} keys filled in ${round(ms(start) / 1000, 1)} s`);
      // The first size's figures would carry the JIT's and the connections' warm-up, flattering every ratio: measured twice, the first discarded.
      if (held === 0) await measureAt(harness, manager, n, plaintexts);
      held = n;
      const row = await measureAt(harness, manager, n, plaintexts);
      row.fillSeconds = round(ms(start) / 1000, 1);
      rows.push(row);
      log(`  ${harness.name} @ ${n}: issue p50 ${row.issueMs.p50} ms, lookup p50 ${row.lookupMs.p50} / p99 ${row.lookupMs.p99} ms, ` +
        `expiring ${row.expiringMs.p50} ms (${row.expiringKeys} keys), list ${row.listMs.p50} ms (${row.listKeys}), ${row.bytesPerKey} ${harness.bytesLabel}/key`);
    }
  } finally {
    await harness.close();
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const ratio = (pick) => round(pick(last) / pick(first), 2);
  const growth = {
    issueP50: ratio((r) => r.issueMs.p50),
    lookupP50: ratio((r) => r.lookupMs.p50),
    lookupP99: ratio((r) => r.lookupMs.p99),
    expiringP50: ratio((r) => r.expiringMs.p50),
    listP50: ratio((r) => r.listMs.p50),
    bytesPerKey: ratio((r) => r.bytesPerKey),
  };
  const verdicts = Object.fromEntries(Object.entries(growth).map(([name, value]) => [name, value <= FLAT]));
  return { store: harness.name, bytesLabel: harness.bytesLabel, sizes, rows, growth, target: `flat: <= ${FLAT}x from ${first.keys} to ${last.keys} keys`, verdicts };
}


const stores = [];
const leftOut = [];
for (const [name, open] of [['sqlite', sqliteStore], ['postgres', postgresStore], ['redis', redisStore]]) {
  // Off CI a missing service is left out and said so; under CI=true it fails the section.
  const missing =
    name === 'postgres' && !(await listening(Number(new URL(POSTGRES_URL).port || 5432)))
      ? `nothing listens at ${new URL(POSTGRES_URL).host}`
      : name === 'redis' && !existsSync(REDIS_SERVER)
        ? `no ${REDIS_SERVER}`
        : undefined;
  if (missing && process.env.CI !== 'true') {
    log(`scale: ${name} left out: ${missing} (required under CI=true)`);
    leftOut.push({ store: name, reason: missing });
    continue;
  }
  log(`scale: ${name} at ${SIZES[name].join(', ')} keys`);
  stores.push(await runStore(open, SIZES[name]));
}

log('');
log('growth from the smallest to the largest size (target: flat, <= 1.5x)');
for (const s of stores) {
  const cells = Object.entries(s.growth).map(([name, value]) => `${name} ${value}x ${s.verdicts[name] ? 'flat' : 'GROWS'}`);
  log(`  ${s.store.padEnd(8)} ${s.sizes[0]} → ${s.sizes[s.sizes.length - 1]}: ${cells.join(', ')}`);
}

emit({ flat: FLAT, issuesPerSize: ISSUES, lookupsPerSize: LOOKUPS, stores, leftOut, met: stores.every((s) => Object.values(s.verdicts).every(Boolean)) });
