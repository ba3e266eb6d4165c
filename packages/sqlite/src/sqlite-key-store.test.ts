// SqliteKeyStore beyond the conformance kit: options, close, faults, and the change log between instances.

import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, generateApiKey, keyHint, sha256Hex, type StoreEvent, type StoredKey } from '@finora-auth/core';
import { SqliteKeyStore, SqliteKeyStoreError } from './index';
import { tempDir } from '../test/helpers';
import { eventually } from '@finora-auth/core/testing';

const temp = tempDir('store');
const opened: SqliteKeyStore[] = [];
const open = (options: ConstructorParameters<typeof SqliteKeyStore>[0]) => {
  const store = new SqliteKeyStore(options);
  opened.push(store);
  return store;
};
let fileCount = 0;
const freshPath = () => temp.file(`store-${++fileCount}.db`);

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
afterAll(() => temp.remove());

const DAY = 86_400_000;

async function issueOne(store: SqliteKeyStore, accountId = 'acct-1') {
  const manager = createKeyManager({ store });
  await manager.putAccount({ id: accountId, tier: 'premium' });
  return { manager, ...(await manager.issue({ accountId, environment: 'live' })) };
}

const expectCode = async (promise: Promise<unknown>, code: string) => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SqliteKeyStoreError);
  expect((error as SqliteKeyStoreError).code).toBe(code);
  return error as SqliteKeyStoreError;
};

describe('SqliteKeyStore options', () => {
  it('names the bad option', () => {
    expect(() => new SqliteKeyStore({ path: '' })).toThrow(/option path/);
    expect(() => new SqliteKeyStore(undefined as never)).toThrow(/options object with a path/);
    expect(() => new SqliteKeyStore({ path: freshPath(), pollIntervalMs: 0 })).toThrow(/pollIntervalMs/);
    expect(() => new SqliteKeyStore({ path: freshPath(), busyTimeoutMs: 1.5 })).toThrow(/busyTimeoutMs/);
    expect(() => new SqliteKeyStore({ path: freshPath(), changeRetentionMs: -1 })).toThrow(/changeRetentionMs/);
    expect(() => new SqliteKeyStore({ path: freshPath(), autoMigrate: 'yes' as never })).toThrow(/autoMigrate/);
    expect(() => new SqliteKeyStore({ path: freshPath(), now: 5 as never })).toThrow(/option now/);
  });

  it('works on a private in-memory database', async () => {
    const store = open({ path: ':memory:' });
    const events: StoreEvent[] = [];
    store.subscribe((event) => events.push(event));
    const { key } = await issueOne(store);
    expect((await store.getKey(key.id))?.id).toBe(key.id);
    expect(events).toContainEqual({ type: 'account-changed', accountId: 'acct-1' });
  });
});

describe('SqliteKeyStore close and faults', () => {
  it('closes once, then rejects every method with CLOSED', async () => {
    const store = new SqliteKeyStore({ path: freshPath() });
    const { key: info } = await issueOne(store);
    const key = (await store.getKey(info.id))!;
    store.subscribe(() => {});
    await store.close();
    await store.close();
    await expectCode(store.findByHash(key.hash), 'CLOSED');
    await expectCode(store.getAccount('acct-1'), 'CLOSED');
    await expectCode(store.putAccount({ id: 'acct-1', tier: 'free', enterprise: false }), 'CLOSED');
    await expectCode(store.getKey(key.id), 'CLOSED');
    await expectCode(store.revokeKey(key.id, 1), 'CLOSED');
    await expectCode(store.listKeys('acct-1'), 'CLOSED');
    await expectCode(store.listExpiring(0, 1), 'CLOSED');
    await expectCode(store.insertKey({ ...(await fakeKey()) }), 'CLOSED');
    expect(() => store.subscribe(() => {})).toThrow(/after close/);
  });

  it('rejects duplicates and records that do not fit with a stable code', async () => {
    const store = open({ path: freshPath() });
    const { key } = await issueOne(store);
    const stored = (await store.getKey(key.id))!;
    await expectCode(store.insertKey({ ...stored, hash: (await fakeKey()).hash }), 'DUPLICATE_KEY');
    await expectCode(store.insertKey({ ...stored, id: 'key_other' }), 'DUPLICATE_KEY');
    await expectCode(store.insertKey({ ...(await fakeKey()), hash: 'live_sk_not_a_digest' }), 'INVALID_RECORD');
    await expectCode(store.insertKey({ ...(await fakeKey()), environment: 'prod' as never }), 'INVALID_RECORD');
    await expectCode(store.putAccount({ id: 'acct-x', tier: 'gold' as never, enterprise: false }), 'INVALID_RECORD');
  });

  it('rejects an aborted lookup without reading', async () => {
    const store = open({ path: freshPath() });
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(store.findByHash('0'.repeat(64), { signal: controller.signal })).rejects.toThrow('gone');
  });

  it('serves lookups while another process holds the write lock, and turns its own lock wait into a rejection', async () => {
    const path = freshPath();
    const store = open({ path, busyTimeoutMs: 50 });
    const { apiKey, key } = await issueOne(store);
    const authenticator = createAuthenticator({ store, cache: false });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      expect((await authenticator.authenticate({ authorization: `Bearer ${apiKey}` })).ok).toBe(true);
      const error = await expectCode(store.revokeKey(key.id, Date.now()), 'STORE_FAILED');
      expect(error.message).toMatch(/revokeKey failed \(SQLITE_BUSY/);
      expect(error.message).not.toContain(apiKey);
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await authenticator.close();
    }
    expect((await store.revokeKey(key.id, 5))?.revokedAt).toBe(5);
  });

  it('tells subscribers the change log is down (reset, not live) when it cannot be read, and live again when it can', async () => {
    const path = freshPath();
    const errors: Error[] = [];
    const store = open({ path, pollIntervalMs: 10, onError: (error) => errors.push(error) });
    const events: StoreEvent[] = [];
    store.subscribe((event) => events.push(event));
    const vandal = new Database(path);
    try {
      vandal.exec('ALTER TABLE finora_changes RENAME TO finora_changes_gone');
      await eventually(() => events.some((e) => e.type === 'reset' && !e.live), 2_000);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(SqliteKeyStoreError);
      // A subscriber arriving now is told at once.
      const late: StoreEvent[] = [];
      store.subscribe((event) => late.push(event));
      expect(late).toEqual([{ type: 'reset', live: false }]);
      vandal.exec('ALTER TABLE finora_changes_gone RENAME TO finora_changes');
      await eventually(() => events.at(-1)?.type === 'reset' && (events.at(-1) as { live: boolean }).live, 2_000);
      expect(late.at(-1)).toEqual({ type: 'reset', live: true });
    } finally {
      vandal.close();
    }
  });
});

describe('SqliteKeyStore change log between instances', () => {
  it('carries every kind of change to another connection, and tells the writer only once of its own', async () => {
    const path = freshPath();
    const writer = open({ path, pollIntervalMs: 10 });
    const reader = open({ path, pollIntervalMs: 10 });
    const written: StoreEvent[] = [];
    const read: StoreEvent[] = [];
    writer.subscribe((event) => written.push(event));
    reader.subscribe((event) => read.push(event));
    const { manager, key: info } = await issueOne(writer, 'acct-log');
    await manager.revoke(info.id);
    const key = (await writer.getKey(info.id))!;
    const expected: StoreEvent[] = [
      { type: 'account-changed', accountId: 'acct-log' },
      { type: 'key-changed', keyHash: key.hash },
      { type: 'key-changed', keyHash: key.hash },
    ];
    expect(written).toEqual(expected);
    await eventually(() => read.length >= 3, 2_000);
    expect(read).toEqual(expected);
    // The reader's own write comes back to it once (in-process), while the writer hears of it through the log.
    await reader.putAccount({ id: 'acct-log', tier: 'free', enterprise: false });
    await eventually(() => written.length === 4, 2_000);
    // A later change in the log: once the reader has it, a second copy of its own write would have come first.
    await writer.putAccount({ id: 'acct-after', tier: 'free', enterprise: false });
    await eventually(() => read.some((e) => e.type === 'account-changed' && e.accountId === 'acct-after'), 2_000);
    expect(read.slice(3)).toEqual([
      { type: 'account-changed', accountId: 'acct-log' },
      { type: 'account-changed', accountId: 'acct-after' },
    ]);
    expect(written.slice(3, 4)).toEqual([{ type: 'account-changed', accountId: 'acct-log' }]);
  });

  it('sends a live reset to a subscriber whose unread changes were pruned', async () => {
    const path = freshPath();
    let clock = 1_000_000;
    const writer = open({ path, now: () => clock, changeRetentionMs: 1_000 });
    const reader = open({ path, pollIntervalMs: 10 });
    const events: StoreEvent[] = [];
    reader.subscribe((event) => events.push(event));
    // Both writes land before the reader's timer can run: the second prunes the first.
    await writer.putAccount({ id: 'acct-prune', tier: 'premium', enterprise: false });
    clock += 5_000;
    await writer.putAccount({ id: 'acct-prune', tier: 'free', enterprise: false });
    await eventually(() => events.length > 0, 2_000);
    expect(events).toEqual([{ type: 'reset', live: true }]);
    // After the reset it follows the log again.
    await writer.putAccount({ id: 'acct-prune', tier: 'premium', enterprise: false });
    await eventually(() => events.length > 1, 2_000);
    expect(events[1]).toEqual({ type: 'account-changed', accountId: 'acct-prune' });
    const raw = new Database(path, { readonly: true });
    // The first row went with the prune; the two written at the later time stay.
    expect(raw.prepare('SELECT count(*) FROM finora_changes').pluck().get()).toBe(2);
    raw.close();
  });

  it('sends one live reset instead of a flood of events after a bulk change', async () => {
    const path = freshPath();
    const reader = open({ path, pollIntervalMs: 10 });
    const events: StoreEvent[] = [];
    reader.subscribe((event) => events.push(event));
    // Another writer's bulk import: 1,100 accounts and their change rows in one transaction (one fsync, not 1,100).
    const bulk = new Database(path);
    bulk.transaction(() => {
      const account = bulk.prepare("INSERT INTO finora_accounts (id, tier, enterprise) VALUES (?, 'premium', 0)");
      const change = bulk.prepare("INSERT INTO finora_changes (kind, subject, at) VALUES ('account', ?, ?)");
      for (let i = 0; i < 1_100; i++) {
        account.run(`acct-bulk-${i}`);
        change.run(`acct-bulk-${i}`, Date.now());
      }
    })();
    bulk.close();
    await eventually(() => events.length > 0, 2_000);
    // A change after the bulk: once it is heard, any event for the bulk's rows would have come before it.
    const after = new Database(path);
    after.prepare("INSERT INTO finora_changes (kind, subject, at) VALUES ('account', 'acct-after-bulk', ?)").run(Date.now());
    after.close();
    await eventually(() => events.length > 1, 2_000);
    expect(events).toEqual([{ type: 'reset', live: true }, { type: 'account-changed', accountId: 'acct-after-bulk' }]);
  });

  it('polls only while someone listens', async () => {
    const path = freshPath();
    const writer = open({ path });
    const reader = open({ path, pollIntervalMs: 10 });
    const events: StoreEvent[] = [];
    const stop = reader.subscribe((event) => events.push(event));
    stop();
    await writer.putAccount({ id: 'acct-quiet', tier: 'premium', enterprise: false });
    // A new subscriber starts from now, not from what happened while no one listened; and the stopped listener
    // (the same array) hears neither write.
    reader.subscribe((event) => events.push(event));
    await writer.putAccount({ id: 'acct-loud', tier: 'premium', enterprise: false });
    await eventually(() => events.length > 0, 2_000);
    expect(events).toEqual([{ type: 'account-changed', accountId: 'acct-loud' }]);
  });

  it('lists and looks up across instances, oldest first and soonest first', async () => {
    const path = freshPath();
    const a = open({ path });
    const b = open({ path });
    const base = 1_900_000_000_000;
    let clock = base;
    const manager = createKeyManager({ store: a, now: () => clock });
    await manager.putAccount({ id: 'acct-order', tier: 'premium' });
    const first = await manager.issue({ accountId: 'acct-order', environment: 'live' });
    const second = await manager.issue({ accountId: 'acct-order', environment: 'live' }); // same millisecond
    clock += DAY;
    const third = await manager.issue({ accountId: 'acct-order', environment: 'test' });
    expect((await b.listKeys('acct-order')).map((k) => k.id)).toEqual([first.key.id, second.key.id, third.key.id]);
    expect((await b.listExpiring(base, base + 91 * DAY)).map((k) => k.id)).toEqual([first.key.id, second.key.id, third.key.id]);
    expect((await b.listExpiring(base + 90 * DAY, base + 91 * DAY)).map((k) => k.id)).toEqual([third.key.id]);
    const stored = (await b.getKey(third.key.id))!;
    expect(await b.findByHash(stored.hash)).toEqual({ key: stored, account: { id: 'acct-order', tier: 'premium', enterprise: false } });
  });
});

async function fakeKey(): Promise<StoredKey> {
  const apiKey = generateApiKey('test');
  return {
    id: `key_${Math.random().toString(16).slice(2)}`, accountId: 'acct-1', hash: await sha256Hex(apiKey), hint: keyHint(apiKey),
    environment: 'test', surface: 'retail', createdAt: 1, expiresAt: 2,
  };
}
