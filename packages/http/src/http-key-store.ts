// HttpKeyStore: a KeyStore for edge functions that reads keys and service accounts from a finora-auth gateway over fetch.

import {
  StoreEvents,
  isValidKeyRecord,
  isValidServiceAccountRecord,
  type KeyRecord,
  type KeyStore,
  type ServiceAccountRecord,
  type StoreListener,
} from '@finora-auth/core';
import { HttpKeyStoreError } from './errors';
import { EventStream } from './event-stream';
import { fetchJson } from './fetch-json';
import { resolveOptions, type HttpKeyStoreOptions, type ResolvedHttpKeyStoreOptions } from './options';

const HASH = /^[0-9a-f]{64}$/;

/**
 * A read-only KeyStore over HTTP. It asks `finora-auth serve --internal-token-file` for a key by its SHA-256 digest
 * (never the key) and for a service account by client id; every write and administrative read is refused with
 * `READ_ONLY`: administer through the gateway's own store (the `finora-auth` command or the admin console).
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
        `finora-auth http: HttpKeyStore only reads (findByHash, findServiceAccount); ${method} belongs to the gateway's own ` +
          'store: run it there (the finora-auth command with --store, or the admin console)',
      ),
    );
  }
}
