// The decision engine: parse the header, look the credential up through the cache, run the checks in contract order.

import { LRUCache } from 'lru-cache';
import { parseAuthorization } from './authorization';
import { assertModule } from './catalog';
import { Refusals, checkAll, type Credential, type DecisionReason, type Refusal } from './checks';
import { StoreUnavailableError } from './errors';
import { Metering, type Admission } from './metering';
import { sha256Hex, sha256HexSync } from './keys';
import { EXPIRES_AT_HEADER, EXPIRY_WARNING_MS, messages, renderFailure, type AuthErrorCode, type AuthFailure } from './responses';
import { FULL_ACCESS, ScopeError, normalizeScopes } from './scopes';
import { isValidKeyRecord, isValidServiceAccountRecord, type KeyStore, type StoreEvent } from './store';
import { TokenVerificationError, type TokenVerifier, type VerifiedToken } from './tokens';
import type { AuthContext, Environment, KeyRecord, ServiceAccountRecord } from './types';

export type { DecisionReason } from './checks';

export interface CacheOptions {
  /** Most keys (and service accounts) whose answers are kept; also most verified tokens kept. Default: 10,000. */
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
  /** A store lookup (or a token verification) slower than this many ms gives 503 `AUTH_UNAVAILABLE`. Default: 2,000. */
  lookupTimeoutMs?: number;
  /** Clock in epoch milliseconds, for expiry and cache ages. Default: `Date.now`. */
  now?: () => number;
  /** Called after every decision with `result.decision`; never receives a secret. A throwing listener is ignored. Default: none. */
  onDecision?: (event: DecisionEvent) => void;
  /** Most distinct keys being looked up at once; past it a new lookup is refused with 503 at once. Default: 1,000. */
  maxPendingLookups?: number;
  /** `Retry-After` on a 503, in seconds. Default: 1. */
  retryAfterSeconds?: number;
  /**
   * (v2) Verifies OAuth access tokens (`createTokenVerifier` of `@finora-auth/oauth`). The store must have
   * `findServiceAccount`. Default: none, and a JWT is refused as `INVALID_API_KEY` (contract row 2), as in v1.
   */
  tokens?: TokenVerifier;
  /**
   * (v2) Credits: what an allowed live request of a metered account costs, a whole number >= 0 (0: free). A cost
   * function that throws or returns anything else refuses the request with 503. Default: 1 credit per request.
   */
  credits?: { cost?: (request: AuthRequest) => number };
}

export interface AuthRequest {
  /** The `Authorization` header value, as received. */
  authorization?: string | null;
  /** The catalog module the request is for; absent for a request judged on key validity alone. */
  module?: string;
  /**
   * The request method (`GET`, `POST`, …; case-sensitive). GET, HEAD and OPTIONS need a `read` scope, every other
   * method `write`. Absent (a v1 caller): a scoped credential is judged as needing `write`, the strictest.
   */
  method?: string;
  /** The `Origin` header, when sent: a live key from a browser is reported as a probable leak. */
  origin?: string | null;
}

export type AuthResult =
  | { ok: true; context: AuthContext; headers: Record<string, string>; decision: DecisionEvent }
  | { ok: false; error: AuthFailure; decision: DecisionEvent };

/** How the cache served a lookup: `none` when no lookup was needed (missing or malformed header) or the cache is off. */
export type CacheOutcome = 'hit' | 'miss' | 'negative-hit' | 'stale' | 'none';

/**
 * What `onDecision` receives and (v2) `result.decision` is: enough for logs and metrics, never a secret (the hint at
 * most). Every field is present on every decision, `undefined` where it does not apply: one object shape is cheaper
 * to build on the hot path than one grown field by field. JSON drops the `undefined` ones.
 */
export interface DecisionEvent {
  outcome: 'allowed' | 'refused';
  status: 200 | AuthFailure['status'];
  code?: AuthErrorCode | undefined;
  reason: DecisionReason;
  /** (v2) What was presented, once the header was read as one: an API key or an OAuth access token. */
  credential?: 'api_key' | 'oauth_token' | undefined;
  /** The key's id; for a token, its service account's client id. */
  keyId?: string | undefined;
  /** API keys only. */
  keyHint?: string | undefined;
  accountId?: string | undefined;
  environment?: Environment | undefined;
  module?: string | undefined;
  method?: string | undefined;
  /** (v2) OAuth tokens only, once verified: the service account's client id. */
  clientId?: string | undefined;
  /** (v2) OAuth tokens only, once verified: the JWT's `jti`. */
  tokenId?: string | undefined;
  cache: CacheOutcome;
  /**
   * Time spent deciding, in ms: measured when `onDecision` is set, otherwise 0. (Two clock reads cost about a tenth
   * of a cached decision on Node 20, so an authenticator nobody listens to does not pay for them.)
   */
  durationMs: number;
  /** A live credential sent with an `Origin` header: a browser holds it, which the rules forbid. */
  probableLeak?: true | undefined;
}

export interface Authenticator {
  authenticate(request: AuthRequest): Promise<AuthResult>;
  /**
   * The same decision as {@link Authenticator.authenticate}, with the same `onDecision` call, usage count, rate limit
   * and credits, but returned at once when nothing has to be waited for: an API key whose store answer is cached and
   * fresh (or a missing, malformed or known-unknown key), whose credits, if any, are at hand. Otherwise the promise
   * `authenticate` returns. It throws where `authenticate` rejects (a `module` outside the catalog). For adapters
   * whose framework can continue synchronously (Express, Fastify), so a cached key costs no promise and no tick.
   * Optional: an authenticator made by hand or wrapped may leave it out, and adapters then use `authenticate`.
   */
  authenticateNow?(request: AuthRequest): AuthResult | Promise<AuthResult>;
  /**
   * Sends the usage counted so far and the pending rate-window counts now, instead of on their timers; leases stay.
   * For runtimes where no timer outlives a request (Cloudflare Workers, where the core sets no such timers): hand it
   * to `ctx.waitUntil(authenticator.flush())` after each request, so it runs after the response. Never rejects; a
   * failed send is kept for the next flush. Elsewhere the timers do it (calling it per request would cost a store
   * write per request). Optional: an authenticator made by hand or wrapped may leave it out.
   */
  flush?(): Promise<void>;
  /**
   * Stops listening to the store and drops the cache; (v2) gives unused credit leases back and sends the last usage
   * and rate-limit counts. The store stays open: it belongs to the caller (close it after this resolves).
   */
  close(): Promise<void>;
}

/** A store answer, normalised once and cached: a key, or a service account (whose tokens add to it per request). */
interface CacheEntry {
  credential: Credential;
  /** Service accounts only: the current secret's generation, which a token must match. */
  secretCreatedAt?: number;
  /** When the store gave this answer (epoch ms), for `staleIfErrorMs`. */
  verifiedAt: number;
  /** Set on an answer served from an old entry because the store failed. */
  stale?: true;
}

/** A token whose signature and claims were verified, with its scopes normalised (`null`: not a valid scope list). */
interface VerifiedEntry {
  token: VerifiedToken;
  scopes: readonly string[] | null;
}

const MAX_LOOKUP_ATTEMPTS = 3;
/** Service accounts share the key cache under this prefix; a key hash (hex) never contains `:`. */
const SERVICE_ACCOUNT_PREFIX = 'sa:';

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
  if (options.credits !== undefined && (typeof options.credits !== 'object' || options.credits === null)) {
    throw new TypeError('finora-auth: credits must be an object: { cost?: (request) => number }');
  }
  if (options.credits?.cost !== undefined && typeof options.credits.cost !== 'function') {
    throw new TypeError('finora-auth: credits.cost must be a function returning the credits a request costs');
  }
  if (options.tokens !== undefined) {
    if (typeof options.tokens?.verify !== 'function') throw new TypeError('finora-auth: tokens must be a TokenVerifier');
    if (typeof options.store.findServiceAccount !== 'function') {
      throw new TypeError('finora-auth: tokens needs a store with findServiceAccount (a v2 KeyStore)');
    }
  }
  return {
    store: options.store,
    now: options.now ?? Date.now,
    onDecision: options.onDecision,
    tokens: options.tokens,
    cost: options.credits?.cost,
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

const frozenScopes = (scopes: string[] | undefined): readonly string[] => (scopes ? Object.freeze([...scopes]) : FULL_ACCESS);

function keyCredential({ key, account }: KeyRecord): CacheEntry['credential'] {
  const credential: Credential = {
    kind: 'api_key',
    id: key.id,
    hint: key.hint,
    account,
    environment: key.environment,
    surface: key.surface,
    scopes: frozenScopes(key.scopes),
    expiresAt: key.expiresAt,
  };
  const rateLimit = key.rateLimit ?? account.rateLimit;
  if (rateLimit !== undefined) credential.rateLimit = rateLimit;
  if (key.name !== undefined) credential.name = key.name;
  if (key.revokedAt !== undefined) credential.revokedAt = key.revokedAt;
  return credential;
}

function serviceAccountCredential({ serviceAccount: sa, account }: ServiceAccountRecord): Credential {
  const credential: Credential = {
    kind: 'oauth_token',
    id: sa.clientId,
    hint: sa.secretHint,
    account,
    environment: sa.environment,
    // A service account belongs to an enterprise-provisioned account; whether it still is, the checks judge.
    surface: 'enterprise',
    scopes: frozenScopes(sa.scopes),
    expiresAt: sa.expiresAt,
  };
  if (account.rateLimit !== undefined) credential.rateLimit = account.rateLimit;
  if (sa.name !== undefined) credential.name = sa.name;
  if (sa.revokedAt !== undefined) credential.revokedAt = sa.revokedAt;
  return credential;
}

function isVerifiedToken(value: unknown): value is VerifiedToken {
  const token = value as Partial<VerifiedToken> | null;
  return (
    !!token &&
    typeof token === 'object' &&
    typeof token.clientId === 'string' &&
    token.clientId !== '' &&
    typeof token.tokenId === 'string' &&
    Array.isArray(token.scopes) &&
    Number.isFinite(token.expiresAt) &&
    Number.isFinite(token.secretCreatedAt)
  );
}

function tokenScopes(scopes: readonly unknown[]): readonly string[] | null {
  try {
    const normalised = normalizeScopes(scopes);
    return normalised.length === 1 && normalised[0] === 'write' ? FULL_ACCESS : Object.freeze(normalised);
  } catch (error) {
    if (error instanceof ScopeError) return null;
    throw error;
  }
}


/**
 * The expiry warning's text for a credential, made once per cached credential: `toISOString()` on every request of a
 * key in its last days cost ~0.8 µs each. Keyed by the credential object the cache holds (a service account's is
 * copied per request, so it is made each time); the expiry of a credential object never changes.
 */
const expiryTexts = new WeakMap<Credential, string>();
function expiryText(credential: Credential): string {
  let text = expiryTexts.get(credential);
  if (text === undefined) expiryTexts.set(credential, (text = new Date(credential.expiresAt).toISOString()));
  return text;
}
/** A refusal that ends a token's path early; thrown inside the token path only, caught in `authenticate`. */
class TokenRefusal {
  constructor(readonly refusal: Refusal) {}
}

export function createAuthenticator(options: AuthenticatorOptions): Required<Authenticator> {
  const config = resolveOptions(options);
  const { store, now, onDecision, tokens } = config;
  const cacheConfig = config.cache;

  const render = new Refusals();
  const refusals = {
    missing: renderFailure('MISSING_API_KEY', messages.missing),
    malformed: renderFailure('INVALID_API_KEY', messages.malformed),
    unknown: renderFailure('INVALID_API_KEY', messages.unknown),
    unknownServiceAccount: renderFailure('INVALID_TOKEN', messages.unknownServiceAccount),
    unavailable: renderFailure('AUTH_UNAVAILABLE', messages.unavailable, config.retryAfterSeconds),
  };
  const noHeaders: Record<string, string> = Object.freeze({}) as Record<string, string>;
  const metering = new Metering<AuthRequest>({
    store,
    now,
    cost: config.cost,
    timeoutMs: config.lookupTimeoutMs,
    retryAfterSeconds: config.retryAfterSeconds,
  });

  // False while the store's invalidation channel is down: every request then asks the store.
  let trusted = true;
  // Store lookups running now, bounded by maxPendingLookups; and their cache keys, aborted when an account changes.
  // (An aborted lookup may still be running beside its retry, so keys are counted, not just noted.)
  let pending = 0;
  const inflight = new Map<string, number>();

  /** Races `work` against the lookup timeout; the signal given to `work` aborts on either the timeout or `signal`. */
  async function withTimeout<T>(work: (signal: AbortSignal) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
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
    try {
      return await Promise.race([work(controller.signal), timeout]);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** One store read for a cache key: a key hash, or `sa:` and a client id. */
  async function askStore(cacheKey: string, signal: AbortSignal | undefined): Promise<Omit<CacheEntry, 'verifiedAt'> | null> {
    pending++;
    inflight.set(cacheKey, (inflight.get(cacheKey) ?? 0) + 1);
    try {
      if (cacheKey.startsWith(SERVICE_ACCOUNT_PREFIX)) {
        const clientId = cacheKey.slice(SERVICE_ACCOUNT_PREFIX.length);
        const record = await withTimeout((s) => store.findServiceAccount!(clientId, { signal: s }), signal);
        if (record === null || record === undefined) return null;
        if (!isValidServiceAccountRecord(record, clientId)) throw new StoreUnavailableError('store-garbled');
        return { credential: serviceAccountCredential(record), secretCreatedAt: record.serviceAccount.secretCreatedAt };
      }
      const record = await withTimeout((s) => store.findByHash(cacheKey, { signal: s }), signal);
      if (record === null || record === undefined) return null;
      if (!isValidKeyRecord(record, cacheKey)) throw new StoreUnavailableError('store-garbled');
      return { credential: keyCredential(record) };
    } catch (error) {
      throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError('store-error', { cause: error });
    } finally {
      pending--;
      const left = (inflight.get(cacheKey) ?? 1) - 1;
      if (left === 0) inflight.delete(cacheKey);
      else inflight.set(cacheKey, left);
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
        fetchMethod: async (cacheKey, old, { signal, options: setOptions }) => {
          try {
            const answer = await askStore(cacheKey, signal);
            if (answer) return { ...answer, verifiedAt: now() };
            // Remember "no such key" only if no invalidation arrived while we asked (it aborts the signal).
            if (!signal.aborted && trusted) negative?.set(cacheKey, true);
            return undefined;
          } catch (error) {
            if (!signal.aborted && old && now() - old.verifiedAt < cacheConfig.staleIfErrorMs) {
              // Keep the old answer for one more try: the next request asks the store again.
              setOptions.ttl = 1;
              return { ...old, stale: true };
            }
            throw error;
          }
        },
      })
    : undefined;

  // Verified tokens, by the token's SHA-256 (never its text), each until its own `exp`. Only the signature and
  // claims are remembered: the service account is judged from the (invalidated) key cache on every request.
  const verifiedTokens =
    tokens && cacheConfig ? new LRUCache<string, VerifiedEntry>({ max: cacheConfig.max, ttlResolution: 0, perf: { now } }) : undefined;

  function onStoreEvent(event: StoreEvent): void {
    switch (event.type) {
      case 'key-changed':
        // Deleting a key whose lookup is in flight aborts it: its waiters look again and see the change.
        positive?.delete(event.keyHash);
        negative?.delete(event.keyHash);
        break;
      case 'service-account-changed':
        positive?.delete(SERVICE_ACCOUNT_PREFIX + event.clientId);
        negative?.delete(SERVICE_ACCOUNT_PREFIX + event.clientId);
        break;
      case 'account-changed':
        // Its metering may have changed: credits held here for it go back to the store.
        metering.accountChanged(event.accountId);
        if (!positive) break;
        for (const [cacheKey, { value }] of positive.dump()) {
          if (value.credential.account.id === event.accountId) positive.delete(cacheKey);
        }
        // A lookup in flight may be reading this account's old row; which account it is for is not known yet.
        for (const cacheKey of [...inflight.keys()]) positive.delete(cacheKey);
        break;
      case 'reset':
        if (event.live) positive?.clear();
        else for (const cacheKey of [...inflight.keys()]) positive?.delete(cacheKey);
        negative?.clear();
        trusted = event.live;
        break;
    }
  }
  const unsubscribe = store.subscribe(onStoreEvent);

  type Lookup = { entry: CacheEntry | null; cache: CacheOutcome };

  /**
   * The common case, a fresh cached answer (or a remembered unknown key), without fetch()'s promise and status
   * object; `undefined` when the store must be asked (or joined) first. Only while the invalidation channel is
   * trusted: otherwise every request asks the store.
   */
  function cachedLookup(cacheKey: string): Lookup | undefined {
    if (!trusted || !positive || !negative) return undefined;
    // Most of the time nobody has tried an unknown key lately: no lookup (and its options object) in an empty cache.
    if (negative.size > 0 && negative.get(cacheKey)) return { entry: null, cache: 'negative-hit' };
    const entry = positive.get(cacheKey);
    return entry ? { entry, cache: 'hit' } : undefined;
  }

  async function lookup(cacheKey: string): Promise<Lookup> {
    if (!positive || !negative) {
      if (pending >= config.maxPendingLookups) throw new StoreUnavailableError('overloaded');
      const answer = await askStore(cacheKey, undefined);
      return { entry: answer && { ...answer, verifiedAt: 0 }, cache: 'none' };
    }
    // A fresh entry is never over the bound below: `has` is true for it.
    const cached = cachedLookup(cacheKey);
    if (cached) return cached;
    // A request for a key already being looked up joins that lookup, so only a new lookup counts against the bound.
    if (pending >= config.maxPendingLookups && !inflight.has(cacheKey) && !(trusted && positive.has(cacheKey))) {
      throw new StoreUnavailableError('overloaded');
    }
    for (let attempt = 1; ; attempt++) {
      const status: LRUCache.Status<string, CacheEntry> = {};
      try {
        const entry = await positive.fetch(cacheKey, { forceRefresh: !trusted, status });
        const cache: CacheOutcome = entry?.stale ? 'stale' : status.fetch === 'hit' ? 'hit' : 'miss';
        return { entry: entry ?? null, cache };
      } catch (error) {
        // A store fault is final. Anything else is an abort: an invalidation landed while the store was asked,
        // so the answer in hand may predate it and is thrown away; look again.
        if (error instanceof StoreUnavailableError || attempt >= MAX_LOOKUP_ATTEMPTS) {
          throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError('store-error', { cause: error });
        }
      }
    }
  }

  /** The token's verified claims, from the cache or the verifier; a refusal is thrown as a {@link TokenRefusal}. */
  async function verifyToken(token: string, hash: string): Promise<VerifiedEntry> {
    const cached = verifiedTokens?.get(hash);
    if (cached) return cached;
    let verified: unknown;
    try {
      verified = await withTimeout((signal) => tokens!.verify(token, { signal }), undefined);
    } catch (error) {
      if (error instanceof TokenVerificationError && error.reason === 'invalid') throw new TokenRefusal(render.invalidToken);
      throw new TokenRefusal({ failure: refusals.unavailable, reason: 'token-unavailable' });
    }
    // A verifier that answers with something else is a fault, never a pass.
    if (!isVerifiedToken(verified)) throw new TokenRefusal({ failure: refusals.unavailable, reason: 'token-unavailable' });
    const entry: VerifiedEntry = { token: verified, scopes: tokenScopes(verified.scopes) };
    const ttl = verified.expiresAt - now();
    if (ttl > 0) verifiedTokens?.set(hash, entry, { ttl });
    return entry;
  }

  /** The decision, handed to `onDecision` and returned on the result itself. Built in one literal: no closures per call. */
  function decide(
    started: number,
    failure: AuthFailure | undefined,
    reason: DecisionReason,
    cache: CacheOutcome,
    kind: DecisionEvent['credential'],
    request: AuthRequest,
    method: string | undefined,
    credential: Credential | undefined,
    verified: VerifiedToken | undefined,
  ): DecisionEvent {
    const origin = request?.origin;
    const decision: DecisionEvent = {
      outcome: failure ? 'refused' : 'allowed',
      status: failure ? failure.status : 200,
      code: failure?.code,
      reason,
      credential: kind,
      keyId: credential?.id,
      keyHint: credential?.kind === 'api_key' ? credential.hint : undefined,
      accountId: credential?.account.id,
      environment: credential?.environment,
      module: request?.module,
      method,
      clientId: verified?.clientId,
      tokenId: verified?.tokenId,
      cache,
      durationMs: onDecision ? performance.now() - started : 0,
      probableLeak: credential?.environment === 'live' && typeof origin === 'string' && origin !== '' ? true : undefined,
    };
    if (onDecision) {
      try {
        onDecision(decision);
      } catch {
        // Logging must never change a decision.
      }
    }
    return decision;
  }

  /**
   * Rows 0-2 and, for a key whose answer is cached, everything after: synchronous unless a credit lease must be
   * taken. Anything that needs the store, the verifier or Web Crypto goes on in {@link authenticateLater}.
   */
  function authenticateNow(request: AuthRequest): AuthResult | Promise<AuthResult> {
    const started = onDecision ? performance.now() : 0;
    const module = request?.module;
    if (module !== undefined) assertModule(module, 'the request module');
    const method = typeof request?.method === 'string' ? request.method : undefined;

    const parsed = parseAuthorization(request?.authorization, tokens !== undefined);
    if (parsed.kind === 'missing') {
      return { ok: false, error: refusals.missing, decision: decide(started, refusals.missing, 'missing', 'none', undefined, request, method, undefined, undefined) };
    }
    if (parsed.kind === 'malformed') {
      return { ok: false, error: refusals.malformed, decision: decide(started, refusals.malformed, 'malformed', 'none', undefined, request, method, undefined, undefined) };
    }
    if (parsed.kind === 'token' || !sha256HexSync) return authenticateLater(request, started, module, method, parsed.kind, parsed.token);
    const hash = sha256HexSync(parsed.token);
    const found = cachedLookup(hash);
    if (!found) return authenticateLater(request, started, module, method, parsed.kind, parsed.token, hash);
    return judge(request, started, module, method, 'api_key', found, undefined, null);
  }

  /** The rest of a decision that has to wait: hashing with Web Crypto, verifying a token, or asking the store. */
  async function authenticateLater(
    request: AuthRequest,
    started: number,
    module: string | undefined,
    method: string | undefined,
    parsedKind: 'api-key' | 'token',
    token: string,
    knownHash?: string,
  ): Promise<AuthResult> {
    const kind = parsedKind === 'api-key' ? 'api_key' : 'oauth_token';
    const hash = knownHash ?? (sha256HexSync ? sha256HexSync(token) : await sha256Hex(token));
    let verified: VerifiedToken | undefined;
    let tokenScopesNow: readonly string[] | null = null;
    if (parsedKind === 'token') {
      let refusal: Refusal | undefined;
      try {
        const entry = await verifyToken(token, hash);
        verified = entry.token;
        tokenScopesNow = entry.scopes;
        if (tokenScopesNow === null) refusal = render.invalidToken;
      } catch (error) {
        if (!(error instanceof TokenRefusal)) throw error;
        refusal = error.refusal;
      }
      if (refusal) {
        const decision = decide(started, refusal.failure, refusal.reason, 'none', kind, request, method, undefined, verified);
        return { ok: false, error: refusal.failure, decision };
      }
    }

    let found: Lookup;
    try {
      found = await lookup(verified ? SERVICE_ACCOUNT_PREFIX + verified.clientId : hash);
    } catch (error) {
      const reason = error instanceof StoreUnavailableError ? error.reason : 'store-error';
      const decision = decide(started, refusals.unavailable, reason, 'none', kind, request, method, undefined, verified);
      return { ok: false, error: refusals.unavailable, decision };
    }
    return judge(request, started, module, method, kind, found, verified, tokenScopesNow);
  }

  /** Rows 3-7c on the looked-up credential: the checks in contract order, then rate limit and credits, then the answer. */
  function judge(
    request: AuthRequest,
    started: number,
    module: string | undefined,
    method: string | undefined,
    kind: 'api_key' | 'oauth_token',
    { entry, cache }: Lookup,
    verified: VerifiedToken | undefined,
    tokenScopesNow: readonly string[] | null,
  ): AuthResult | Promise<AuthResult> {
    if (!entry) {
      const failure = verified ? refusals.unknownServiceAccount : refusals.unknown;
      return { ok: false, error: failure, decision: decide(started, failure, 'unknown', cache, kind, request, method, undefined, verified) };
    }

    let credential = entry.credential;
    if (verified) {
      credential = {
        ...credential,
        scopes: tokenScopesNow!,
        token: {
          id: verified.tokenId,
          expiresAt: verified.expiresAt,
          secretCreatedAt: verified.secretCreatedAt,
          currentSecretCreatedAt: entry.secretCreatedAt!,
          grantedScopes: entry.credential.scopes,
        },
      };
    }
    const at = now();
    const refusal = checkAll(credential, { module, method, now: at }, render);
    if (refusal) {
      const decision = decide(started, refusal.failure, refusal.reason, cache, kind, request, method, credential, verified);
      return { ok: false, error: refusal.failure, decision };
    }

    // Rows 7r and 7c, last: a request refused by any earlier row never counts against a limit nor costs a credit.
    const admitting = metering.admit(credential, request, module, at);
    if (admitting instanceof Promise) {
      return admitting.then((admission) => answer(request, started, module, method, kind, cache, credential, verified, at, admission));
    }
    return answer(request, started, module, method, kind, cache, credential, verified, at, admitting);
  }

  /** The result once rows 7r and 7c are settled: their refusal, or the context and headers of an allowed request. */
  function answer(
    request: AuthRequest,
    started: number,
    module: string | undefined,
    method: string | undefined,
    kind: 'api_key' | 'oauth_token',
    cache: CacheOutcome,
    credential: Credential,
    verified: VerifiedToken | undefined,
    at: number,
    admission: Admission,
  ): AuthResult {
    if (admission.refusal) {
      const { failure, reason } = admission.refusal;
      return { ok: false, error: failure, decision: decide(started, failure, reason, cache, kind, request, method, credential, verified) };
    }

    const context: AuthContext = {
      keyId: credential.id,
      accountId: credential.account.id,
      environment: credential.environment,
      billable: credential.environment === 'live',
      tier: credential.account.tier as AuthContext['tier'],
      surface: credential.surface,
      expiresAt: new Date(credential.token ? credential.token.expiresAt : credential.expiresAt),
      credential: credential.kind,
      scopes: credential.scopes,
    };
    if (module !== undefined) context.module = module;
    if (credential.name !== undefined) context.keyName = credential.name;
    if (credential.token) {
      context.clientId = credential.id;
      context.tokenId = credential.token.id;
    }
    if (admission.creditsRemaining !== undefined) context.creditsRemaining = admission.creditsRemaining;
    // The warning is about the long-lived secret: the key, or the service account's client secret (a token lives minutes).
    let headers =
      credential.expiresAt - at <= EXPIRY_WARNING_MS ? { [EXPIRES_AT_HEADER]: expiryText(credential) } : noHeaders;
    if (admission.headers) headers = headers === noHeaders ? admission.headers : { ...headers, ...admission.headers };
    return { ok: true, context, headers, decision: decide(started, undefined, 'ok', cache, kind, request, method, credential, verified) };
  }

  /** `authenticateNow` as a promise: a throw becomes a rejection, as from an async function, without one's ticks. */
  function authenticate(request: AuthRequest): Promise<AuthResult> {
    try {
      const result = authenticateNow(request);
      return result instanceof Promise ? result : Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  return {
    authenticate,
    authenticateNow,
    flush: () => metering.flush(),
    async close() {
      unsubscribe();
      // Graceful shutdown: unused lease credits go back, the last usage and rate-window counts are sent.
      await metering.close();
      positive?.clear();
      negative?.clear();
      verifiedTokens?.clear();
    },
  };
}
