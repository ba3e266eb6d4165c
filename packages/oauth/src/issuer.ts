// createTokenIssuer: the token endpoint, the key set and the metadata as one fetch-style handler, over a KeyStore.

import type { KeyStore, TokenVerifier } from '@finora-auth/core';
import { importOperatorSecret, operatorSecretBytes } from './key-encryption';
import { issuerEndpoints } from './metadata';
import { oauthError, publicJson } from './oauth-responses';
import { createKeyRing, type SigningKeyInfo } from './signing-keys';
import { createFailureThrottle, type ThrottleOptions } from './throttle';
import { handleTokenRequest } from './token-endpoint';
import { createTokenVerifier } from './verifier';

export interface TokenIssuerOptions {
  /** A store with the v2 service-account and signing-key methods (`findServiceAccount`, `listSigningKeys`, ...). */
  store: KeyStore;
  /** The issuer's URL, the tokens' `iss` (without a trailing slash); endpoints live under it. */
  issuer: string;
  /** The tokens' `aud`: what verifiers of this API expect. */
  audience: string;
  /**
   * The operator secret, 32 bytes or more: signing keys are sealed under it before they reach the store, so a copy
   * of the database alone cannot mint tokens. Every gateway on one store needs the same one.
   */
  secret: string | Uint8Array;
  /** Token lifetime in seconds; default 900 (15 minutes), from 60 to 86400. A token never outlives its client secret. */
  tokenTtlSeconds?: number;
  /** Clock tolerance of `issuer.verifier`, in seconds; default 5. Retired keys stay published this much longer too. */
  clockToleranceSeconds?: number;
  /** How old the local copy of the store's signing keys may get before it is read again, in ms; default 30000. */
  keyReloadMs?: number;
  /** Failed client authentications allowed per client id and per caller address; `false` turns it off. Defaults in {@link ThrottleOptions}. */
  throttle?: ThrottleOptions | false;
  /** Epoch ms; default `Date.now`. */
  now?: () => number;
  /** Told of faults a client only sees as a 5xx (store down, a key that will not open); never a credential. Default: none. */
  onError?: (error: unknown) => void;
}

export interface HandleOptions {
  /** The caller's address, for throttling failed client authentications per address. */
  clientAddress?: string;
}

export interface TokenIssuer {
  /** The issuer's URL as tokens carry it (`iss`). */
  readonly issuer: string;
  /** Answers the OAuth endpoints; `null` when the request's path is none of them (the caller routes it on). */
  handle(request: Request, options?: HandleOptions): Promise<Response | null>;
  /** Adds a signing key and retires the others (they stay published while their tokens may live). */
  rotateSigningKey(): Promise<SigningKeyInfo>;
  listSigningKeys(): Promise<SigningKeyInfo[]>;
  /** Verifies this store's tokens from the store's keys, without HTTP: any gateway on the store verifies any other's tokens. */
  readonly verifier: TokenVerifier;
}

/** Cache lifetime of the key set and metadata documents, in seconds: short, so a rotation is seen within minutes. */
const PUBLIC_MAX_AGE_SECONDS = 60;

function requireStore(store: KeyStore) {
  const { findServiceAccount, listSigningKeys, insertSigningKey, retireSigningKey } = store ?? {};
  if (!findServiceAccount || !listSigningKeys || !insertSigningKey || !retireSigningKey) {
    throw new TypeError(
      'finora-auth: the store lacks the v2 methods the OAuth issuer needs (findServiceAccount, listSigningKeys, insertSigningKey, retireSigningKey)',
    );
  }
  return {
    findServiceAccount: findServiceAccount.bind(store),
    listSigningKeys: listSigningKeys.bind(store),
    insertSigningKey: insertSigningKey.bind(store),
    retireSigningKey: retireSigningKey.bind(store),
  };
}

function wholeNumber(value: number | undefined, fallback: number, option: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`finora-auth: ${option} must be a whole number from ${min} to ${max}; got ${String(value)}`);
  }
  return value;
}

export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  const store = requireStore(options.store);
  const endpoints = issuerEndpoints(options.issuer);
  const issuer = endpoints.metadata.issuer as string;
  if (typeof options.audience !== 'string' || options.audience.length === 0) {
    throw new TypeError('finora-auth: audience must be a non-empty string');
  }
  const audience = options.audience;
  const tokenTtlSeconds = wholeNumber(options.tokenTtlSeconds, 900, 'tokenTtlSeconds', 60, 86_400);
  const clockToleranceSeconds = wholeNumber(options.clockToleranceSeconds, 5, 'clockToleranceSeconds', 0, 300);
  const keyReloadMs = wholeNumber(options.keyReloadMs, 30_000, 'keyReloadMs', 0, 3_600_000);
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => {});
  const throttle = createFailureThrottle(options.throttle, now);
  const secretBytes = operatorSecretBytes(options.secret);

  const ringPromise = importOperatorSecret(secretBytes).then((secret) =>
    createKeyRing({
      store,
      secret,
      now,
      publishForMs: (tokenTtlSeconds + clockToleranceSeconds) * 1000,
      reloadAfterMs: keyReloadMs,
      missReloadAfterMs: Math.min(keyReloadMs, 1_000),
    }),
  );
  ringPromise.catch(() => {}); // each use awaits it and sees the failure itself
  const ring = {
    signer: async () => (await ringPromise).signer(),
    publicKeySet: async (refresh?: boolean) => (await ringPromise).publicKeySet(refresh),
    rotate: async () => (await ringPromise).rotate(),
    list: async () => (await ringPromise).list(),
  };
  const tokenContext = {
    findServiceAccount: store.findServiceAccount,
    keys: ring,
    throttle,
    issuer,
    audience,
    tokenTtlSeconds,
    now,
    onError,
  };

  async function handle(request: Request, handleOptions?: HandleOptions): Promise<Response | null> {
    const { pathname } = new URL(request.url);
    const method = request.method.toUpperCase();
    if (pathname === endpoints.tokenPath) {
      if (method !== 'POST') return oauthError('invalid_request', 'the token endpoint takes POST', { status: 405, headers: { Allow: 'POST' } });
      return handleTokenRequest(tokenContext, request, handleOptions?.clientAddress);
    }
    const isJwks = pathname === endpoints.jwksPath;
    if (!isJwks && pathname !== endpoints.metadataPath) return null;
    if (method !== 'GET' && method !== 'HEAD') {
      return oauthError('invalid_request', 'this document is read with GET', { status: 405, headers: { Allow: 'GET, HEAD' } });
    }
    if (!isJwks) return publicJson(endpoints.metadata, PUBLIC_MAX_AGE_SECONDS);
    try {
      return publicJson(await ring.publicKeySet(), PUBLIC_MAX_AGE_SECONDS);
    } catch (error) {
      onError(error);
      return oauthError('temporarily_unavailable', 'the key set cannot be read now; retry shortly', { headers: { 'Retry-After': '5' } });
    }
  }

  return {
    issuer,
    handle,
    rotateSigningKey: ring.rotate,
    listSigningKeys: ring.list,
    verifier: createTokenVerifier({
      issuer,
      audience,
      clockToleranceSeconds,
      now,
      jwks: { getKeySet: (refresh) => ring.publicKeySet(refresh?.refresh) },
    }),
  };
}
