// Pruning the change log on a write removes exactly the rows past the retention. (That a write's cost stays flat as
// the log grows is timed where timing belongs, in the benchmark: `node bench/scale.mjs`, growth ratios per store.)

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

describe('SqliteKeyStore write cost', () => {
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
