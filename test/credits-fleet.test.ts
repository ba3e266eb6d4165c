// A grant of 10,000 credits spent by 4 processes at once on one store, PostgreSQL and Redis: every allowed request
// counted, exactly 10,000 allowed, none over; after a graceful close the store holds every credit not spent.
// The processes are bench/credits-worker.mjs (what bench/credits-fleet.mjs measures) on the built packages.

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyManager, type KeyStore } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { RedisKeyStore } from '@finora-auth/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const POSTGRES_URL = process.env.FINORA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.FINORA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PROCESSES = 4;
const GRANT = 10_000;

const children = new Set<ChildProcess>();

beforeAll(() => {
  execFileSync(
    'flock',
    [join(tmpdir(), 'finora-auth-gateway-build.lock'), process.execPath, join(root, 'packages', 'gateway', 'test', 'build-stale.mjs'), 'core', 'redis', 'postgres'],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 240_000 },
  );
}, 300_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

interface Worker {
  ask<T = Record<string, unknown>>(message: Record<string, unknown>, reply: string): Promise<T>;
}

function startWorker(url: string, namespace: string): Promise<Worker> {
  const child = fork(join(root, 'bench', 'credits-worker.mjs'), [url, namespace], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const waiting = new Map<string, (message: Record<string, unknown>) => void>();
  child.on('message', (message: Record<string, unknown>) => {
    if (message.type === 'error') throw new Error(`worker: ${String(message.message)}`);
    waiting.get(String(message.type))?.(message);
  });
  const next = (type: string) => new Promise<Record<string, unknown>>((resolve) => waiting.set(type, resolve));
  const worker: Worker = {
    async ask(message, reply) {
      const answer = next(reply);
      child.send(message);
      return (await answer) as never;
    },
  };
  return next('ready').then(() => worker);
}

interface FleetStore {
  name: string;
  url: string;
  namespace: () => string;
  open(namespace: string): KeyStore;
  /** Drops what a test made under `namespace`. */
  drop(namespace: string): Promise<void>;
}

const STORES: FleetStore[] = [
  {
    name: 'PostgreSQL',
    url: POSTGRES_URL,
    namespace: () => `finora_test_fleet_${randomBytes(4).toString('hex')}`,
    open: (schema) => new PostgresKeyStore({ connectionString: POSTGRES_URL, schema }),
    async drop(schema) {
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
    namespace: () => `{fleet-${randomBytes(4).toString('hex')}}:`,
    open: (prefix) => new RedisKeyStore({ url: REDIS_URL, prefix }),
    async drop(prefix) {
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

describe.each(STORES)('a grant spent by $name processes', ({ url, namespace, open, drop }) => {
  it(`allows exactly ${GRANT} requests from ${PROCESSES} processes, and a graceful close loses no credit`, async () => {
    const ns = namespace();
    const store = open(ns);
    try {
      const manager = createKeyManager({ store });
      await manager.putAccount({ id: 'fleet', tier: 'premium' });
      const { apiKey } = await manager.issue({ accountId: 'fleet', environment: 'live' });
      // A second key on the same account: the leases are per account, so both spend one balance.
      const other = await manager.issue({ accountId: 'fleet', environment: 'live' });
      await manager.grantCredits('fleet', GRANT);
      const workers = await Promise.all(Array.from({ length: PROCESSES }, () => startWorker(url, ns)));
      const ran = await Promise.all(
        workers.map((worker, i) =>
          worker.ask<{ counts: Record<string, number> }>(
            { type: 'run', apiKey: i % 2 ? other.apiKey : apiKey, concurrency: 8, stopAfterRefusedMs: 300 },
            'ran',
          ),
        ),
      );
      const allowed = ran.reduce((sum, r) => sum + (r.counts['200'] ?? 0), 0);
      const other5xx = ran.reduce((sum, r) => sum + (r.counts['503'] ?? 0), 0);
      expect(other5xx).toBe(0);
      for (const r of ran) expect(r.counts['402']).toBeGreaterThan(0);
      expect(allowed).toBe(GRANT);
      expect((await manager.credits('fleet')).balance).toBe(0);
      await Promise.all(workers.map((worker) => worker.ask({ type: 'close' }, 'closed')));
      expect((await manager.credits('fleet')).balance).toBe(0);
      // Every allowed request was counted, and every credit spent is in the usage rows.
      const usage = await manager.usage('fleet');
      expect(usage.reduce((sum, row) => sum + row.allowed, 0)).toBe(GRANT);
      expect(usage.reduce((sum, row) => sum + row.creditsSpent, 0)).toBe(GRANT);
    } finally {
      await store.close();
      await drop(ns);
    }
  }, 120_000);

  it('gives back what the processes hold when they stop early: spent + balance = grant', async () => {
    const ns = namespace();
    const store = open(ns);
    try {
      const manager = createKeyManager({ store });
      await manager.putAccount({ id: 'early', tier: 'premium' });
      const { apiKey } = await manager.issue({ accountId: 'early', environment: 'live' });
      await manager.grantCredits('early', 1_000_000);
      const workers = await Promise.all(Array.from({ length: PROCESSES }, () => startWorker(url, ns)));
      const ran = await Promise.all(
        workers.map((worker) => worker.ask<{ counts: Record<string, number> }>({ type: 'run', apiKey, concurrency: 8, durationMs: 1_000 }, 'ran')),
      );
      const allowed = ran.reduce((sum, r) => sum + (r.counts['200'] ?? 0), 0);
      expect(allowed).toBeGreaterThan(0);
      const held = 1_000_000 - allowed - ((await manager.credits('early')).balance ?? 0);
      expect(held).toBeGreaterThanOrEqual(0); // what the leases hold now, at most a few hundred per process
      await Promise.all(workers.map((worker) => worker.ask({ type: 'close' }, 'closed')));
      expect((await manager.credits('early')).balance).toBe(1_000_000 - allowed);
    } finally {
      await store.close();
      await drop(ns);
    }
  }, 120_000);
});
