// The RFC 9068 access-token profile as finora-auth uses it: the claim names, and a verified payload as a core VerifiedToken.

import { TokenVerificationError, type VerifiedToken } from '@finora-auth/core';
import type { JWTPayload } from 'jose';

/** The `typ` header of an RFC 9068 access token (`application/at+jwt` is the same media type and is accepted). */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Claims every token must carry; jose refuses a token that lacks one before the checks below run. */
export const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope', 'fsa'];

/** The longest `jti`, `client_id` or `scope` accepted: far beyond what the issuer makes, short of abuse. */
const MAX_CLAIM_LENGTH = 2_048;

const text = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_CLAIM_LENGTH;
const time = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

function refuse(claim: string): never {
  throw new TokenVerificationError('invalid', `finora-auth: the token claim ${claim} is missing or malformed`);
}

/** A payload whose signature and registered claims jose verified, checked for the finora-auth claims and shaped for the core. */
export function toVerifiedToken(payload: JWTPayload): VerifiedToken {
  const { sub, jti, exp, iat, client_id: clientId, scope, fsa } = payload as JWTPayload & Record<string, unknown>;
  if (!text(clientId)) refuse('client_id');
  if (sub !== clientId) refuse('sub');
  if (!text(jti)) refuse('jti');
  if (typeof scope !== 'string' || scope.length > MAX_CLAIM_LENGTH) refuse('scope');
  if (!time(exp)) refuse('exp');
  if (!time(iat)) refuse('iat');
  if (!time(fsa)) refuse('fsa');
  return {
    clientId,
    tokenId: jti,
    scopes: scope.split(' ').filter((entry) => entry.length > 0),
    expiresAt: exp * 1000,
    issuedAt: iat * 1000,
    secretCreatedAt: fsa,
  };
}
