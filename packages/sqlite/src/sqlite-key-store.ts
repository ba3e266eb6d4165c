// SqliteKeyStore: the KeyStore on one SQLite file, shared by every process on the machine through a change log.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  StoreEvents,
  type Account,
  type AccountPatch,
  type CreditRefill,
  type CreditState,
  type KeyRecord,
  type KeyStore,
  type ServiceAccountRecord,
  type ServiceAccountSecret,
  type StoreEvent,
  type StoreListener,
  type StoredKey,
  type StoredServiceAccount,
  type StoredSigningKey,
  type UsageIncrement,
  type UsageRow,
} from '@finora-auth/core';
import { SqliteKeyStoreError, sqliteCode, storeFailure } from './errors';
import { resolveOptions, type ResolvedSqliteKeyStoreOptions, type SqliteKeyStoreOptions } from './options';
import {
  prepareMeteringStatements,
  refillPeriod,
  toCreditState,
  toUsageRow,
  toUsageRows,
  type MeteringStatements,
} from './metering-statements';
import { assertSchema, migrate } from './schema';
import {
  prepareStatements,
  toAccount,
  toKeyRecord,
  toKeyRow,
  toSecretRow,
  toServiceAccountRecord,
  toServiceAccountRow,
  toSigningKeyRow,
  toStoredKey,
  toStoredServiceAccount,
  toStoredSigningKey,
  type ChangeKind,
  type ChangeRow,
  type Statements,
} from './statements';

/** More unread changes than this in one look, and subscribers get one `reset` instead of each event. */
const MAX_CHANGES_PER_READ = 1_000;
const HASH = /^[0-9a-f]{64}$/;
/** Expired rate windows are deleted on every this-many increments by this store (a cheap indexed DELETE). */
const PRUNE_RATE_WINDOWS_EVERY = 500;

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

type Change = { kind: ChangeKind; subject: string };
type ChangeEvent = Extract<StoreEvent, { type: 'key-changed' | 'account-changed' | 'service-account-changed' }>;

function toEvent({ kind, subject }: Change): ChangeEvent {
  if (kind === 'key') return { type: 'key-changed', keyHash: subject };
  if (kind === 'service-account') return { type: 'service-account-changed', clientId: subject };
  return { type: 'account-changed', accountId: subject };
}

/**
 * Opens (creating it and its directory when missing) a database file in WAL mode, so lookups never wait on a
 * writer in another process, with `synchronous = FULL` so a revocation reported done survives a power cut.
 */
export function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  const memory = path === ':memory:';
  let db: Database.Database | undefined;
  try {
    if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true });
    db = new Database(path, { timeout: busyTimeoutMs });
    if (!memory) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    return db;
  } catch (error) {
    db?.close();
    const detail = error instanceof Error ? error.message : String(error);
    throw new SqliteKeyStoreError('OPEN_FAILED', `finora-auth: cannot open the SQLite key store at ${path}: ${detail}`, {
      cause: error,
    });
  }
}

export class SqliteKeyStore implements KeyStore {
  readonly #config: ResolvedSqliteKeyStoreOptions;
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #metering: MeteringStatements;
  readonly #addUsage: (rows: ReturnType<typeof toUsageRows>) => void;
  #rateIncrements = 0;
  readonly #events = new StoreEvents();
  /** False for `:memory:`: no other connection can change it, so there is nothing to poll. */
  readonly #shared: boolean;
  readonly #writeTransaction: (body: () => { result: unknown; change?: Change }) => {
    result: unknown;
    change?: Change;
    changeId?: number;
  };
  readonly #readChanges: (cursor: number) => { prunedThrough: number; rows: ChangeRow[]; last: number };
  #closed = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The id of the last change-log row this store has accounted for. */
  #cursor = 0;
  #dataVersion = -1;
  /** False after a failed look at the change log, until one succeeds: subscribers then trust no cached answer. */
  #live = true;

  constructor(options: SqliteKeyStoreOptions) {
    const config = resolveOptions(options);
    this.#config = config;
    this.#shared = config.path !== ':memory:';
    const db = openDatabase(config.path, config.busyTimeoutMs);
    this.#db = db;
    try {
      if (config.autoMigrate) migrate(db, config.path);
      else assertSchema(db, config.path);
      this.#sql = prepareStatements(db);
      this.#metering = prepareMeteringStatements(db);
    } catch (error) {
      db.close();
      if (error instanceof SqliteKeyStoreError) throw error;
      const detail = error instanceof Error ? error.message : String(error);
      throw new SqliteKeyStoreError('OPEN_FAILED', `finora-auth: cannot set up the SQLite key store at ${config.path}: ${detail}`, {
        cause: error,
      });
    }
    const sql = this.#sql;

    // The change row is written in the same transaction as the change, so no process can see one without the other.
    const write = db.transaction((body: () => { result: unknown; change?: Change }) => {
      const outcome = body();
      if (!outcome.change) return outcome;
      const at = config.now();
      const changeId = Number(sql.insertChange.run(outcome.change.kind, outcome.change.subject, at).lastInsertRowid);
      // Pruning rides on a write that already holds the lock; a reader behind the prune point is sent a reset.
      const through = sql.prunableThrough.get(at - config.changeRetentionMs);
      if (typeof through === 'number') {
        sql.deleteChanges.run(through);
        sql.setPrunedThrough.run(through);
      }
      return { ...outcome, changeId };
    });
    const addUsage = db.transaction((rows: ReturnType<typeof toUsageRows>) => {
      for (const row of rows) this.#metering.addUsage.run(row);
    });
    this.#addUsage = (rows) => addUsage.immediate(rows);
    // IMMEDIATE takes the write lock up front, so a busy file is waited for (busyTimeoutMs) rather than failing
    // when a deferred read transaction tries to upgrade.
    this.#writeTransaction = (body) => write.immediate(body);
    // One read transaction: the prune mark and the rows come from the same snapshot.
    this.#readChanges = db.transaction((cursor: number) => ({
      prunedThrough: sql.prunedThrough.get() ?? 0,
      rows: sql.changesAfter.all(cursor, MAX_CHANGES_PER_READ + 1),
      last: sql.lastChangeId.get() ?? 0,
    }));
  }

  async findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    options?.signal?.throwIfAborted();
    return this.#read('findByHash', () => {
      const row = this.#sql.findByHash.get(hash);
      return row ? toKeyRecord(row) : null;
    });
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const row = this.#read('getAccount', () => this.#sql.getAccount.get(accountId));
    return row ? toAccount(row) : null;
  }

  /** Replaces tier, provisioning and rate limit; `account.metered` is ignored (credits change only through grants and unmeter). */
  async putAccount(account: Account): Promise<void> {
    this.#write('putAccount', () => {
      this.#sql.putAccount.run(
        account.id,
        account.tier,
        account.enterprise === true ? 1 : 0,
        account.rateLimit?.requests ?? null,
        account.rateLimit?.perSeconds ?? null,
      );
      return { result: undefined, change: { kind: 'account', subject: account.id } };
    });
  }

  async updateAccount(accountId: string, patch: AccountPatch): Promise<Account | null> {
    const rateLimit = patch?.rateLimit;
    const row = {
      id: accountId,
      tier: patch?.tier ?? null,
      enterprise: patch?.enterprise === undefined ? null : patch.enterprise === true ? 1 : 0,
      rate_set: rateLimit === undefined ? 0 : 1,
      rate_requests: rateLimit?.requests ?? null,
      rate_per_seconds: rateLimit?.perSeconds ?? null,
    };
    return this.#write('updateAccount', () => {
      const updated = this.#sql.updateAccount.get(row);
      return updated ? { result: toAccount(updated), change: { kind: 'account', subject: accountId } } : { result: null };
    });
  }

  async listAccounts(): Promise<Account[]> {
    return this.#read('listAccounts', () => this.#sql.listAccounts.all().map(toAccount));
  }

  async grantCredits(accountId: string, amount: number): Promise<{ balance: number } | null> {
    assertAmount('grantCredits', amount, 1);
    return this.#write<{ balance: number } | null>('grantCredits', () => {
      const before = this.#metering.getCredits.get(accountId);
      if (!before) return { result: null };
      const { credit_balance: balance } = this.#metering.grantCredits.get(amount, accountId)!;
      // The account's metered flag is cached with its keys: becoming metered must reach every cache.
      if (before.credit_balance !== null) return { result: { balance } };
      return { result: { balance }, change: { kind: 'account', subject: accountId } };
    });
  }

  async setCreditRefill(accountId: string, refill: CreditRefill | null): Promise<CreditState | null> {
    if (refill !== null) {
      assertAmount('setCreditRefill', refill?.amount, 0);
      if (refill.period !== 'day' && refill.period !== 'month') {
        throw new SqliteKeyStoreError('INVALID_RECORD', "finora-auth: SqliteKeyStore setCreditRefill needs period 'day' or 'month'");
      }
    }
    return this.#write('setCreditRefill', () => {
      const row = this.#metering.setCreditRefill.get(refill?.amount ?? null, refill?.period ?? null, accountId);
      return { result: row ? toCreditState(row) : null };
    });
  }

  async getCredits(accountId: string): Promise<CreditState | null> {
    return this.#read('getCredits', () => {
      const row = this.#metering.getCredits.get(accountId);
      return row ? toCreditState(row) : null;
    });
  }

  async unmeter(accountId: string): Promise<boolean> {
    return this.#write('unmeter', () => {
      const known = this.#metering.unmeter.run(accountId).changes > 0;
      return known ? { result: true, change: { kind: 'account', subject: accountId } } : { result: false };
    });
  }

  /** One IMMEDIATE transaction: the refill, the check and the debit see no other writer in between. */
  async takeCredits(accountId: string, want: number, min: number, now: number): Promise<{ granted: number; balance: number; metered: boolean }> {
    assertAmount('takeCredits', want, 0);
    assertAmount('takeCredits', min, 0);
    return this.#write<{ granted: number; balance: number; metered: boolean }>('takeCredits', () => {
      const row = this.#metering.getCredits.get(accountId);
      if (!row || row.credit_balance === null) return { result: { granted: 0, balance: 0, metered: false } };
      let balance = row.credit_balance;
      let refilled = row.refilled_period;
      if (row.refill_amount !== null && row.refill_period !== null) {
        const period = refillPeriod(row.refill_period, now);
        // Periods only move forward: a process whose clock is behind finds its period already applied.
        if (refilled === null || period > refilled) {
          balance = row.refill_amount;
          refilled = period;
        }
      }
      const granted = balance >= min ? Math.min(want, balance) : 0;
      if (granted > 0 || refilled !== row.refilled_period) this.#metering.setBalance.run(balance - granted, refilled, accountId);
      return { result: { granted, balance: balance - granted, metered: true } };
    });
  }

  async returnCredits(accountId: string, amount: number): Promise<void> {
    assertAmount('returnCredits', amount, 0);
    if (amount === 0) return;
    this.#write('returnCredits', () => {
      this.#metering.returnCredits.run(amount, accountId);
      return { result: undefined };
    });
  }

  /** One transaction for the whole batch: each row's counts are added in the database, never read and written back. */
  async addUsage(rows: readonly UsageIncrement[]): Promise<void> {
    for (const row of rows) {
      if (!isCount(row?.allowed) || !isCount(row.creditsSpent)) {
        throw new SqliteKeyStoreError('INVALID_RECORD', 'finora-auth: SqliteKeyStore addUsage needs whole counts >= 0');
      }
    }
    const merged = toUsageRows(rows);
    if (merged.length === 0) return;
    if (this.#closed) throw this.#closedError('addUsage');
    try {
      this.#addUsage(merged);
    } catch (error) {
      throw writeFailure('addUsage', error);
    }
  }

  async listUsage(accountId: string, since: string, until: string): Promise<UsageRow[]> {
    return this.#read('listUsage', () => this.#metering.listUsage.all(accountId, since, until).map(toUsageRow));
  }

  /** Shared by every process on this machine (the file); a fleet on several machines needs Redis or PostgreSQL. */
  async incrementRateWindow(bucket: string, windowStart: number, by: number, ttlMs: number): Promise<number> {
    assertAmount('incrementRateWindow', by, 0);
    const now = this.#config.now();
    return this.#write('incrementRateWindow', () => {
      if (++this.#rateIncrements % PRUNE_RATE_WINDOWS_EVERY === 0) this.#metering.pruneRateWindows.run(now);
      return { result: this.#metering.incrementRateWindow.get(bucket, windowStart, by, now + ttlMs)! };
    });
  }

  async getKey(keyId: string): Promise<StoredKey | null> {
    return this.#read('getKey', () => {
      const row = this.#sql.getKey.get(keyId);
      return row ? toStoredKey(row) : null;
    });
  }

  async insertKey(key: StoredKey): Promise<void> {
    // The schema checks this too; refusing here gives the clearer error, and keeps anything but a digest out of the file.
    if (typeof key?.hash !== 'string' || !HASH.test(key.hash)) {
      throw new SqliteKeyStoreError('INVALID_RECORD', 'finora-auth: SqliteKeyStore insertKey needs key.hash, a SHA-256 lowercase hex digest');
    }
    this.#write('insertKey', () => {
      this.#sql.insertKey.run(toKeyRow(key));
      return { result: undefined, change: { kind: 'key', subject: key.hash } };
    });
  }

  async revokeKey(keyId: string, revokedAt: number): Promise<StoredKey | null> {
    return this.#write('revokeKey', () => {
      const changed = this.#sql.revokeKey.run(revokedAt, keyId).changes > 0;
      const row = this.#sql.getKey.get(keyId);
      const result = row ? toStoredKey(row) : null;
      // A second revoke changes nothing, so it tells no one.
      return changed && row ? { result, change: { kind: 'key', subject: row.hash } } : { result };
    }) as StoredKey | null;
  }

  async listKeys(accountId: string): Promise<StoredKey[]> {
    return this.#read('listKeys', () => this.#sql.listKeys.all(accountId).map(toStoredKey));
  }

  async listExpiring(after: number, until: number): Promise<StoredKey[]> {
    return this.#read('listExpiring', () => this.#sql.listExpiring.all(after, until).map(toStoredKey));
  }

  async findServiceAccount(clientId: string, options?: { signal?: AbortSignal }): Promise<ServiceAccountRecord | null> {
    options?.signal?.throwIfAborted();
    return this.#read('findServiceAccount', () => {
      const row = this.#sql.findServiceAccount.get(clientId);
      return row ? toServiceAccountRecord(row) : null;
    });
  }

  async insertServiceAccount(serviceAccount: StoredServiceAccount): Promise<void> {
    if (typeof serviceAccount?.secretHash !== 'string' || !HASH.test(serviceAccount.secretHash)) {
      throw new SqliteKeyStoreError(
        'INVALID_RECORD',
        'finora-auth: SqliteKeyStore insertServiceAccount needs secretHash, a SHA-256 lowercase hex digest',
      );
    }
    this.#write('insertServiceAccount', () => {
      this.#sql.insertServiceAccount.run(toServiceAccountRow(serviceAccount));
      return { result: undefined, change: { kind: 'service-account', subject: serviceAccount.clientId } };
    });
  }

  async replaceServiceAccountSecret(clientId: string, secret: ServiceAccountSecret): Promise<StoredServiceAccount | null> {
    if (typeof secret?.secretHash !== 'string' || !HASH.test(secret.secretHash)) {
      throw new SqliteKeyStoreError(
        'INVALID_RECORD',
        'finora-auth: SqliteKeyStore replaceServiceAccountSecret needs secretHash, a SHA-256 lowercase hex digest',
      );
    }
    return this.#write('replaceServiceAccountSecret', () => {
      if (this.#sql.replaceServiceAccountSecret.run(toSecretRow(clientId, secret)).changes === 0) return { result: null };
      const row = this.#sql.getServiceAccount.get(clientId);
      return { result: row ? toStoredServiceAccount(row) : null, change: { kind: 'service-account', subject: clientId } };
    });
  }

  async revokeServiceAccount(clientId: string, revokedAt: number): Promise<StoredServiceAccount | null> {
    return this.#write('revokeServiceAccount', () => {
      const changed = this.#sql.revokeServiceAccount.run(revokedAt, clientId).changes > 0;
      const row = this.#sql.getServiceAccount.get(clientId);
      const result = row ? toStoredServiceAccount(row) : null;
      return changed ? { result, change: { kind: 'service-account', subject: clientId } } : { result };
    });
  }

  async listServiceAccounts(accountId: string): Promise<StoredServiceAccount[]> {
    return this.#read('listServiceAccounts', () => this.#sql.listServiceAccounts.all(accountId).map(toStoredServiceAccount));
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    return this.#read('listSigningKeys', () => this.#sql.listSigningKeys.all().map(toStoredSigningKey));
  }

  async insertSigningKey(key: StoredSigningKey): Promise<void> {
    // Signing keys are read by each issuer when it needs them, not cached by authenticators: no change to tell.
    this.#write('insertSigningKey', () => {
      this.#sql.insertSigningKey.run(toSigningKeyRow(key));
      return { result: undefined };
    });
  }

  async retireSigningKey(kid: string, retiredAt: number): Promise<StoredSigningKey | null> {
    return this.#write('retireSigningKey', () => {
      this.#sql.retireSigningKey.run(retiredAt, kid);
      const row = this.#sql.getSigningKey.get(kid);
      return { result: row ? toStoredSigningKey(row) : null };
    });
  }

  subscribe(listener: StoreListener): () => void {
    if (this.#closed) throw this.#closedError('subscribe');
    const stop = this.#events.subscribe(listener);
    if (this.#timer === undefined) this.#startPolling();
    else if (!this.#live) {
      try {
        listener({ type: 'reset', live: false });
      } catch {
        // A listener's fault is its own.
      }
    }
    return () => {
      stop();
      if (this.#events.size === 0) this.#stopPolling();
    };
  }

  /** Stops looking for other processes' changes and closes the file. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPolling();
    try {
      this.#db.close();
    } catch (error) {
      throw storeFailure('close', error);
    }
  }

  #closedError(operation: string): SqliteKeyStoreError {
    return new SqliteKeyStoreError('CLOSED', `finora-auth: SqliteKeyStore ${operation} called after close()`);
  }

  #read<T>(operation: string, run: () => T): T {
    if (this.#closed) throw this.#closedError(operation);
    try {
      return run();
    } catch (error) {
      throw storeFailure(operation, error);
    }
  }

  #write<T>(operation: string, body: () => { result: T; change?: Change }): T {
    if (this.#closed) throw this.#closedError(operation);
    let outcome: { result: unknown; change?: Change; changeId?: number };
    try {
      outcome = this.#writeTransaction(body);
    } catch (error) {
      throw writeFailure(operation, error);
    }
    // Committed: in-process subscribers hear of it before the caller's await resumes.
    if (outcome.change) this.#events.emit(toEvent(outcome.change));
    // Catch up with other processes' changes now too, so the cursor does not lag behind our own row.
    if (outcome.changeId !== undefined && this.#timer !== undefined && this.#live) this.#catchUp(outcome.changeId);
    return outcome.result as T;
  }

  #startPolling(): void {
    if (!this.#shared || this.#closed || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#poll(), this.#config.pollIntervalMs);
    // A store left open must not keep a CLI process alive.
    this.#timer.unref();
    try {
      this.#dataVersion = this.#sql.dataVersion.get() ?? -1;
      this.#cursor = this.#sql.lastChangeId.get() ?? 0;
      this.#live = true;
    } catch (error) {
      this.#fault(error);
    }
  }

  #stopPolling(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #poll(): void {
    if (this.#closed) return;
    try {
      const version = this.#sql.dataVersion.get() ?? -1;
      if (this.#live && version === this.#dataVersion) return;
      this.#dataVersion = version;
      if (this.#live) {
        this.#catchUp(undefined);
        return;
      }
      // Back after a fault: whatever happened meanwhile is unknown, so every cached answer goes.
      this.#cursor = this.#sql.lastChangeId.get() ?? 0;
      this.#live = true;
      this.#events.emit({ type: 'reset', live: true });
    } catch (error) {
      this.#fault(error);
    }
  }

  /** Tells subscribers of every change-log row past the cursor, except our own `skip` (already told). */
  #catchUp(skip: number | undefined): void {
    let read: { prunedThrough: number; rows: ChangeRow[]; last: number };
    try {
      read = this.#readChanges(this.#cursor);
    } catch (error) {
      this.#fault(error);
      return;
    }
    const { prunedThrough, rows, last } = read;
    if (prunedThrough > this.#cursor || rows.length > MAX_CHANGES_PER_READ) {
      // Rows we never read were pruned, or there are too many to be worth sending one by one.
      this.#cursor = Math.max(last, this.#cursor);
      this.#events.emit({ type: 'reset', live: true });
      return;
    }
    for (const row of rows) {
      this.#cursor = row.id;
      if (row.id !== skip) this.#events.emit(toEvent(row));
    }
  }

  #fault(error: unknown): void {
    if (!this.#live) return;
    this.#live = false;
    this.#events.emit({ type: 'reset', live: false });
    try {
      this.#config.onError?.(storeFailure('looking for changes from other processes', error));
    } catch {
      // Reporting must not stop the store.
    }
  }
}

function assertAmount(operation: string, value: unknown, least: number): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < least) {
    throw new SqliteKeyStoreError('INVALID_RECORD', `finora-auth: SqliteKeyStore ${operation} needs a whole number >= ${least}; got ${String(value)}`);
  }
}

function writeFailure(operation: string, error: unknown): SqliteKeyStoreError {
  const code = sqliteCode(error);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    const what =
      operation === 'insertKey'
        ? 'a key with this id or hash'
        : operation === 'insertServiceAccount'
          ? 'a service account with this client id'
          : 'a signing key with this kid';
    return new SqliteKeyStoreError('DUPLICATE_KEY', `finora-auth: ${what} is already stored`, { cause: error });
  }
  if (code === 'SQLITE_CONSTRAINT_CHECK' || code === 'SQLITE_CONSTRAINT_NOTNULL' || error instanceof RangeError || error instanceof TypeError) {
    return new SqliteKeyStoreError('INVALID_RECORD', `finora-auth: SqliteKeyStore ${operation} was given a record that does not fit the schema`, {
      cause: error,
    });
  }
  return storeFailure(operation, error);
}
