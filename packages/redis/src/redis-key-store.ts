// A KeyStore on Redis, shared by a fleet of gateways: one round trip per lookup, atomic writes that publish
// their own invalidations, and a subscriber connection that keeps every instance's cache honest.

import {
  StoreEvents,
  type Account,
  type AccountPatch,
  type KeyRecord,
  type KeyStore,
  type ServiceAccountRecord,
  type ServiceAccountSecret,
  type StoredKey,
  type StoredServiceAccount,
  type StoredSigningKey,
  type StoreListener,
} from '@finora-auth/core';
import type { Redis } from 'ioredis';
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
  encodeServiceAccount,
  encodeSigningKey,
} from './codec';
import { openCommandConnection, reconnectNow } from './connection';
import { InvalidationChannel } from './invalidation-channel';
import { resolveOptions, type RedisKeyStoreOptions, type ResolvedOptions } from './options';
import { scripts, type ScriptCommands } from './scripts';

type ScriptedRedis = Redis & ScriptCommands;

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
    for (const [name, definition] of Object.entries(scripts)) this.#redis.defineCommand(name, definition);
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

  async putAccount(account: Account): Promise<void> {
    await this.#client().finoraPutAccount(
      this.#name('account:', account.id),
      account.id,
      account.tier,
      account.enterprise ? '1' : '0',
      this.#config.channel,
    );
    this.#events.emit({ type: 'account-changed', accountId: account.id });
  }

  /** One script: only the named fields are written (HSET), so a concurrent change to another field stays. */
  async updateAccount(accountId: string, patch: AccountPatch): Promise<Account | null> {
    const fields: string[] = [];
    if (patch?.tier !== undefined) fields.push('tier', patch.tier);
    if (patch?.enterprise !== undefined) fields.push('enterprise', patch.enterprise ? '1' : '0');
    const reply = await this.#client().finoraUpdateAccount(
      this.#name('account:', accountId),
      accountId,
      this.#config.channel,
      ...fields,
    );
    if (!reply) return null;
    this.#events.emit({ type: 'account-changed', accountId });
    return assertAccount(decodeAccount(reply));
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
}
