// Measures @finora-auth/sqlite from its built dist: cold findByHash latency, and cross-process revocation propagation.
// Usage: node bench/stores-sqlite.mjs [--quick] [--keys 5000] [--revocations 200] [--poll-ms 100]
// Prints one JSON object on one line of stdout (progress goes to stderr). Build first: packages/core and packages/sqlite.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createAuthenticator, generateApiKey, keyHint, sha256Hex } from '../packages/core/dist/index.js';
import { SqliteKeyStore } from '../packages/sqlite/dist/index.js';

const DAY = 86_400_000;
const clock = () => performance.timeOrigin + performance.now(); // wall-clock ms with sub-ms precision, comparable across processes

// Child mode: a second process holding its own store on the file, revoking keys it is told of on stdin.
if (process.argv[2] === '--child') {
  const store = new SqliteKeyStore({ path: process.argv[3] });
  const lines = createInterface({ input: process.stdin });
  for await (const id of lines) {
    if (!id) continue;
    await store.revokeKey(id, Date.now());
    process.stdout.write(`${id} ${clock()}\n`);
  }
  await store.close();
  process.exit(0);
}

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const quick = process.argv.includes('--quick');
const keyCount = arg('keys', quick ? 1_000 : 5_000);
const revocations = arg('revocations', quick ? 50 : 200);
const pollIntervalMs = arg('poll-ms', 100);

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
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
const shuffle = (items) => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
};

const dir = mkdtempSync(join(tmpdir(), 'finora-bench-sqlite-'));
const path = join(dir, 'keys.db');
try {
  // Fill the file: keys spread over accounts, as a gateway's store would hold them. The store creates the tables;
  // the rows go in through one raw transaction, since thousands of separately fsynced inserts only measure the disk.
  await new SqliteKeyStore({ path }).close();
  const accounts = Math.max(1, Math.ceil(keyCount / 20));
  const keys = [];
  const now = Date.now();
  for (let i = 0; i < keyCount; i++) {
    const apiKey = generateApiKey(i % 2 ? 'live' : 'test');
    keys.push({ apiKey, id: `key_bench_${i}`, hash: await sha256Hex(apiKey), hint: keyHint(apiKey), i });
  }
  const raw = new Database(path);
  raw.transaction(() => {
    const account = raw.prepare('INSERT INTO finora_accounts (id, tier, enterprise) VALUES (?, ?, ?)');
    for (let a = 0; a < accounts; a++) account.run(`acct-${a}`, 'premium', a % 5 === 0 ? 1 : 0);
    const key = raw.prepare(
      `INSERT INTO finora_keys (id, account_id, hash, hint, environment, surface, name, created_at, expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, 'retail', NULL, ?, ?, NULL)`,
    );
    for (const k of keys) key.run(k.id, `acct-${k.i % accounts}`, k.hash, k.hint, k.i % 2 ? 'live' : 'test', now, now + 90 * DAY);
  })();
  const sqliteVersion = raw.prepare('SELECT sqlite_version()').pluck().get();
  raw.close();
  process.stderr.write(`stores-sqlite: ${keyCount} keys stored; measuring lookups\n`);

  // Cold lookups: a freshly opened store, no authenticator cache, every existing key once in random order.
  const store = new SqliteKeyStore({ path, pollIntervalMs });
  const lookupSamples = [];
  for (const { hash } of shuffle([...keys])) {
    const started = performance.now();
    const record = await store.findByHash(hash);
    lookupSamples.push(performance.now() - started);
    if (!record) throw new Error('bench: a stored key was not found');
  }

  process.stderr.write(`stores-sqlite: measuring propagation over ${revocations} revocations\n`);
  // Propagation: another process revokes keys this process has cached; time from its commit to our event.
  const authenticator = createAuthenticator({ store });
  const targets = shuffle([...keys]).slice(0, revocations);
  for (const { apiKey } of targets) {
    if (!(await authenticator.authenticate({ authorization: `Bearer ${apiKey}` })).ok) throw new Error('bench: warm-up refused');
  }
  const seenAt = new Map();
  const waiters = new Map();
  store.subscribe((event) => {
    if (event.type !== 'key-changed') return;
    seenAt.set(event.keyHash, clock());
    waiters.get(event.keyHash)?.();
  });
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', path], { stdio: ['pipe', 'pipe', 'inherit'] });
  const committedAt = new Map();
  const acks = new Map();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [id, at] = line.split(' ');
    committedAt.set(id, Number(at));
    acks.get(id)?.();
  });
  const propagationSamples = [];
  let refusedAfterEvent = 0;
  for (const target of targets) {
    // A random pause, so commits land at every phase of the poll timer rather than just after a tick.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * pollIntervalMs));
    const seen = new Promise((resolve) => waiters.set(target.hash, resolve));
    const acked = new Promise((resolve) => acks.set(target.id, resolve));
    child.stdin.write(`${target.id}\n`);
    await Promise.all([seen, acked]);
    waiters.delete(target.hash);
    acks.delete(target.id);
    propagationSamples.push(seenAt.get(target.hash) - committedAt.get(target.id));
    const answer = await authenticator.authenticate({ authorization: `Bearer ${target.apiKey}` });
    if (!answer.ok && answer.error.code === 'INVALID_API_KEY') refusedAfterEvent++;
  }
  child.stdin.end();
  await new Promise((resolve) => child.on('close', resolve));
  await authenticator.close();
  await store.close();

  const result = {
    store: 'sqlite',
    node: process.version,
    sqlite: sqliteVersion,
    keys: keyCount,
    lookup: { what: 'findByHash, fresh connection, random existing keys, no cache', ...summary(lookupSamples) },
    propagation: {
      what: 'commit in another process -> key-changed event here (the cache entry is dropped in the same call)',
      pollIntervalMs,
      ...summary(propagationSamples),
      refusedAfterEvent,
    },
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
