// Credits and rate limits across a fleet: 4 processes (bench/credits-worker.mjs) on one PostgreSQL or Redis store.
//
//   exactness   a grant spent to the last credit by 4 processes at once: allowed - grant (the overshoot below zero),
//               what a graceful close gives back, and the fleet's allowed requests per second
//   crash       4 processes SIGKILL-ed mid-load: credits lost with their leases (taken, never served), against the
//               bound of one lease (at most 500 credits) per process
//   refill      a daily refill taken by 4 processes whose clocks disagree by up to 3 minutes, then again across
//               midnight with 2 of them still on the day before: each period refills once, so each allows exactly
//               the refill amount
//   rate limit  4 processes over one key's limit: the allowed count of each fixed window as the store counted it,
//               against the limit (the overshoot bound is about N x rate x sync interval; see docs/credits.md)
//
// Stores: $FINORA_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) and $FINORA_BENCH_REDIS_URL
// (default redis://127.0.0.1:6379); a store that cannot be reached is reported as not measured.

import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDir, emit, loadCore, log, machine, parseArgs, rootDir, round, sized } from './lib.mjs';

const args = parseArgs();
const PROCESSES = 4;
const GRANT = sized(args, 40_000, 8_000, 1_000);
const REFILL = sized(args, 5_000, 2_000, 300);
const RATE = { requests: sized(args, 2_000, 1_000, 200), perSeconds: 2 };
const RATE_RUN_MS = sized(args, 8_000, 4_500, 2_200);
const CRASH_RUN_MS = sized(args, 1_500, 800, 400);
const MAX_LEASE = 500;

const POSTGRES_URL = process.env.FINORA_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.FINORA_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const dist = (pkg) => import(pathToFileURL(join(rootDir, 'packages', pkg, 'dist', 'index.js')).href);
const core = await loadCore();

function startWorker(url, namespace) {
  const child = fork(join(benchDir, 'credits-worker.mjs'), [url, namespace], { cwd: rootDir, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map();
  child.on('message', (message) => {
    if (message.type === 'error') log(`credits-fleet: worker error: ${message.message}`);
    waiting.get(message.type)?.(message);
  });
  const next = (type) => new Promise((resolve) => waiting.set(type, resolve));
  const ready = next('ready');
  return ready.then(() => ({
    child,
    ask(message, reply) {
      const answer = next(reply);
      child.send(message);
      return answer;
    },
    close() {
      return this.ask({ type: 'close' }, 'closed');
    },
    kill() {
      return new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
    },
  }));
}

const fleet = (url, namespace) => Promise.all(Array.from({ length: PROCESSES }, () => startWorker(url, namespace)));
const allowedOf = (runs) => runs.reduce((sum, run) => sum + (run.counts['200'] ?? 0), 0);
const countOf = (runs, status) => runs.reduce((sum, run) => sum + (run.counts[status] ?? 0), 0);

async function measure({ name, url, namespace, open, drop }) {
  const ns = namespace();
  let store;
  try {
    store = open(ns);
    const manager = core.createKeyManager({ store });
    await manager.putAccount({ id: 'probe', tier: 'premium' });
  } catch (error) {
    await store?.close().catch(() => {});
    log(`credits-fleet: ${name} not reachable (${error.message.split('\n')[0]}); not measured`);
    return { store: name, measured: false, reason: `${name} not reachable` };
  }
  const manager = core.createKeyManager({ store });
  const result = { store: name, measured: true, processes: PROCESSES };
  try {
    // Exactness: spend a grant to the last credit.
    {
      await manager.putAccount({ id: 'exact', tier: 'premium' });
      const { apiKey } = await manager.issue({ accountId: 'exact', environment: 'live' });
      await manager.grantCredits('exact', GRANT);
      const workers = await fleet(url, ns);
      const started = Date.now();
      const runs = await Promise.all(workers.map((w) => w.ask({ type: 'run', apiKey, concurrency: 8, stopAfterRefusedMs: 300 }, 'ran')));
      const seconds = (Date.now() - started) / 1000 - 0.3;
      const allowed = allowedOf(runs);
      const balanceBeforeClose = (await manager.credits('exact')).balance;
      await Promise.all(workers.map((w) => w.close()));
      result.exactness = {
        grant: GRANT,
        allowed,
        overshoot: allowed - GRANT,
        unavailable503: countOf(runs, '503'),
        balanceBeforeClose,
        balanceAfterClose: (await manager.credits('exact')).balance,
        allowedPerSecond: Math.round(allowed / seconds),
      };
      log(`credits-fleet: ${name} exactness ${JSON.stringify(result.exactness)}`);
    }
    // Crash: SIGKILL mid-load; what the leases held is lost (taken from the balance, never served).
    {
      await manager.putAccount({ id: 'crash', tier: 'premium' });
      const { apiKey } = await manager.issue({ accountId: 'crash', environment: 'live' });
      const grant = 10_000_000;
      await manager.grantCredits('crash', grant);
      const workers = await fleet(url, ns);
      // The workers count what they allowed and report it; then they are killed before they can give anything back.
      const runs = await Promise.all(workers.map((w) => w.ask({ type: 'run', apiKey, concurrency: 8, durationMs: CRASH_RUN_MS }, 'ran')));
      await Promise.all(workers.map((w) => w.kill()));
      const allowed = allowedOf(runs);
      const balance = (await manager.credits('crash')).balance;
      const lost = grant - allowed - balance;
      result.crash = { allowed, lost, boundPerProcess: MAX_LEASE, bound: PROCESSES * MAX_LEASE, withinBound: lost >= 0 && lost <= PROCESSES * MAX_LEASE };
      log(`credits-fleet: ${name} crash ${JSON.stringify(result.crash)}`);
    }
    // Refill: once per period, whatever the processes' clocks say.
    {
      const noon = Date.UTC(2031, 4, 14, 12);
      await manager.putAccount({ id: 'refill', tier: 'premium' });
      // Issued the day before, so the key is valid on the workers' clocks.
      const { apiKey } = await core.createKeyManager({ store, now: () => noon - 86_400_000 }).issue({ accountId: 'refill', environment: 'live' });
      await manager.grantCredits('refill', 1);
      await manager.setCreditRefill('refill', { amount: REFILL, period: 'day' });
      const workers = await fleet(url, ns);
      const skews = [-90_000, -30_000, 30_000, 90_000];
      const phase = async (base) => {
        await Promise.all(workers.map((w, i) => w.ask({ type: 'clock', fixedNow: base + skews[i] }, 'clock-set')));
        return allowedOf(await Promise.all(workers.map((w) => w.ask({ type: 'run', apiKey, concurrency: 8, stopAfterRefusedMs: 300 }, 'ran'))));
      };
      const sameDay = await phase(noon);
      // 60 s after midnight: the two slow clocks are still on the day before, which was refilled already.
      const acrossMidnight = await phase(Date.UTC(2031, 4, 15, 0, 0, 60));
      await Promise.all(workers.map((w) => w.close()));
      result.refill = {
        amount: REFILL,
        clockSkewMs: 180_000,
        sameDayAllowed: sameDay,
        acrossMidnightAllowed: acrossMidnight,
        exact: sameDay === REFILL && acrossMidnight === REFILL,
      };
      log(`credits-fleet: ${name} refill ${JSON.stringify(result.refill)}`);
    }
    // Rate limit: fixed-window counts as the store has them, after every process pushed its last counts.
    {
      await manager.putAccount({ id: 'limited', tier: 'premium' });
      const { apiKey, key } = await manager.issue({ accountId: 'limited', environment: 'live', rateLimit: RATE });
      const workers = await fleet(url, ns);
      const windowMs = RATE.perSeconds * 1000;
      const started = Date.now();
      const runs = await Promise.all(workers.map((w) => w.ask({ type: 'run', apiKey, concurrency: 4, durationMs: RATE_RUN_MS }, 'ran')));
      const ended = Date.now();
      await Promise.all(workers.map((w) => w.close()));
      const windows = [];
      for (let start = Math.floor(started / windowMs) * windowMs; start < ended; start += windowMs) {
        windows.push(await store.incrementRateWindow(key.id, start, 0, 60_000));
      }
      // The first and last windows are partly outside the run; the full ones in between show the steady state.
      const full = windows.slice(1, -1);
      const overshoots = full.map((count) => count - RATE.requests);
      const refused = countOf(runs, '429');
      const offered = allowedOf(runs) + refused;
      result.rateLimit = {
        limit: RATE,
        syncMs: 50,
        offeredPerSecond: Math.round(offered / ((ended - started) / 1000)),
        windowCounts: windows,
        maxOvershoot: Math.max(...overshoots),
        maxOvershootShare: round(Math.max(...overshoots) / RATE.requests, 3),
        // What the fleet is offered in one sync interval: the most it can allow before any process hears of the others.
        boundEstimate: Math.round((offered / ((ended - started) / 1000)) * 0.05),
      };
      log(`credits-fleet: ${name} rate limit ${JSON.stringify(result.rateLimit)}`);
    }
  } finally {
    await store.close();
    await drop(ns).catch(() => {});
  }
  return result;
}

const STORES = [
  {
    name: 'PostgreSQL',
    url: POSTGRES_URL,
    namespace: () => `finora_bench_fleet_${randomBytes(4).toString('hex')}`,
    open: (schema) => new PostgresKeyStore({ connectionString: POSTGRES_URL, schema }),
    async drop(schema) {
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  },
  {
    name: 'Redis',
    url: REDIS_URL,
    namespace: () => `{bench-fleet-${randomBytes(4).toString('hex')}}:`,
    open: (prefix) => new RedisKeyStore({ url: REDIS_URL, prefix }),
    async drop(prefix) {
      const { Redis } = await import('ioredis');
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  },
];

const { PostgresKeyStore } = await dist('postgres');
const { RedisKeyStore } = await dist('redis');
const stores = [];
for (const store of STORES) stores.push(await measure(store));
emit({ machine: machine(), processes: PROCESSES, stores });
