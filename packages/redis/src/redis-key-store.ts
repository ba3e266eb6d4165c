// A KeyStore on Redis, shared by a fleet of gateways: one round trip per lookup, atomic writes that publish
// their own invalidations, and a subscriber connection that keeps every instance's cache honest.

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
  type StoredKey,
  type StoredServiceAccount,
  type StoredSigningKey,
  type StoreListener,
  type UsageIncrement,
  type UsageRow,
} from '@finora-auth/core';
import { Cluster } from 'ioredis';
import {
  assertAccount,
  assertKey,
  assertServiceAccount,
  assertSigningKey,
  decodeAccount,
  decodeKey,
  decodeServiceAccount,
  decodeSigningKey,
  encodeKey,
  encodeRateLimit,
  encodeServiceAccount,
  encodeSigningKey,
} from './codec';
import { openCommandConnection, reconnectNow, type Connection } from './connection';
import { InvalidationChannel } from './invalidation-channel';
import { meteringScripts, type MeteringScriptCommands } from './metering-scripts';
import { resolveOptions, type RedisKeyStoreOptions, type ResolvedOptions } from './options';
import { scripts, type ScriptCommands } from './scripts';
import { decodeCredits, decodeUsage, encodeUsage } from './usage-codec';

type ScriptedRedis = Connection & ScriptCommands & MeteringScriptCommands;

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

function assertAmount(operation: string, value: unknown, least: number): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < least) {
    throw new TypeError(`finora-auth: RedisKeyStore ${operation} needs a whole number >= ${least}; got ${String(value)}`);
  }
}

/** A day `YYYY-MM-DD` as the score of the usage-days set: YYYYMMDD. */
const dayScore = (day: string) => day.replaceAll('-', '');

/** A name as a SCAN pattern that matches only itself: the prefix may hold glob characters. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

export class RedisKeyStore implements KeyStore {
  readonly #config: ResolvedOptions;
  readonly #redis: ScriptedRedis;
  readonly #events = new StoreEvents();
  readonly #channel: InvalidationChannel;
  #closing: Promise<void> | undefined;

  /** Connects lazily: building a store never throws for a Redis that is down, and never touches the network. */
  constructor(options: RedisKeyStoreOptions) {
    this.#config = resolveOptions(options);
    this.#redis = openCommandConnection(this.#config) as ScriptedRedis;
    for (const [name, definition] of Object.entries({ ...scripts, ...meteringScripts })) this.#redis.defineCommand(name, definition);
    // Whichever connection gets through after an outage pulls the other out of its back-off, so the store does
    // not refuse commands, or distrust its cache, for up to maxReconnectDelayMs longer than Redis was down.
    this.#channel = new InvalidationChannel(
      this.#config,
      this.#events,
      () => reconnectNow(this.#redis),
      (channel, message) => this.#redis.publish(channel, message),
    );
    this.#redis.on('ready', () => this.#channel.reconnectNow());
  }

  /** The prefix in use, e.g. `{finora}:`. */
  get prefix(): string {
    return this.#config.prefix;
  }

  async findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    const reply = await abortable(this.#client().finoraFind(this.#name('key:', hash), this.#config.prefix), options?.signal);
    if (!reply) return null;
    // Not validated here: the authenticator checks every record and reports a malformed one as a garbled answer.
    return { key: decodeKey(reply[0]), account: decodeAccount(reply[1]) };
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const fields = await this.#client().hgetall(this.#name('account:', accountId));
    return Object.keys(fields).length === 0 ? null : assertAccount(decodeAccount(Object.entries(fields).flat()));
  }

  /** Replaces tier, provisioning and rate limit; `account.metered` is ignored (credits change only through grants and unmeter). */
  async putAccount(account: Account): Promise<void> {
    await this.#client().finoraPutAccount(
      this.#name('account:', account.id),
      this.#name('accounts'),
      account.id,
      account.tier,
      account.enterprise ? '1' : '0',
      this.#config.channel,
      account.rateLimit ? String(account.rateLimit.requests) : '',
      account.rateLimit ? String(account.rateLimit.perSeconds) : '',
    );
    this.#events.emit({ type: 'account-changed', accountId: account.id });
  }

  /** One script: only the named fields are written (HSET), so a concurrent change to another field stays. */
  async updateAccount(accountId: string, patch: AccountPatch): Promise<Account | null> {
    const fields: string[] = [];
    if (patch?.tier !== undefined) fields.push('tier', patch.tier);
    if (patch?.enterprise !== undefined) fields.push('enterprise', patch.enterprise ? '1' : '0');
    if (patch?.rateLimit) fields.push(...encodeRateLimit(patch.rateLimit));
    const reply = await this.#client().finoraUpdateAccount(
      this.#name('account:', accountId),
      accountId,
      this.#config.channel,
      patch?.rateLimit === null ? '1' : '0',
      ...fields,
    );
    if (!reply) return null;
    this.#events.emit({ type: 'account-changed', accountId });
    return assertAccount(decodeAccount(reply));
  }

  /**
   * Every account, by id, from the accounts set. Accounts written before that set existed are added to it once,
   * by a scan of their names, the first time any instance lists.
   */
  async listAccounts(): Promise<Account[]> {
    const client = this.#client();
    if ((await client.exists(this.#name('accounts-indexed'))) === 0) {
      const ids = (await this.#scan(`${globEscape(this.#name('account:'))}*`)).map((name) => name.slice(this.#name('account:').length));
      await client.finoraIndexAccounts(this.#name('accounts'), this.#name('accounts-indexed'), this.#name('account:'), ...ids);
    }
    const rows = await client.finoraListAccounts(this.#name('accounts'), this.#name('account:'));
    return rows.map((fields) => assertAccount(decodeAccount(fields))).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async grantCredits(accountId: string, amount: number): Promise<{ balance: number } | null> {
    assertAmount('grantCredits', amount, 1);
    const reply = await this.#client().finoraGrantCredits(this.#name('account:', accountId), accountId, String(amount), this.#config.channel);
    if (reply === null) return null;
    // The metered flag is cached with the account's keys: becoming metered must reach every cache.
    if (reply[1] === 1) this.#events.emit({ type: 'account-changed', accountId });
    return { balance: Number(reply[0]) };
  }

  async setCreditRefill(accountId: string, refill: CreditRefill | null): Promise<CreditState | null> {
    if (refill !== null) {
      assertAmount('setCreditRefill', refill?.amount, 0);
      if (refill.period !== 'day' && refill.period !== 'month') {
        throw new TypeError("finora-auth: RedisKeyStore setCreditRefill needs period 'day' or 'month'");
      }
    }
    const reply = await this.#client().finoraSetCreditRefill(
      this.#name('account:', accountId),
      refill ? String(refill.amount) : '',
      refill ? refill.period : '',
    );
    return reply ? decodeCredits(reply) : null;
  }

  async getCredits(accountId: string): Promise<CreditState | null> {
    const reply = await this.#client().hmget(this.#name('account:', accountId), 'id', 'balance', 'refillAmount', 'refillPeriod', 'refilledPeriod');
    return reply[0] === null ? null : decodeCredits(reply);
  }

  async unmeter(accountId: string): Promise<boolean> {
    const known = (await this.#client().finoraUnmeter(this.#name('account:', accountId), accountId, this.#config.channel)) === 1;
    if (known) this.#events.emit({ type: 'account-changed', accountId });
    return known;
  }

  /** One script: the refill, the check and the debit run with nothing else in between. */
  async takeCredits(accountId: string, want: number, min: number, now: number): Promise<{ granted: number; balance: number; metered: boolean }> {
    assertAmount('takeCredits', want, 0);
    assertAmount('takeCredits', min, 0);
    const day = new Date(now).toISOString().slice(0, 10);
    const [granted, balance, metered] = await this.#client().finoraTakeCredits(
      this.#name('account:', accountId),
      String(want),
      String(min),
      day,
      day.slice(0, 7),
    );
    return { granted: Number(granted), balance: Number(balance), metered: metered === 1 };
  }

  async returnCredits(accountId: string, amount: number): Promise<void> {
    assertAmount('returnCredits', amount, 0);
    if (amount > 0) await this.#client().finoraReturnCredits(this.#name('account:', accountId), String(amount));
  }

  /** One script for the batch; each counter is an HINCRBY, so counts from every instance add up. */
  async addUsage(rows: readonly UsageIncrement[]): Promise<void> {
    for (const row of rows) {
      if (!isCount(row?.allowed) || !isCount(row.creditsSpent)) throw new TypeError('finora-auth: RedisKeyStore addUsage needs whole counts >= 0');
    }
    if (rows.length === 0) return;
    const args = rows.flatMap((row) => [row.accountId, row.day, dayScore(row.day), encodeUsage(row), String(row.allowed), String(row.creditsSpent)]);
    await this.#client().finoraAddUsage(this.#name('usage-days:', rows[0]!.accountId), this.#config.prefix, ...args);
  }

  async listUsage(accountId: string, since: string, until: string): Promise<UsageRow[]> {
    const days = await this.#client().finoraListUsage(
      this.#name('usage-days:', accountId),
      dayScore(since),
      dayScore(until),
      this.#name('usage:', `${accountId}:`),
    );
    return decodeUsage(days);
  }

  /** Every instance on this Redis (or cluster) shares the counter; it expires `ttlMs` after its last write. */
  async incrementRateWindow(bucket: string, windowStart: number, by: number, ttlMs: number): Promise<number> {
    assertAmount('incrementRateWindow', by, 0);
    assertAmount('incrementRateWindow', ttlMs, 1);
    return Number(await this.#client().finoraIncrementRateWindow(this.#name('rate:', `${bucket}:${windowStart}`), String(by), String(ttlMs)));
  }

  async getKey(keyId: string): Promise<StoredKey | null> {
    const fields = await this.#client().finoraGetKey(this.#name('key-id:', keyId), this.#config.prefix);
    return fields ? assertKey(decodeKey(fields)) : null;
  }

  async insertKey(key: StoredKey): Promise<void> {
    try {
      await this.#client().finoraInsertKey(
        this.#name('key:', key.hash),
        this.#name('key-id:', key.id),
        this.#name('account-keys:', key.accountId),
        this.#name('expiring'),
        key.hash,
        String(key.createdAt),
        String(key.expiresAt),
        key.revokedAt === undefined ? '0' : '1',
        this.#config.channel,
        `k:${key.hash}`,
        ...encodeKey(key),
      );
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('FINORA_DUPLICATE')) {
        throw new Error(`finora-auth: key ${key.id} or its hash is already stored`);
      }
      throw error;
    }
    this.#events.emit({ type: 'key-changed', keyHash: key.hash });
  }

  async revokeKey(keyId: string, revokedAt: number): Promise<StoredKey | null> {
    const reply = await this.#client().finoraRevokeKey(
      this.#name('key-id:', keyId),
      this.#name('expiring'),
      String(revokedAt),
      this.#config.prefix,
      this.#config.channel,
    );
    if (!reply) return null;
    const key = assertKey(decodeKey(reply[1]));
    if (reply[0] === 1) this.#events.emit({ type: 'key-changed', keyHash: key.hash });
    return key;
  }

  async listKeys(accountId: string): Promise<StoredKey[]> {
    const rows = await this.#client().finoraList(this.#name('account-keys:', accountId), '-inf', '+inf', this.#name('key:'));
    return rows.map((fields) => assertKey(decodeKey(fields)));
  }

  async listExpiring(after: number, until: number): Promise<StoredKey[]> {
    if (!(until > after)) return [];
    const score = (value: number) => (value === Infinity ? '+inf' : value === -Infinity ? '-inf' : String(value));
    const rows = await this.#client().finoraList(this.#name('expiring'), `(${score(after)}`, score(until), this.#name('key:'));
    return rows.map((fields) => assertKey(decodeKey(fields))).filter((key) => key.revokedAt === undefined);
  }

  async findServiceAccount(clientId: string, options?: { signal?: AbortSignal }): Promise<ServiceAccountRecord | null> {
    const reply = await abortable(
      this.#client().finoraFindServiceAccount(this.#name('sa:', clientId), this.#config.prefix),
      options?.signal,
    );
    if (!reply) return null;
    // Not validated here: the core checks every record and reports a malformed one as a garbled answer.
    return { serviceAccount: decodeServiceAccount(reply[0]), account: decodeAccount(reply[1]) };
  }

  async insertServiceAccount(serviceAccount: StoredServiceAccount): Promise<void> {
    const { clientId } = serviceAccount;
    try {
      await this.#client().finoraInsertServiceAccount(
        this.#name('sa:', clientId),
        this.#name('account-sas:', serviceAccount.accountId),
        clientId,
        String(serviceAccount.createdAt),
        this.#config.channel,
        ...encodeServiceAccount(serviceAccount),
      );
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('FINORA_DUPLICATE')) {
        throw new Error(`finora-auth: service account ${clientId} is already stored`);
      }
      throw error;
    }
    this.#events.emit({ type: 'service-account-changed', clientId });
  }

  async replaceServiceAccountSecret(clientId: string, secret: ServiceAccountSecret): Promise<StoredServiceAccount | null> {
    const reply = await this.#client().finoraReplaceServiceAccountSecret(
      this.#name('sa:', clientId),
      clientId,
      this.#config.channel,
      secret.secretHash,
      secret.secretHint,
      String(secret.secretCreatedAt),
      String(secret.expiresAt),
    );
    if (!reply) return null;
    this.#events.emit({ type: 'service-account-changed', clientId });
    return assertServiceAccount(decodeServiceAccount(reply));
  }

  async revokeServiceAccount(clientId: string, revokedAt: number): Promise<StoredServiceAccount | null> {
    const reply = await this.#client().finoraRevokeServiceAccount(
      this.#name('sa:', clientId),
      clientId,
      this.#config.channel,
      String(revokedAt),
    );
    if (!reply) return null;
    if (reply[0] === 1) this.#events.emit({ type: 'service-account-changed', clientId });
    return assertServiceAccount(decodeServiceAccount(reply[1]));
  }

  async listServiceAccounts(accountId: string): Promise<StoredServiceAccount[]> {
    const rows = await this.#client().finoraList(this.#name('account-sas:', accountId), '-inf', '+inf', this.#name('sa:'));
    return rows.map((fields) => assertServiceAccount(decodeServiceAccount(fields)));
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    const rows = await this.#client().finoraList(this.#name('signing-keys'), '-inf', '+inf', this.#name('signing-key:'));
    return rows.map((fields) => assertSigningKey(decodeSigningKey(fields)));
  }

  async insertSigningKey(key: StoredSigningKey): Promise<void> {
    try {
      await this.#client().finoraInsertSigningKey(
        this.#name('signing-key:', key.kid),
        this.#name('signing-keys'),
        key.kid,
        String(key.createdAt),
        ...encodeSigningKey(key),
      );
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('FINORA_DUPLICATE')) {
        throw new Error(`finora-auth: signing key ${key.kid} is already stored`);
      }
      throw error;
    }
  }

  async retireSigningKey(kid: string, retiredAt: number): Promise<StoredSigningKey | null> {
    const reply = await this.#client().finoraRetireSigningKey(this.#name('signing-key:', kid), String(retiredAt));
    return reply ? assertSigningKey(decodeSigningKey(reply)) : null;
  }

  /**
   * Listens for changes made through any instance on this prefix. The first listener opens the subscriber
   * connection; until it is subscribed (and whenever it drops) listeners are told `{ type: 'reset', live: false }`.
   */
  subscribe(listener: StoreListener): () => void {
    const stop = this.#events.subscribe(listener);
    this.#channel.start();
    if (!this.#channel.live) {
      try {
        listener({ type: 'reset', live: false });
      } catch {
        // A listener's fault is its own.
      }
    }
    return () => {
      stop();
    };
  }

  /** Quits both connections; later calls wait for the first and do nothing else. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const redis = this.#redis;
      await Promise.all([
        this.#channel.close(),
        redis.status === 'ready' ? redis.quit().then(() => {}, () => redis.disconnect()) : Promise.resolve(redis.disconnect()),
      ]);
    })();
    return this.#closing;
  }

  #client(): ScriptedRedis {
    if (this.#closing) throw new Error('finora-auth: RedisKeyStore is closed');
    // Between two connection attempts Redis is known to be down: refuse now rather than queue the command.
    if (this.#redis.status === 'reconnecting') throw new Error('finora-auth: Redis is unreachable; reconnecting');
    return this.#redis;
  }

  #name(kind: string, id = ''): string {
    return `${this.#config.prefix}${kind}${id}`;
  }

  /** Every name matching `pattern`: on a cluster, on each master (the prefix's slot lives on one of them). */
  async #scan(pattern: string): Promise<string[]> {
    const client = this.#client();
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    const names: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        names.push(...batch);
      } while (cursor !== '0');
    }
    return names;
  }
}
