// createTokenVerifier: the core's TokenVerifier over jose, for access tokens in the RFC 9068 profile.

import { TokenVerificationError, isCompactJws, type TokenVerifier, type VerifiedToken } from '@finora-auth/core';
import { jwtVerify, type JWTVerifyGetKey } from 'jose';
import { resolveAlgorithms } from './algorithms';
import { ACCESS_TOKEN_TYPE, REQUIRED_CLAIMS, toVerifiedToken } from './claims';
import { keyResolver, type JwksOption } from './key-sources';
import { toVerificationError } from './verification-errors';

/** The longest token looked at: anything longer is refused before it is parsed. */
export const MAX_TOKEN_LENGTH = 8_192;

export interface TokenVerifierOptions {
  /** The `iss` every token must carry, exactly (the issuer's URL). */
  issuer: string;
  /** The `aud` a token must carry (one of them, when several are given). */
  audience: string | readonly string[];
  /**
   * Where the verification keys come from: the key set's URL (fetched with a timeout, cached, refetched at most
   * once per `cooldownMs` on an unknown `kid`), a JSON Web Key Set, a jose key resolver such as
   * `createLocalJWKSet(...)`, or a {@link KeySetSource} (`{ getKeySet }`).
   */
  jwks: JwksOption;
  /** Leeway for `exp`, `nbf` and `iat` between clocks, in seconds; default 5, at most 300. */
  clockToleranceSeconds?: number;
  /** Accepted JWS algorithms, asymmetric only; default `['ES256']`. `none` and `HS*` are a TypeError. */
  algorithms?: readonly string[];
  /** URL `jwks` only: how long one key-set fetch may take, in ms; default 5000. */
  timeoutMs?: number;
  /** URL `jwks` only: the least time between refetches caused by an unknown `kid`, in ms; default 30000. */
  cooldownMs?: number;
  /** URL `jwks` only: how long a fetched key set is used before it is fetched again, in ms; default 600000 (10 min). */
  cacheMaxAgeMs?: number;
  /** URL `jwks` only: how long past `cacheMaxAgeMs` the last good key set still answers while refetches fail, in ms; default 3600000 (1 h). */
  staleIfErrorMs?: number;
  /** The clock for `exp`, `nbf` and `iat`, epoch ms; default `Date.now`. */
  now?: () => number;
}

function duration(value: number | undefined, fallback: number, option: string, max = 86_400_000): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new TypeError(`finora-auth: ${option} must be a whole number from 0 to ${max}; got ${String(value)}`);
  }
  return value;
}

function audiences(value: string | readonly string[]): string[] {
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? [...value] : [];
  if (list.length === 0 || !list.every((entry) => typeof entry === 'string' && entry.length > 0)) {
    throw new TypeError('finora-auth: audience must be a non-empty string or a non-empty array of them');
  }
  return list;
}

/** Rejects when `signal` aborts first: the caller's lookup timeout bounds a slow key-set fetch too. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  const aborted = () => new TokenVerificationError('unavailable', 'finora-auth: token verification was cancelled');
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A TokenVerifier for `createAuthenticator({ tokens })`; options are checked here, once. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  if (typeof options?.issuer !== 'string' || options.issuer.length === 0) {
    throw new TypeError('finora-auth: issuer must be the issuer URL tokens carry as iss');
  }
  const issuer = options.issuer;
  const audience = audiences(options.audience);
  const algorithms = resolveAlgorithms(options.algorithms);
  const clockTolerance = duration(options.clockToleranceSeconds, 5, 'clockToleranceSeconds', 300);
  const now = options.now ?? Date.now;
  const getKey: JWTVerifyGetKey = keyResolver(options.jwks, {
    timeoutMs: duration(options.timeoutMs, 5_000, 'timeoutMs', 60_000),
    cooldownMs: duration(options.cooldownMs, 30_000, 'cooldownMs'),
    cacheMaxAgeMs: duration(options.cacheMaxAgeMs, 600_000, 'cacheMaxAgeMs'),
    staleIfErrorMs: duration(options.staleIfErrorMs, 3_600_000, 'staleIfErrorMs'),
  });
  const verifyOptions = { issuer, audience, algorithms, typ: ACCESS_TOKEN_TYPE, clockTolerance, requiredClaims: REQUIRED_CLAIMS };

  async function verifyToken(token: string): Promise<VerifiedToken> {
    try {
      const { payload } = await jwtVerify(token, getKey, { ...verifyOptions, currentDate: new Date(now()) });
      return toVerifiedToken(payload);
    } catch (error) {
      throw toVerificationError(error);
    }
  }

  return {
    verify(token, verifyCallOptions) {
      if (typeof token !== 'string' || !isCompactJws(token, MAX_TOKEN_LENGTH)) {
        return Promise.reject(new TokenVerificationError('invalid', 'finora-auth: the token is not a compact JWS of at most 8 KB'));
      }
      return raceAbort(verifyToken(token), verifyCallOptions?.signal);
    },
  };
}
