// Every store a cross-cutting suite runs on (memory, SQLite, Redis, PostgreSQL), opened fresh, readable at rest, cleaned up.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { MemoryKeyStore, type KeyStore } from '@finora-auth/core';
import { PostgresKeyStore } from '@finora-auth/postgres';
import { RedisKeyStore } from '@finora-auth/redis';
import { SqliteKeyStore } from '@finora-auth/sqlite';
import { randomTag } from './fuzz-world';

export const REDIS_URL = process.env.FINORA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.FINORA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface OpenedStore {
  name: 'memory' | 'sqlite' | 'redis' | 'postgres';
  store: KeyStore;
  /** Everything the store holds, as text: what someone who stole the database would read. */
  atRest(): Promise<string>;
  /** Closes the store and removes what it created (file, keys, schema). */
  dispose(): Promise<void>;
}

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The names of the stores this machine can run. Under CI=true a missing Redis or PostgreSQL is an error;
 * elsewhere it is left out, with the reason printed.
 */
export async function availableStores(suite: string): Promise<Array<OpenedStore['name']>> {
  const names: Array<OpenedStore['name']> = ['memory', 'sqlite'];
  for (const [name, url] of [['redis', REDIS_URL], ['postgres', POSTGRES_URL]] as const) {
    if (await reachable(url)) names.push(name);
    else if (process.env.CI === 'true') throw new Error(`${suite}: ${name} at ${url} is required under CI=true but does not answer`);
    else console.warn(`[${suite}] ${name} does not answer at ${url}: its cases are left out (CI=true makes this a failure)`);
  }
  return names;
}

export async function openStore(name: OpenedStore['name']): Promise<OpenedStore> {
  const tag = randomTag();
  switch (name) {
    case 'memory': {
      const store = new MemoryKeyStore();
      return { name, store, atRest: async () => JSON.stringify(store.dump()), dispose: () => store.close() };
    }
    case 'sqlite': {
      const dir = mkdtempSync(join(tmpdir(), 'finora-secrets-'));
      const store = new SqliteKeyStore({ path: join(dir, 'keys.db') });
      return {
        name,
        store,
        // The database file and its journal/WAL, byte for byte.
        atRest: async () => readdirSync(dir).map((file) => readFileSync(join(dir, file)).toString('latin1')).join('\n'),
        async dispose() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    case 'redis': {
      const prefix = `{finora-secrets-${tag}}:`;
      const store = new RedisKeyStore({ url: REDIS_URL, prefix });
      const dumpAll = async () => {
        const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
        try {
          await redis.connect();
          const keys = await redis.keys(`${prefix}*`);
          const parts: string[] = [];
          for (const key of keys) {
            parts.push(key);
            const dump = await redis.dumpBuffer(key);
            if (dump) parts.push(dump.toString('latin1'));
          }
          return { redis, keys, text: parts.join('\n') };
        } catch (error) {
          redis.disconnect();
          throw error;
        }
      };
      return {
        name,
        store,
        async atRest() {
          const { redis, text } = await dumpAll();
          redis.disconnect();
          return text;
        },
        async dispose() {
          await store.close();
          const { redis, keys } = await dumpAll();
          if (keys.length > 0) await redis.del(...keys);
          redis.disconnect();
        },
      };
    }
    case 'postgres': {
      const schema = `finora_secrets_${tag}`;
      const store = new PostgresKeyStore({ connectionString: POSTGRES_URL, schema });
      const query = async <T>(run: (client: pg.Client) => Promise<T>): Promise<T> => {
        const client = new pg.Client({ connectionString: POSTGRES_URL });
        await client.connect();
        try {
          return await run(client);
        } finally {
          await client.end();
        }
      };
      return {
        name,
        store,
        atRest: () =>
          query(async (client) => {
            const tables = await client.query<{ table_name: string }>(
              'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
              [schema],
            );
            const parts: string[] = [];
            for (const { table_name } of tables.rows) {
              const rows = await client.query(`SELECT row_to_json(t)::text AS row FROM "${schema}"."${table_name}" t`);
              parts.push(table_name, ...rows.rows.map((r: { row: string }) => r.row));
            }
            return parts.join('\n');
          }),
        async dispose() {
          await store.close();
          await query((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
        },
      };
    }
  }
}
