// (v2) What the core knows of OAuth 2.0 access tokens: an interface. Verifying one (jose, JWKS) lives in @finora-auth/oauth.

/** The claims of an access token whose signature, `typ`, `iss`, `aud`, `exp` and `nbf` were verified. */
export interface VerifiedToken {
  /** The service account's client id (`client_id`, equal to `sub`). */
  clientId: string;
  /** The JWT's `jti`. */
  tokenId: string;
  /** The token's `scope` claim, split on spaces (not yet checked against the service account). */
  scopes: string[];
  /** Epoch milliseconds (`exp`). */
  expiresAt: number;
  /** Epoch milliseconds (`iat`). */
  issuedAt: number;
  /**
   * Epoch milliseconds: the service account's `secretCreatedAt` the token was minted under (claim `fsa`). The core
   * refuses a token whose value differs from the service account's current one: a rotation ends older tokens.
   */
  secretCreatedAt: number;
}

/**
 * Verifies access tokens for `createAuthenticator({ tokens })`. `verify` resolves with the claims, or rejects with a
 * {@link TokenVerificationError}: `invalid` (401 `INVALID_TOKEN`) or `unavailable` (the key set could not be had:
 * 503 `AUTH_UNAVAILABLE`). Any other rejection is treated as `unavailable`: never a pass.
 */
export interface TokenVerifier {
  verify(token: string, options?: { signal?: AbortSignal }): Promise<VerifiedToken>;
}

/** Why a token was not verified. The message never contains the token. */
export class TokenVerificationError extends Error {
  override readonly name = 'TokenVerificationError';
  constructor(
    readonly reason: 'invalid' | 'unavailable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A compact JWS: three base64url parts joined by dots, the first starting `eyJ` (a JSON object). Checked in linear
 * time; anything longer than `maxLength` is not one (a 64 KB header is refused without parsing).
 */
export function isCompactJws(value: string, maxLength = 8_192): boolean {
  if (value.length > maxLength || value.length < 10 || !value.startsWith('eyJ')) return false;
  let dots = 0;
  let partLength = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x2e) {
      if (partLength === 0) return false;
      dots++;
      partLength = 0;
      continue;
    }
    const base64url =
      (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x5f;
    if (!base64url) return false;
    partLength++;
  }
  return dots === 2 && partLength > 0;
}
