// How a failure from jose (or from a key source) becomes a core TokenVerificationError: 'invalid' or 'unavailable'.

import { TokenVerificationError } from '@finora-auth/core';

/** jose error codes that mean "this token is not good", as opposed to "the keys could not be had". */
const INVALID_MESSAGES: Readonly<Record<string, string>> = {
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'the token signature does not verify',
  ERR_JWS_INVALID: 'the token is not a well-formed JWS',
  ERR_JWT_INVALID: 'the token is not a well-formed JWT',
  ERR_JWT_EXPIRED: 'the token has expired',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'a token claim or header is not as required',
  ERR_JOSE_ALG_NOT_ALLOWED: 'the token algorithm is not allowed',
  ERR_JOSE_NOT_SUPPORTED: 'the token uses an unsupported algorithm or key',
  ERR_JWKS_NO_MATCHING_KEY: 'no published key matches the token',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'more than one published key matches the token',
};

/** The jose error code of `error`, when it is a jose error. */
export function joseCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_J') ? code : undefined;
}

/**
 * Maps a failure to `invalid` (the token's fault: 401) or `unavailable` (the key set's: 503). Anything not known to
 * be the token's fault (a fetch that timed out, a 500, JSON that is not a key set, a thrown key source) is
 * `unavailable`: never a pass, and never blamed on a holder whose token may be fine. The message is ours, fixed
 * text: it never carries the token, nor a jose message that might quote a claim.
 */
export function toVerificationError(error: unknown): TokenVerificationError {
  if (error instanceof TokenVerificationError) return error;
  const code = joseCode(error);
  const invalid = code === undefined ? undefined : INVALID_MESSAGES[code];
  if (invalid !== undefined) {
    // A JWTClaimValidationFailed names the claim (never its value); keep that much, it helps the holder.
    const claim = (error as { claim?: unknown }).claim;
    const detail = code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && typeof claim === 'string' && /^[a-z_]{1,16}$/.test(claim) ? `: ${claim}` : '';
    return new TokenVerificationError('invalid', `finora-auth: ${invalid}${detail}`);
  }
  const why = code === 'ERR_JWKS_TIMEOUT' ? 'timed out' : 'failed';
  return new TokenVerificationError('unavailable', `finora-auth: fetching the token signing keys ${why}`, { cause: error });
}
