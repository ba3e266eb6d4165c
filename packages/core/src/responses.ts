// Renders every decision as HTTP: status, RFC 6750 challenge, JSON body. Adapters copy these, never format them.

/** Every refusal code; a closed union, so `switch (failure.code)` can be exhaustive. */
export type AuthErrorCode =
  | 'MISSING_API_KEY'
  | 'INVALID_API_KEY'
  | 'INVALID_TOKEN'
  | 'PREMIUM_REQUIRED'
  | 'ENTERPRISE_ONLY'
  | 'INSUFFICIENT_SCOPE'
  | 'RATE_LIMITED'
  | 'CREDITS_EXHAUSTED'
  | 'AUTH_UNAVAILABLE';

export const AUTH_ERROR_CODES: readonly AuthErrorCode[] = Object.freeze([
  'MISSING_API_KEY', 'INVALID_API_KEY', 'INVALID_TOKEN', 'PREMIUM_REQUIRED', 'ENTERPRISE_ONLY',
  'INSUFFICIENT_SCOPE', 'RATE_LIMITED', 'CREDITS_EXHAUSTED', 'AUTH_UNAVAILABLE',
]);

export interface AuthFailure {
  status: 401 | 402 | 403 | 429 | 503;
  code: AuthErrorCode;
  message: string;
  headers: Record<string, string>;
  body: { error: { code: string; message: string } };
}

const STATUS: Record<AuthErrorCode, AuthFailure['status']> = {
  MISSING_API_KEY: 401,
  INVALID_API_KEY: 401,
  INVALID_TOKEN: 401,
  PREMIUM_REQUIRED: 403,
  ENTERPRISE_ONLY: 403,
  INSUFFICIENT_SCOPE: 403,
  RATE_LIMITED: 429,
  CREDITS_EXHAUSTED: 402,
  AUTH_UNAVAILABLE: 503,
};

const REALM = 'Bearer realm="finora"';
const SCOPE_TEXT = /^[a-z0-9:_ -]{1,200}$/;

function challenge(code: AuthErrorCode): string | undefined {
  switch (code) {
    case 'MISSING_API_KEY':
      return REALM;
    case 'INVALID_API_KEY':
    case 'INVALID_TOKEN':
      return `${REALM}, error="invalid_token"`;
    case 'PREMIUM_REQUIRED':
    case 'ENTERPRISE_ONLY':
    case 'INSUFFICIENT_SCOPE':
      return `${REALM}, error="insufficient_scope"`;
    case 'RATE_LIMITED':
    case 'CREDITS_EXHAUSTED':
    case 'AUTH_UNAVAILABLE':
      return undefined;
  }
}

/** What some refusals carry beyond code and message. */
export interface RenderOptions {
  /** `Retry-After` of an `AUTH_UNAVAILABLE`, in seconds. Default: 1. */
  retryAfterSeconds?: number;
  /** (v2) For `INSUFFICIENT_SCOPE`: the scope that would allow the request, named in the challenge's `scope=`. */
  scope?: string;
  /** (v2) More headers (the `RateLimit` fields of a 429). */
  headers?: Record<string, string>;
}

/**
 * Builds a refusal. `message` is for a person and must never contain a key: callers pass dates, module
 * names and fixed text only. The third argument may be the `Retry-After` seconds alone, as in v1.
 */
export function renderFailure(code: AuthErrorCode, message: string, options: number | RenderOptions = 1): AuthFailure {
  const { retryAfterSeconds = 1, scope, headers: extra } = typeof options === 'number' ? { retryAfterSeconds: options } : options;
  const headers: Record<string, string> = { ...extra, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
  let wwwAuthenticate = challenge(code);
  // Only scope-token characters reach the header: nothing a caller passes can end the quoted string.
  if (wwwAuthenticate && code === 'INSUFFICIENT_SCOPE' && scope !== undefined && SCOPE_TEXT.test(scope)) {
    wwwAuthenticate += `, scope="${scope}"`;
  }
  if (wwwAuthenticate) headers['WWW-Authenticate'] = wwwAuthenticate;
  if (code === 'AUTH_UNAVAILABLE' || code === 'RATE_LIMITED') headers['Retry-After'] = String(retryAfterSeconds);
  return deepFreeze({ status: STATUS[code], code, message, headers, body: { error: { code, message } } });
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) if (inner && typeof inner === 'object') deepFreeze(inner as object);
  return Object.freeze(value);
}

const day = (epochMs: number) => new Date(epochMs).toISOString();

export const messages = {
  missing: 'No API key. Send it as "Authorization: Bearer <key>".',
  malformed:
    'The Authorization header must be "Bearer <key>", where the key is live_sk_ or test_sk_ followed by 48 lowercase hex characters.',
  unknown: 'This API key is not recognised.',
  revoked: (at: number) => `This API key was revoked at ${day(at)}. Use a current key.`,
  expired: (at: number) => `This API key expired at ${day(at)}. Keys expire 90 days after creation: generate a new key and rotate.`,
  freeTier: 'API access needs a Premium or Accountant Pro subscription.',
  enterpriseOnly: (module: string) =>
    `The ${module} module needs an enterprise-provisioned API key. Retail keys reach the core accounting modules only.`,
  unavailable: 'Authentication is temporarily unavailable. Retry shortly.',
  // v2
  insufficientScope: (scope: string) =>
    `This credential's scopes do not allow this request: it needs the ${scope} scope (or a wider one).`,
  invalidToken: 'This access token is not valid (signature, issuer, audience or lifetime). Request a new token.',
  unknownServiceAccount: 'This access token belongs to no known service account.',
  serviceAccountRevoked: (at: number) => `The service account of this access token was revoked at ${day(at)}.`,
  serviceAccountExpired: (at: number) =>
    `The client secret of this access token's service account expired at ${day(at)}: rotate the secret and request a new token.`,
  tokenSuperseded: "This access token was issued before the service account's client secret was rotated. Request a new token.",
  tokenScopeExceeded: 'This access token claims scopes its service account no longer has. Request a new token.',
  rateLimited: (requests: number, perSeconds: number, retryAfter: number) =>
    `This credential is over its rate limit of ${requests} requests per ${perSeconds} seconds. Retry in ${retryAfter} seconds.`,
  creditsExhausted:
    "This account's credits cannot pay for this request. Add credits to continue; test keys never spend credits.",
} as const;

/** How close to expiry a key must be before responses carry `Finora-Key-Expires-At`. */
export const EXPIRY_WARNING_MS = 14 * 24 * 60 * 60 * 1000;
export const EXPIRES_AT_HEADER = 'Finora-Key-Expires-At';
