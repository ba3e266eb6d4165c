// HttpKeyStore against the shared KeyStore conformance suite (read side), through a real internal API over real stores.

import { MemoryKeyStore } from '@finora-auth/core';
import { describeKeyStoreConformance } from '@finora-auth/core/testing';
import { SqliteKeyStore } from '@finora-auth/sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { HttpKeyStore } from '../src/index';
import { internalGateway } from './support';

// Writes go to the store the gateway serves from (in process): a change reaches each HttpKeyStore over the event
// stream. The bound is the one HttpKeyStore states: its heartbeat timeout, 1 s.
describeKeyStoreConformance('HttpKeyStore over a gateway on MemoryKeyStore', async () => {
  const store = new MemoryKeyStore();
  const gateway = await internalGateway(store);
  return {
    open: () => new HttpKeyStore({ url: gateway.url, token: gateway.token }),
    writer: store,
    raw: async () => JSON.stringify(store.dump()),
    propagationMs: 1_000,
    cleanup: () => gateway.kill(),
  };
});

// Writes go through another connection to the database, as `finora-auth keys revoke` makes them: the gateway's
// SqliteKeyStore hears them within its own bound (1 s), then the stream carries them on.
describeKeyStoreConformance('HttpKeyStore over a gateway on SqliteKeyStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finora-http-conformance-'));
  const path = join(dir, 'keys.db');
  const writer = new SqliteKeyStore({ path });
  const served = new SqliteKeyStore({ path });
  const gateway = await internalGateway(served);
  return {
    open: () => new HttpKeyStore({ url: gateway.url, token: gateway.token }),
    writer,
    raw: async () => {
      const db = new Database(path, { readonly: true });
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
        return tables.map((table) => JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all())).join('\n');
      } finally {
        db.close();
      }
    },
    propagationMs: 1_250, // SqliteKeyStore's 1 s, and the stream's milliseconds
    cleanup: async () => {
      await gateway.kill();
      await served.close();
      await writer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
