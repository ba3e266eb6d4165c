// The verifier's `jwks` option turned into one jose key resolver: a URL (fetched, cached, stale on error), a key set, or a source.

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwksCache,
  type ExportedJWKSCache,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWTVerifyGetKey,
} from 'jose';
import { joseCode, toVerificationError } from './verification-errors';

/**
 * Keys from somewhere the verifier cannot fetch itself (a gateway's store). `getKeySet()` is called for each token
 * and should answer from its own cache; `{ refresh: true }` follows a token whose `kid` was not in the set, and may
 * reload (or answer the same set when it just did). Returning the same object again lets the imported keys be reused.
 */
export interface KeySetSource {
  getKeySet(options?: { refresh?: boolean }): Promise<JSONWebKeySet>;
}

/** What `jwks` may be: the key set's URL, the key set itself, a jose key resolver, or a {@link KeySetSource}. */
export type JwksOption = string | URL | JSONWebKeySet | JWTVerifyGetKey | KeySetSource;

export interface RemoteOptions {
  timeoutMs: number;
  cooldownMs: number;
  cacheMaxAgeMs: number;
  staleIfErrorMs: number;
}

/** One local resolver per key-set object, so keys are imported once, not once per token. */
function localResolverCache(): (jwks: JSONWebKeySet) => JWTVerifyGetKey {
  let last: { jwks: JSONWebKeySet; resolve: JWTVerifyGetKey } | undefined;
  return (jwks) => {
    if (last?.jwks !== jwks) last = { jwks, resolve: createLocalJWKSet(jwks) };
    return last.resolve;
  };
}

/**
 * A remote key set through jose (timeout, cache max age, cooldown between refetches on an unknown `kid`). When a
 * refetch fails after the cache went stale, the last good set still answers for `staleIfErrorMs`: a JWKS endpoint
 * that is down for a moment does not turn every request into a 503.
 */
function remoteResolver(url: URL, options: RemoteOptions): JWTVerifyGetKey {
  const cache = {} as JWKSCacheInput;
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: options.timeoutMs,
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs,
    [jwksCache]: cache,
  });
  const local = localResolverCache();
  return async function remoteKey(header, token) {
    try {
      return await remote(header, token);
    } catch (error) {
      const { jwks, uat } = cache as Partial<ExportedJWKSCache>;
      const usable = jwks !== undefined && uat !== undefined && Date.now() < uat + options.cacheMaxAgeMs + options.staleIfErrorMs;
      if (!usable || toVerificationError(error).reason !== 'unavailable') throw error;
      return local(jwks)(header, token);
    }
  };
}

/** A source's set, and on a `kid` it lacks, its refreshed set once. */
function sourceResolver(source: KeySetSource): JWTVerifyGetKey {
  const local = localResolverCache();
  return async function sourceKey(header, token) {
    const first = await source.getKeySet();
    try {
      return await local(first)(header, token);
    } catch (error) {
      if (joseCode(error) !== 'ERR_JWKS_NO_MATCHING_KEY') throw error;
      const second = await source.getKeySet({ refresh: true });
      if (second === first) throw error;
      return local(second)(header, token);
    }
  };
}

const isKeySet = (value: unknown): value is JSONWebKeySet =>
  typeof value === 'object' && value !== null && Array.isArray((value as { keys?: unknown }).keys);

const isSource = (value: unknown): value is KeySetSource =>
  typeof value === 'object' && value !== null && typeof (value as { getKeySet?: unknown }).getKeySet === 'function';

/** The resolver for a `jwks` option; a TypeError names the option when it is none of the accepted forms. */
export function keyResolver(jwks: JwksOption, options: RemoteOptions): JWTVerifyGetKey {
  if (typeof jwks === 'string' || jwks instanceof URL) {
    let url: URL;
    try {
      url = new URL(jwks);
    } catch {
      throw new TypeError('finora-auth: jwks must be an absolute http(s) URL, a JSON Web Key Set, or a key source');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new TypeError(`finora-auth: jwks URL must use https (or http on a private network); got ${url.protocol}`);
    }
    return remoteResolver(url, options);
  }
  if (typeof jwks === 'function') return jwks;
  if (isSource(jwks)) return sourceResolver(jwks);
  if (isKeySet(jwks)) return createLocalJWKSet(jwks);
  throw new TypeError('finora-auth: jwks must be an absolute http(s) URL, a JSON Web Key Set, or a key source');
}
