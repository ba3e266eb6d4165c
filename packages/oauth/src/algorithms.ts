// The JWS algorithms a verifier may be told to accept: asymmetric ones only, so no public key can double as an HMAC secret.

/** Signature algorithms whose verification key is public. `none` and every `HS*` are absent on purpose. */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519',
]);

/** The algorithm the issuer signs with and a verifier accepts unless told otherwise. */
export const DEFAULT_ALGORITHM = 'ES256';

/** Checks a verifier's `algorithms` option; a TypeError names anything that is not an asymmetric algorithm. */
export function resolveAlgorithms(input: readonly string[] | undefined): string[] {
  if (input === undefined) return [DEFAULT_ALGORITHM];
  if (!Array.isArray(input) || input.length === 0) {
    throw new TypeError('finora-auth: algorithms must be a non-empty array of asymmetric JWS algorithms');
  }
  for (const alg of input) {
    if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new TypeError(
        `finora-auth: algorithms may name only ${[...ASYMMETRIC_ALGORITHMS].join(', ')}; got ${JSON.stringify(alg)}`,
      );
    }
  }
  return [...new Set(input)];
}
