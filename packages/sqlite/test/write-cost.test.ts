// A write's cost does not grow with the change log: pruning reads only the rows due, never the whole log.

import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoredKey } from '@finora-auth/core';
import { SqliteKeyStore } from '../src/index';
import { tempDir } from './helpers';

const temp = tempDir('write-cost');
afterAll(() => temp.remove());

/** Adds `count` change-log rows younger than the retention, as a burst of writes by other processes would. */
function fillChangeLog(path: string, count: number, at: number): void {
  const db = new Database(path);
  try {
    const insert = db.prepare("INSERT INTO finora_changes (kind, subject, at) VALUES ('account', ?, ?)");
    db.transaction(() => {
      for (let i = 0; i < count; i++) insert.run(`filler-${i}`, at);
    })();
  } finally {
    db.close();
  }
}

let serial = 0;
function key(now: number): StoredKey {
  serial += 1;
  return {
    id: `key_${serial}`,
    accountId: 'acct',
    hash: serial.toString(16).padStart(64, '0'),
    hint: 'live_sk_…0000',
    environment: 'live',
    surface: 'retail',
    createdAt: now,
    expiresAt: now + 86_400_000,
  };
}

const median = (times: number[]): number => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;

/** A store on a new file whose change log already holds `logRows` recent rows. */
async function storeWithLog(logRows: number, now: number): Promise<SqliteKeyStore> {
  const path = temp.file(`log-${logRows}.db`);
  const store = new SqliteKeyStore({ path, now: () => now });
  await store.putAccount({ id: 'acct', tier: 'premium', enterprise: false });
  fillChangeLog(path, logRows, now);
  return store;
}

async function timedInsert(store: SqliteKeyStore, now: number): Promise<number> {
  const start = performance.now();
  await store.insertKey(key(now));
  return performance.now() - start;
}

describe('SqliteKeyStore write cost', () => {
  it('stays flat as the change log grows 256x', async () => {
    const now = 1_700_000_000_000;
    const stores = [await storeWithLog(2_000, now), await storeWithLog(512_000, now)] as const;
    const times: [number[], number[]] = [[], []];
    // Interleaved, so a busy moment on the machine lands on both sizes alike.
    for (let i = 0; i < 80; i++) {
      times[0].push(await timedInsert(stores[0], now));
      times[1].push(await timedInsert(stores[1], now));
    }
    await Promise.all(stores.map((store) => store.close()));
    const [small, large] = [median(times[0]), median(times[1])];
    // Each write also syncs the file (about 1 ms here), which a flat write is mostly made of; the old prune query,
    // a scan of the log per write, made the large log's writes about 10x the small one's (measured).
    expect(large / small).toBeLessThan(2.5);
  }, 60_000);

  it('still prunes rows older than the retention on the next write', async () => {
    let now = 1_700_000_000_000;
    const path = temp.file('prune.db');
    const store = new SqliteKeyStore({ path, now: () => now, changeRetentionMs: 1_000 });
    await store.putAccount({ id: 'acct', tier: 'premium', enterprise: false });
    fillChangeLog(path, 500, now);
    now += 1_001;
    await store.insertKey(key(now));
    await store.close();
    const db = new Database(path, { readonly: true });
    const left = db.prepare('SELECT count(*) FROM finora_changes').pluck().get();
    db.close();
    expect(left).toBe(1);
  });
});
