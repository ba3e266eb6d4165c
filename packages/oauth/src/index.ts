// @finora-auth/oauth: OAuth 2.0 service accounts (client-credentials tokens, JWKS, verification) on jose, for any runtime.

export { ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHM } from './algorithms';
export { ACCESS_TOKEN_TYPE } from './claims';
export type { JwksOption, KeySetSource } from './key-sources';
export { MAX_TOKEN_LENGTH, createTokenVerifier } from './verifier';
export type { TokenVerifierOptions } from './verifier';
export { createTokenIssuer } from './issuer';
export type { HandleOptions, TokenIssuer, TokenIssuerOptions } from './issuer';
export { MIN_SECRET_BYTES, SigningKeyError } from './key-encryption';
export type { OAuthErrorCode } from './oauth-responses';
export type { SigningKeyInfo } from './signing-keys';
export type { ThrottleOptions } from './throttle';
