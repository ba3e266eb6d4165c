// The rules after lookup, in contract order: small pure functions over a credential, each a refusal or nothing.

import { isEnterpriseModule } from './catalog';
import { messages, renderFailure, type AuthFailure } from './responses';
import { FULL_ACCESS, requiredLevel, scopeNeeded, scopesAllow, scopesWithin } from './scopes';
import type { Account, Environment, RateLimit, Surface } from './types';

/** Why a request was refused (or `ok`), for logs and metrics: finer than the refusal code. */
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
  | 'overloaded'
  // v2
  | 'insufficient-scope'
  /** The token failed verification, or its own `exp` has passed. */
  | 'invalid-token'
  /** The token was minted under a secret the service account no longer has (a rotation ended it). */
  | 'token-superseded'
  /** The token claims scopes its service account does not have now. */
  | 'token-scope-exceeded'
  /** The token issuer's key set could not be had, or verification failed in any other way. */
  | 'token-unavailable'
  /** (7r) Over the credential's rate limit. */
  | 'rate-limited'
  /** (7c) The account's credits cannot pay for this live request. */
  | 'credits-exhausted'
  /** `credits.cost` threw or did not return a whole number of credits >= 0: refused rather than served free. */
  | 'cost-invalid';

/**
 * What the checks judge: a key, or a service account behind a verified token, with its account, normalised.
 * For a key it is built once per store answer and cached with it.
 */
export interface Credential {
  kind: 'api_key' | 'oauth_token';
  /** The key id, or the service account's client id. */
  id: string;
  /** The key's display hint, or the service account's secret hint. */
  hint: string;
  account: Account;
  environment: Environment;
  surface: Surface;
  name?: string;
  /** Normalised; full access is {@link FULL_ACCESS} itself. For a token, the token's scopes. */
  scopes: readonly string[];
  /** Epoch ms: the key's, or the service account's current secret's, expiry. */
  expiresAt: number;
  revokedAt?: number;
  /** OAuth tokens only. */
  token?: CredentialToken;
  /** (v2) The key's own rate limit, else its account's; absent: none. */
  rateLimit?: RateLimit;
}

/** What a verified token adds to its service account. */
export interface CredentialToken {
  /** The JWT's `jti`. */
  id: string;
  /** Epoch ms (`exp`). */
  expiresAt: number;
  /** The secret generation the token was minted under, and the service account's current one. */
  secretCreatedAt: number;
  currentSecretCreatedAt: number;
  /** The service account's scopes now; the token's may narrow them, never widen them. */
  grantedScopes: readonly string[];
}

export interface CheckRequest {
  module: string | undefined;
  method: string | undefined;
  /** Epoch ms. */
  now: number;
}

export interface Refusal {
  failure: AuthFailure;
  reason: DecisionReason;
}

/** A rule: a refusal, or `undefined` to let the next rule judge. Pure, apart from memoised rendering. */
export type Check = (credential: Credential, request: CheckRequest, render: Refusals) => Refusal | undefined;

/** Rendered refusals, built once per authenticator; the ones that depend only on a module or scope are memoised. */
export class Refusals {
  readonly freeTier: Refusal = { failure: renderFailure('PREMIUM_REQUIRED', messages.freeTier), reason: 'free-tier' };
  readonly invalidToken: Refusal = { failure: renderFailure('INVALID_TOKEN', messages.invalidToken), reason: 'invalid-token' };
  readonly superseded: Refusal = { failure: renderFailure('INVALID_TOKEN', messages.tokenSuperseded), reason: 'token-superseded' };
  readonly scopeExceeded: Refusal = { failure: renderFailure('INVALID_TOKEN', messages.tokenScopeExceeded), reason: 'token-scope-exceeded' };
  readonly #enterprise = new Map<string, Refusal>();
  readonly #scope = new Map<string, Refusal>();

  enterprise(module: string): Refusal {
    let refusal = this.#enterprise.get(module);
    if (!refusal) {
      refusal = { failure: renderFailure('ENTERPRISE_ONLY', messages.enterpriseOnly(module)), reason: 'not-enterprise' };
      this.#enterprise.set(module, refusal);
    }
    return refusal;
  }

  /** `scope`: the scope that would allow the request; there are at most two per catalog module, plus two bare. */
  insufficientScope(scope: string): Refusal {
    let refusal = this.#scope.get(scope);
    if (!refusal) {
      refusal = {
        failure: renderFailure('INSUFFICIENT_SCOPE', messages.insufficientScope(scope), { scope }),
        reason: 'insufficient-scope',
      };
      this.#scope.set(scope, refusal);
    }
    return refusal;
  }
}

export const revoked: Check = (credential) => {
  if (credential.revokedAt === undefined) return undefined;
  return credential.kind === 'api_key'
    ? { failure: renderFailure('INVALID_API_KEY', messages.revoked(credential.revokedAt)), reason: 'revoked' }
    : { failure: renderFailure('INVALID_TOKEN', messages.serviceAccountRevoked(credential.revokedAt)), reason: 'revoked' };
};

export const expired: Check = (credential, request) => {
  if (request.now < credential.expiresAt) return undefined;
  return credential.kind === 'api_key'
    ? { failure: renderFailure('INVALID_API_KEY', messages.expired(credential.expiresAt)), reason: 'expired' }
    : { failure: renderFailure('INVALID_TOKEN', messages.serviceAccountExpired(credential.expiresAt)), reason: 'expired' };
};

/** Tokens only: still within its own `exp`, minted under the current secret, and no wider than its service account. */
export const tokenCurrent: Check = (credential, request, render) => {
  const token = credential.token;
  if (!token) return undefined;
  if (request.now >= token.expiresAt) return render.invalidToken;
  if (token.secretCreatedAt !== token.currentSecretCreatedAt) return render.superseded;
  if (!scopesWithin(credential.scopes, token.grantedScopes)) return render.scopeExceeded;
  return undefined;
};

export const tier: Check = (credential, _request, render) => (credential.account.tier === 'free' ? render.freeTier : undefined);

export const enterprise: Check = (credential, request, render) => {
  const module = request.module;
  return module !== undefined && isEnterpriseModule(module) && (credential.surface !== 'enterprise' || !credential.account.enterprise)
    ? render.enterprise(module)
    : undefined;
};

/**
 * GET, HEAD and OPTIONS need `read`, every other method `write`. A caller that gives no method (v1) is judged as
 * needing `write`: a full-access credential passes as before, a scoped one is never let through on a guess.
 */
export const scope: Check = (credential, request, render) => {
  if (credential.scopes === FULL_ACCESS) return undefined;
  const level = requiredLevel(request.method);
  return scopesAllow(credential.scopes, level, request.module) ? undefined : render.insufficientScope(scopeNeeded(level, request.module));
};

/**
 * Every rule after lookup, in contract order (rows 4-7s). Rate limits (7r) and credits (7c) go after `scope`:
 * a request refused by an earlier rule must never count against a limit or cost a credit. A rule added here is
 * added to {@link checkAll} too (checks.test.ts proves the two agree).
 */
export const CHECKS: readonly Check[] = Object.freeze([revoked, expired, tokenCurrent, tier, enterprise, scope]);

/**
 * {@link CHECKS}, unrolled: what the hot path runs. Calls through the array are megamorphic (never inlined) and
 * cost about 5% of a cached decision in CPU time on Node 20 (see docs/design.md); direct calls cost nothing
 * measurable.
 */
export function checkAll(credential: Credential, request: CheckRequest, render: Refusals): Refusal | undefined {
  return (
    revoked(credential, request, render) ??
    expired(credential, request, render) ??
    tokenCurrent(credential, request, render) ??
    tier(credential, request, render) ??
    enterprise(credential, request, render) ??
    scope(credential, request, render)
    // 7r (rate limit) and 7c (credits) are not pure: they count and spend, so they run after every check here
    // allowed the request, in metering.ts, rate limit first, credits last.
  );
}

/** The first refusal of `checks`, or `undefined` when the credential may make this request. */
export function runChecks(
  checks: readonly Check[],
  credential: Credential,
  request: CheckRequest,
  render: Refusals,
): Refusal | undefined {
  for (let i = 0; i < checks.length; i++) {
    const refusal = checks[i]!(credential, request, render);
    if (refusal) return refusal;
  }
  return undefined;
}
