// The decision engine: parse the header, look the key up through the cache, apply the rules in contract order.

import { LRUCache } from 'lru-cache';
import { parseAuthorization } from './authorization';
import { assertModule, isEnterpriseModule } from './catalog';
import { StoreUnavailableError } from './errors';
import { sha256Hex, sha256HexSync } from './keys';
import {
  EXPIRES_AT_HEADER,
  EXPIRY_WARNING_MS,
  messages,
  renderFailure,
  type AuthErrorCode,
  type AuthFailure,
} from './responses';
import { isValidKeyRecord, type KeyStore, type StoreEvent } from './store';
import type { AuthContext, Environment, KeyRecord } from './types';

export interface CacheOptions {
  /** Most keys whose answers are kept. Default: 10,000. */
  max?: number;
  /** How long a store answer is used without asking again, in ms. Default: 30,000. Invalidations end it sooner. */
  ttlMs?: number;
  /** Most unknown-key hashes remembered, apart from real keys so a flood of random keys cannot evict them. Default: 10,000. */
  negativeMax?: number;
  /** How long an unknown-key answer is remembered, in ms. Default: 5,000. */
  negativeTtlMs?: number;
  /**
   * When the store fails or times out, an answer the store gave less than this many ms ago is still used
   * (expiry is still judged against the clock). Default: 0, fail closed: no stale answers.
   */
  staleIfErrorMs?: number;
}

export interface AuthenticatorOptions {
  store: KeyStore;
  /** `false` asks the store on every request. Default: the defaults of {@link CacheOptions}. */
  cache?: false | CacheOptions;
  /** A store lookup slower than this many ms gives 503 `AUTH_UNAVAILABLE`. Default: 2,000. */
  lookupTimeoutMs?: number;
  /** Clock in epoch milliseconds, for expiry and cache ages. Default: `Date.now`. */
  now?: () => number;
  /** Called after every decision; never receives the key. A throwing listener is ignored. Default: none. */
  onDecision?: (event: DecisionEvent) => void;
  /** Most distinct keys being looked up at once; past it a new lookup is refused with 503 at once. Default: 1,000. */
  maxPendingLookups?: number;
  /** `Retry-After` on a 503, in seconds. Default: 1. */
  retryAfterSeconds?: number;
}

export interface AuthRequest {
  /** The `Authorization` header value, as received. */
  authorization?: string | null;
  /** The catalog module the request is for; absent for a request judged on key validity alone. */
  module?: string;
  method?: string;
  /** The `Origin` header, when sent: a live key from a browser is reported as a probable leak. */
  origin?: string | null;
}

export type AuthResult =
  | { ok: true; context: AuthContext; headers: Record<string, string> }
  | { ok: false; error: AuthFailure };

export type DecisionReason =
  | 'ok'
  | 'missing'
  | 'malformed'
  | 'unknown'
  | 'revoked'
  | 'expired'
  | 'free-tier'
  | 'not-enterprise'
  | 'store-error'
  | 'store-timeout'
  | 'store-garbled'
  | 'overloaded';

/** How the cache served a lookup: `none` when no lookup was needed (missing or malformed header) or the cache is off. */
export type CacheOutcome = 'hit' | 'miss' | 'negative-hit' | 'stale' | 'none';

/** What `onDecision` receives: enough for logs and metrics, never the key (the hint at most). */
export interface DecisionEvent {
  outcome: 'allowed' | 'refused';
  status: 200 | AuthFailure['status'];
  code?: AuthErrorCode;
  reason: DecisionReason;
  keyId?: string;
  keyHint?: string;
  accountId?: string;
  environment?: Environment;
  module?: string;
  method?: string;
  cache: CacheOutcome;
  /** Time spent deciding, in ms. */
  durationMs: number;
  /** A live key sent with an `Origin` header: a browser holds it, which the rules forbid. */
  probableLeak?: boolean;
}

export interface Authenticator {
  authenticate(request: AuthRequest): Promise<AuthResult>;
  /** Stops listening to the store and drops the cache. The store stays open: it belongs to the caller. */
  close(): Promise<void>;
}

interface CacheEntry {
  record: KeyRecord;
  /** When the store gave this answer (epoch ms), for `staleIfErrorMs`. */
  verifiedAt: number;
  /** Set on an answer served from an old entry because the store failed. */
  stale?: true;
}

const MAX_LOOKUP_ATTEMPTS = 3;
const FULL_ACCESS: readonly string[] = Object.freeze(['write']);

function positiveInteger(value: number | undefined, fallback: number, name: string, allowZero = false): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < (allowZero ? 0 : 1)) {
    throw new TypeError(`finora-auth: ${name} must be a whole number ${allowZero ? '>= 0' : '> 0'}; got ${String(value)}`);
  }
  return resolved;
}

function resolveOptions(options: AuthenticatorOptions) {
  if (!options || typeof options.store?.findByHash !== 'function' || typeof options.store.subscribe !== 'function') {
    throw new TypeError('finora-auth: createAuthenticator needs options.store, a KeyStore');
  }
  const cache = options.cache === false ? false : (options.cache ?? {});
  if (cache !== false && typeof cache !== 'object') throw new TypeError('finora-auth: cache must be false or an object');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('finora-auth: now must be a function');
  if (options.onDecision !== undefined && typeof options.onDecision !== 'function') {
    throw new TypeError('finora-auth: onDecision must be a function');
  }
  return {
    store: options.store,
    now: options.now ?? Date.now,
    onDecision: options.onDecision,
    lookupTimeoutMs: positiveInteger(options.lookupTimeoutMs, 2_000, 'lookupTimeoutMs'),
    maxPendingLookups: positiveInteger(options.maxPendingLookups, 1_000, 'maxPendingLookups'),
    retryAfterSeconds: positiveInteger(options.retryAfterSeconds, 1, 'retryAfterSeconds'),
    cache:
      cache === false
        ? false
        : {
            max: positiveInteger(cache.max, 10_000, 'cache.max'),
            ttlMs: positiveInteger(cache.ttlMs, 30_000, 'cache.ttlMs'),
            negativeMax: positiveInteger(cache.negativeMax, 10_000, 'cache.negativeMax'),
            negativeTtlMs: positiveInteger(cache.negativeTtlMs, 5_000, 'cache.negativeTtlMs'),
            staleIfErrorMs: positiveInteger(cache.staleIfErrorMs, 0, 'cache.staleIfErrorMs', true),
          },
  } as const;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const config = resolveOptions(options);
  const { store, now, onDecision } = config;
  const cacheConfig = config.cache;

  const refusals = {
    missing: renderFailure('MISSING_API_KEY', messages.missing),
    malformed: renderFailure('INVALID_API_KEY', messages.malformed),
    unknown: renderFailure('INVALID_API_KEY', messages.unknown),
    freeTier: renderFailure('PREMIUM_REQUIRED', messages.freeTier),
    unavailable: renderFailure('AUTH_UNAVAILABLE', messages.unavailable, config.retryAfterSeconds),
  };
  const enterpriseRefusals = new Map<string, AuthFailure>();
  const noHeaders: Record<string, string> = Object.freeze({}) as Record<string, string>;

  // False while the store's invalidation channel is down: every request then asks the store.
  let trusted = true;
  // Store lookups running now, bounded by maxPendingLookups; and their hashes, aborted when an account changes.
  // (An aborted lookup may still be running beside its retry, so hashes are counted, not just noted.)
  let pending = 0;
  const inflight = new Map<string, number>();

  async function askStore(hash: string, signal: AbortSignal | undefined): Promise<KeyRecord | null> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new StoreUnavailableError('store-timeout');
        controller.abort(error);
        reject(error);
      }, config.lookupTimeoutMs);
    });
    pending++;
    inflight.set(hash, (inflight.get(hash) ?? 0) + 1);
    try {
      const record = await Promise.race([store.findByHash(hash, { signal: controller.signal }), timeout]);
      if (record === null || record === undefined) return null;
      if (!isValidKeyRecord(record, hash)) throw new StoreUnavailableError('store-garbled');
      return record;
    } catch (error) {
      throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError('store-error', { cause: error });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      pending--;
      const left = (inflight.get(hash) ?? 1) - 1;
      if (left === 0) inflight.delete(hash);
      else inflight.set(hash, left);
    }
  }

  const negative = cacheConfig
    ? new LRUCache<string, true>({ max: cacheConfig.negativeMax, ttl: cacheConfig.negativeTtlMs, ttlResolution: 0, perf: { now } })
    : undefined;

  const positive = cacheConfig
    ? new LRUCache<string, CacheEntry>({
        max: cacheConfig.max,
        ttl: cacheConfig.ttlMs,
        ttlResolution: 0,
        perf: { now },
        // A `get` that finds an entry past its TTL must leave it: it is the stale answer `staleIfErrorMs` may need.
        noDeleteOnStaleGet: true,
        fetchMethod: async (hash, old, { signal, options: setOptions }) => {
          try {
            const record = await askStore(hash, signal);
            if (record) return { record, verifiedAt: now() };
            // Remember "no such key" only if no key-changed event arrived while we asked (it aborts the signal).
            if (!signal.aborted && trusted) negative?.set(hash, true);
            return undefined;
          } catch (error) {
            if (!signal.aborted && old && now() - old.verifiedAt < cacheConfig.staleIfErrorMs) {
              // Keep the old answer for one more try: the next request asks the store again.
              setOptions.ttl = 1;
              return { record: old.record, verifiedAt: old.verifiedAt, stale: true };
            }
            throw error;
          }
        },
      })
    : undefined;

  function onStoreEvent(event: StoreEvent): void {
    switch (event.type) {
      case 'key-changed':
        // Deleting a key whose lookup is in flight aborts it: its waiters look again and see the change.
        positive?.delete(event.keyHash);
        negative?.delete(event.keyHash);
        break;
      case 'account-changed':
        if (!positive) break;
        for (const [hash, { value }] of positive.dump()) {
          if (value.record.account.id === event.accountId) positive.delete(hash);
        }
        // A lookup in flight may be reading this account's old row; which account it is for is not known yet.
        for (const hash of [...inflight.keys()]) positive.delete(hash);
        break;
      case 'reset':
        if (event.live) positive?.clear();
        else for (const hash of [...inflight.keys()]) positive?.delete(hash);
        negative?.clear();
        trusted = event.live;
        break;
    }
  }
  const unsubscribe = store.subscribe(onStoreEvent);

  type Lookup = { record: KeyRecord | null; cache: CacheOutcome };

  async function lookup(hash: string): Promise<Lookup> {
    if (!positive || !negative) {
      if (pending >= config.maxPendingLookups) throw new StoreUnavailableError('overloaded');
      return { record: await askStore(hash, undefined), cache: 'none' };
    }
    if (trusted && negative.get(hash)) return { record: null, cache: 'negative-hit' };
    // A request for a key already being looked up joins that lookup, so only a new lookup counts against the bound.
    if (pending >= config.maxPendingLookups && !inflight.has(hash) && !(trusted && positive.has(hash))) {
      throw new StoreUnavailableError('overloaded');
    }
    if (trusted) {
      // The common case, a fresh cached answer, without fetch()'s promise and status object.
      const entry = positive.get(hash);
      if (entry) return { record: entry.record, cache: 'hit' };
    }
    for (let attempt = 1; ; attempt++) {
      const status: LRUCache.Status<string, CacheEntry> = {};
      try {
        const entry = await positive.fetch(hash, { forceRefresh: !trusted, status });
        const cache: CacheOutcome = entry?.stale ? 'stale' : status.fetch === 'hit' ? 'hit' : 'miss';
        return { record: entry?.record ?? null, cache };
      } catch (error) {
        // A store fault is final. Anything else is an abort: an invalidation landed while the store was asked,
        // so the answer in hand may predate it and is thrown away; look again.
        if (error instanceof StoreUnavailableError || attempt >= MAX_LOOKUP_ATTEMPTS) {
          throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError('store-error', { cause: error });
        }
      }
    }
  }

  function enterpriseRefusal(module: string): AuthFailure {
    let failure = enterpriseRefusals.get(module);
    if (!failure) {
      failure = renderFailure('ENTERPRISE_ONLY', messages.enterpriseOnly(module));
      enterpriseRefusals.set(module, failure);
    }
    return failure;
  }

  async function authenticate(request: AuthRequest): Promise<AuthResult> {
    const started = onDecision ? performance.now() : 0;
    const module = request?.module;
    if (module !== undefined) assertModule(module, 'the request module');
    const method = typeof request?.method === 'string' ? request.method : undefined;
    const origin = request?.origin;

    const report = (
      result: AuthResult,
      reason: DecisionReason,
      cache: CacheOutcome,
      record?: KeyRecord,
    ): AuthResult => {
      if (!onDecision) return result;
      const event: DecisionEvent = {
        outcome: result.ok ? 'allowed' : 'refused',
        status: result.ok ? 200 : result.error.status,
        reason,
        cache,
        durationMs: performance.now() - started,
      };
      if (!result.ok) event.code = result.error.code;
      if (module !== undefined) event.module = module;
      if (method !== undefined) event.method = method;
      if (record) {
        event.keyId = record.key.id;
        event.keyHint = record.key.hint;
        event.accountId = record.account.id;
        event.environment = record.key.environment;
        if (record.key.environment === 'live' && typeof origin === 'string' && origin !== '') event.probableLeak = true;
      }
      try {
        onDecision(event);
      } catch {
        // Logging must never change a decision.
      }
      return result;
    };
    const refuse = (error: AuthFailure, reason: DecisionReason, cache: CacheOutcome, record?: KeyRecord) =>
      report({ ok: false, error }, reason, cache, record);

    const parsed = parseAuthorization(request?.authorization);
    if (parsed.kind === 'missing') return refuse(refusals.missing, 'missing', 'none');
    if (parsed.kind === 'malformed') return refuse(refusals.malformed, 'malformed', 'none');

    const hash = sha256HexSync ? sha256HexSync(parsed.token) : await sha256Hex(parsed.token);
    let found: Lookup;
    try {
      found = await lookup(hash);
    } catch (error) {
      const reason = error instanceof StoreUnavailableError ? error.reason : 'store-error';
      return refuse(refusals.unavailable, reason, 'none');
    }
    const { record, cache } = found;
    if (!record) return refuse(refusals.unknown, 'unknown', cache);

    const { key, account } = record;
    const at = now();
    if (key.revokedAt !== undefined) {
      return refuse(renderFailure('INVALID_API_KEY', messages.revoked(key.revokedAt)), 'revoked', cache, record);
    }
    if (at >= key.expiresAt) {
      return refuse(renderFailure('INVALID_API_KEY', messages.expired(key.expiresAt)), 'expired', cache, record);
    }
    if (account.tier === 'free') return refuse(refusals.freeTier, 'free-tier', cache, record);
    if (module !== undefined && isEnterpriseModule(module) && (key.surface !== 'enterprise' || !account.enterprise)) {
      return refuse(enterpriseRefusal(module), 'not-enterprise', cache, record);
    }

    const context: AuthContext = {
      keyId: key.id,
      accountId: account.id,
      environment: key.environment,
      billable: key.environment === 'live',
      tier: account.tier,
      surface: key.surface,
      expiresAt: new Date(key.expiresAt),
      credential: 'api_key',
      scopes: key.scopes ?? FULL_ACCESS,
    };
    if (module !== undefined) context.module = module;
    if (key.name !== undefined) context.keyName = key.name;
    const headers =
      key.expiresAt - at <= EXPIRY_WARNING_MS ? { [EXPIRES_AT_HEADER]: context.expiresAt.toISOString() } : noHeaders;
    return report({ ok: true, context, headers }, 'ok', cache, record);
  }

  return {
    authenticate,
    async close() {
      unsubscribe();
      positive?.clear();
      negative?.clear();
    },
  };
}
