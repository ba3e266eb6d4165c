// HttpKeyStore: a KeyStore for edge functions that reads keys and service accounts from a finora-auth gateway over fetch, and meters through it.

import {
  StoreEvents,
  isValidKeyRecord,
  isValidServiceAccountRecord,
  type KeyRecord,
  type KeyStore,
  type ServiceAccountRecord,
  type StoreListener,
  type UsageIncrement,
} from '@finora-auth/core';
import { HttpKeyStoreError } from './errors';
import { EventStream } from './event-stream';
import { fetchJson } from './fetch-json';
import { resolveOptions, type HttpKeyStoreOptions, type ResolvedHttpKeyStoreOptions } from './options';

const HASH = /^[0-9a-f]{64}$/;
/** The gateway takes at most this many usage rows per request; a larger batch (after an outage) goes in parts. */
const USAGE_ROWS_PER_REQUEST = 1_000;

const isWhole = (value: unknown, most = Number.MAX_SAFE_INTEGER): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= most;

function assertWhole(method: string, name: string, value: unknown): asserts value is number {
  if (!isWhole(value)) throw new TypeError(`finora-auth http: ${method} takes ${name} as a whole number >= 0`);
}

function assertText(method: string, name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`finora-auth http: ${method} takes ${name} as a non-empty string`);
}

/**
 * A read-only KeyStore over HTTP. It asks `finora-auth serve --internal-token-file` for a key by its SHA-256 digest
 * (never the key) and for a service account by client id; every write and administrative read is refused with
 * `READ_ONLY`: administer through the gateway's own store (the `finora-auth` command or the admin console).
 * Metering goes through the gateway too: credit takes and returns, usage batches and rate-window counts, each one
 * POST, sent once and never retried (a take whose answer was lost may have debited).
 *
 * Revocation bound: with `events` (Node, Bun, Deno), a change is heard over the gateway's event stream in
 * milliseconds, and a stream that drops or goes quiet makes the authenticator trust no cached answer within
 * `heartbeatTimeoutMs` (1 s); so a revocation is honoured within about 1 s. Without `events` (Cloudflare Workers)
 * nothing is heard: the bound is the authenticator's `cache.ttlMs` (and `negativeTtlMs` for a new key).
 */
export class HttpKeyStore implements KeyStore {
  readonly #config: ResolvedHttpKeyStoreOptions;
  readonly #events = new StoreEvents();
  readonly #stream: EventStream;
  #closed = false;
  #reportedUnauthorized = false;

  constructor(options: HttpKeyStoreOptions) {
    this.#config = resolveOptions(options);
    this.#stream = new EventStream(
      this.#config,
      (event) => this.#events.emit(event),
      (error) => this.#report(error),
    );
  }

  /** The bound within which this store's authenticators honour a revocation, in ms, given the cache `ttlMs` they use. */
  revocationBoundMs(cacheTtlMs = 30_000): number {
    return this.#config.events ? this.#config.heartbeatTimeoutMs : cacheTtlMs;
  }

  async findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    this.#open();
    if (typeof hash !== 'string' || !HASH.test(hash)) throw new TypeError('finora-auth http: findByHash takes a SHA-256 hex digest');
    const answer = await this.#get(`/internal/keys/${hash}`, options?.signal);
    const record = (answer as { record?: unknown }).record;
    if (record === null) return null;
    if (!isValidKeyRecord(record, hash)) throw this.#garbled('key');
    return record;
  }

  async findServiceAccount(clientId: string, options?: { signal?: AbortSignal }): Promise<ServiceAccountRecord | null> {
    this.#open();
    if (typeof clientId !== 'string' || clientId === '') throw new TypeError('finora-auth http: findServiceAccount takes a client id');
    const answer = await this.#get(`/internal/service-accounts/${encodeURIComponent(clientId)}`, options?.signal);
    const record = (answer as { record?: unknown }).record;
    if (record === null) return null;
    if (!isValidServiceAccountRecord(record, clientId)) throw this.#garbled('service account');
    return record;
  }

  /**
   * Takes credits for a lease through the gateway. `now` is not sent: the gateway judges refills on its own clock,
   * so an edge whose clock runs ahead cannot refill early. A take that fails is not retried (it may have debited).
   */
  async takeCredits(accountId: string, want: number, min: number, _now?: number): Promise<{ granted: number; balance: number; metered: boolean }> {
    this.#open();
    assertText('takeCredits', 'accountId', accountId);
    assertWhole('takeCredits', 'want', want);
    assertWhole('takeCredits', 'min', min);
    if (min > want) throw new TypeError('finora-auth http: takeCredits takes min <= want');
    const answer = await this.#post('/internal/credits/take', { accountId, want, min });
    const { granted, balance, metered } = answer as { granted?: unknown; balance?: unknown; metered?: unknown };
    const valid =
      typeof metered === 'boolean' &&
      isWhole(granted, want) &&
      isWhole(balance) &&
      (granted === 0 || granted >= min) &&
      (metered || (granted === 0 && balance === 0));
    if (!valid) throw this.#garbled('credit take');
    return { granted, balance, metered };
  }

  /**
   * Gives unused lease credits back. The gateway honours a return up to what was taken through it (that process)
   * and not yet given back, so a return that reaches another gateway process, or one restarted since, is dropped:
   * those credits stay spent, as after a crash, never served free.
   */
  async returnCredits(accountId: string, amount: number): Promise<void> {
    this.#open();
    assertText('returnCredits', 'accountId', accountId);
    assertWhole('returnCredits', 'amount', amount);
    if (amount === 0) return;
    const answer = await this.#post('/internal/credits/return', { accountId, amount });
    if (!isWhole((answer as { returned?: unknown }).returned, amount)) throw this.#garbled('credit return');
  }

  /** Adds usage counts through the gateway, in requests of at most 1,000 rows, one after another. */
  async addUsage(rows: readonly UsageIncrement[]): Promise<void> {
    this.#open();
    if (!Array.isArray(rows)) throw new TypeError('finora-auth http: addUsage takes an array of usage rows');
    for (let at = 0; at < rows.length; at += USAGE_ROWS_PER_REQUEST) {
      const part = rows.slice(at, at + USAGE_ROWS_PER_REQUEST);
      const answer = await this.#post('/internal/usage', { rows: part });
      if ((answer as { rows?: unknown }).rows !== part.length) throw this.#garbled('usage answer');
    }
  }

  /** A rate-limit window shared by every edge on this gateway's store: adds `by` and answers the count after it. */
  async incrementRateWindow(bucket: string, windowStart: number, by: number, ttlMs: number): Promise<number> {
    this.#open();
    assertText('incrementRateWindow', 'bucket', bucket);
    assertWhole('incrementRateWindow', 'windowStart', windowStart);
    assertWhole('incrementRateWindow', 'by', by);
    assertWhole('incrementRateWindow', 'ttlMs', ttlMs);
    const answer = await this.#post('/internal/rate-windows/increment', { bucket, windowStart, by, ttlMs });
    const { count } = answer as { count?: unknown };
    if (!isWhole(count) || count < by) throw this.#garbled('rate-window count');
    return count;
  }

  subscribe(listener: StoreListener): () => void {
    const stop = this.#events.subscribe(listener);
    if (this.#config.events && !this.#closed) {
      // Until the stream says it is live, no cached answer may be trusted.
      if (!this.#stream.live) listener({ type: 'reset', live: false });
      this.#stream.start();
    }
    return () => {
      stop();
      if (this.#events.size === 0) this.#stream.stop();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stream.stop();
  }

  // Writes and administrative reads: refused, so an edge token can only ask about a key it already holds.
  // (grantCredits, getCredits, listUsage and the rest of the credit administration are absent, not served.)
  getAccount(): Promise<never> {
    return this.#readOnly('getAccount');
  }
  putAccount(): Promise<never> {
    return this.#readOnly('putAccount');
  }
  updateAccount(): Promise<never> {
    return this.#readOnly('updateAccount');
  }
  getKey(): Promise<never> {
    return this.#readOnly('getKey');
  }
  insertKey(): Promise<never> {
    return this.#readOnly('insertKey');
  }
  revokeKey(): Promise<never> {
    return this.#readOnly('revokeKey');
  }
  listKeys(): Promise<never> {
    return this.#readOnly('listKeys');
  }
  listExpiring(): Promise<never> {
    return this.#readOnly('listExpiring');
  }
  insertServiceAccount(): Promise<never> {
    return this.#readOnly('insertServiceAccount');
  }
  replaceServiceAccountSecret(): Promise<never> {
    return this.#readOnly('replaceServiceAccountSecret');
  }
  revokeServiceAccount(): Promise<never> {
    return this.#readOnly('revokeServiceAccount');
  }
  listServiceAccounts(): Promise<never> {
    return this.#readOnly('listServiceAccounts');
  }
  listSigningKeys(): Promise<never> {
    return this.#readOnly('listSigningKeys');
  }
  insertSigningKey(): Promise<never> {
    return this.#readOnly('insertSigningKey');
  }
  retireSigningKey(): Promise<never> {
    return this.#readOnly('retireSigningKey');
  }

  #open(): void {
    if (this.#closed) throw new HttpKeyStoreError('UNAVAILABLE', 'finora-auth http: the store is closed');
  }

  async #get(path: string, signal: AbortSignal | undefined): Promise<object> {
    try {
      const answer = await fetchJson(this.#config, path, signal);
      if (!answer || typeof answer !== 'object' || !('record' in answer)) throw this.#garbled('lookup');
      this.#reportedUnauthorized = false;
      return answer;
    } catch (error) {
      this.#report(error);
      throw error;
    }
  }

  /** One metering POST: the same deadline, cap and fault mapping as a lookup, sent once. */
  async #post(path: string, body: object): Promise<object> {
    try {
      const answer = await fetchJson(this.#config, path, undefined, body);
      if (!answer || typeof answer !== 'object' || Array.isArray(answer)) throw this.#garbled('metering answer');
      this.#reportedUnauthorized = false;
      return answer;
    } catch (error) {
      this.#report(error);
      throw error;
    }
  }

  /** A wrong token is a setup fault every request would hit: say so once (until it is fixed), where operators look. */
  #report(error: unknown): void {
    if (error instanceof HttpKeyStoreError && error.code === 'UNAUTHORIZED' && !this.#reportedUnauthorized) {
      this.#reportedUnauthorized = true;
      console.error(error.message);
    }
  }

  #garbled(what: string): HttpKeyStoreError {
    return new HttpKeyStoreError('GARBLED', `finora-auth http: the gateway at ${this.#config.base} answered a ${what} that is not the one asked for`);
  }

  #readOnly(method: string): Promise<never> {
    return Promise.reject(
      new HttpKeyStoreError(
        'READ_ONLY',
        `finora-auth http: HttpKeyStore only reads keys (findByHash, findServiceAccount) and meters; ${method} belongs to the gateway's own ` +
          'store: run it there (the finora-auth command with --store, or the admin console)',
      ),
    );
  }
}
