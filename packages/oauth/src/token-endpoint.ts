// POST /oauth/token: the client-credentials grant (RFC 6749 §4.4) for finora-auth service accounts.

import type { KeyStore, ServiceAccountRecord } from '@finora-auth/core';
import { SignJWT, base64url } from 'jose';
import { ACCESS_TOKEN_TYPE } from './claims';
import { readClientCredentials } from './client-auth';
import { readForm } from './form';
import { SigningKeyError } from './key-encryption';
import { json, oauthError } from './oauth-responses';
import { grantScopes } from './scope-grant';
import { secretMatches } from './secret-digest';
import type { KeyRing } from './signing-keys';
import type { FailureThrottle } from './throttle';

export interface TokenEndpointContext {
  findServiceAccount: NonNullable<KeyStore['findServiceAccount']>;
  keys: KeyRing;
  throttle: FailureThrottle;
  issuer: string;
  audience: string;
  tokenTtlSeconds: number;
  now: () => number;
  /** Called with a fault the caller is not told about (a store or key failure); never with a credential. */
  onError: (error: unknown) => void;
}

const FULL_ACCESS = ['write'];
/** Seconds a client is asked to wait when the store or the signing keys are down. */
const RETRY_AFTER_SECONDS = '5';

const unavailable = () =>
  oauthError('temporarily_unavailable', 'the token service cannot reach its store; retry shortly', {
    headers: { 'Retry-After': RETRY_AFTER_SECONDS },
  });

function usable(record: ServiceAccountRecord | null, at: number): record is ServiceAccountRecord {
  if (!record) return false;
  const { serviceAccount } = record;
  return serviceAccount.revokedAt === undefined && at < serviceAccount.expiresAt;
}

export async function handleTokenRequest(
  context: TokenEndpointContext,
  request: Request,
  clientAddress: string | undefined,
): Promise<Response> {
  const read = await readForm(request);
  if (!read.ok) return oauthError('invalid_request', read.description, { status: read.status });
  const { form } = read;

  const grantType = form.get('grant_type');
  if (grantType === null) return oauthError('invalid_request', 'grant_type is required');
  if (grantType !== 'client_credentials') {
    return oauthError('unsupported_grant_type', 'this server issues tokens for the client_credentials grant only');
  }

  const credentials = readClientCredentials(request.headers.get('authorization'), form);
  if (!credentials.ok) return oauthError(credentials.error, credentials.description);
  const { clientId, clientSecret } = credentials;

  const throttleKeys = clientAddress === undefined ? [`client:${clientId}`] : [`client:${clientId}`, `address:${clientAddress}`];
  const wait = context.throttle.retryAfter(throttleKeys);
  if (wait !== undefined) {
    return oauthError('temporarily_unavailable', 'too many failed client authentications; retry later', {
      status: 429,
      headers: { 'Retry-After': String(wait) },
    });
  }

  let record: ServiceAccountRecord | null;
  try {
    record = await context.findServiceAccount(clientId);
  } catch (error) {
    context.onError(error);
    return unavailable();
  }
  const at = context.now();
  // The secret is checked before anything else about the client is told, and costs the same for an unknown client.
  const matches = await secretMatches(clientSecret, record?.serviceAccount.clientId === clientId ? record.serviceAccount.secretHash : undefined);
  if (!matches || !usable(record, at)) {
    context.throttle.failed(throttleKeys);
    return oauthError('invalid_client', 'client authentication failed');
  }
  context.throttle.succeeded(`client:${clientId}`);

  const { serviceAccount, account } = record;
  if (account.tier === 'free' || !account.enterprise) {
    return oauthError('unauthorized_client', 'the account behind this client may not use the API, or is no longer provisioned for enterprise access');
  }

  const scopes = grantScopes(form.get('scope'), serviceAccount.scopes ?? FULL_ACCESS);
  if (!scopes) return oauthError('invalid_scope', 'the requested scope is malformed or beyond what this client holds');

  const nowSeconds = Math.floor(at / 1000);
  const expiresIn = Math.min(context.tokenTtlSeconds, Math.floor(serviceAccount.expiresAt / 1000) - nowSeconds);
  if (expiresIn <= 0) {
    context.throttle.failed(throttleKeys);
    return oauthError('invalid_client', 'client authentication failed');
  }

  let accessToken: string;
  try {
    const signer = await context.keys.signer();
    accessToken = await new SignJWT({ client_id: clientId, scope: scopes.join(' '), fsa: serviceAccount.secretCreatedAt })
      .setProtectedHeader({ alg: signer.alg, typ: ACCESS_TOKEN_TYPE, kid: signer.kid })
      .setIssuer(context.issuer)
      .setSubject(clientId)
      .setAudience(context.audience)
      .setIssuedAt(nowSeconds)
      .setNotBefore(nowSeconds)
      .setExpirationTime(nowSeconds + expiresIn)
      .setJti(base64url.encode(crypto.getRandomValues(new Uint8Array(16))))
      .sign(signer.key);
  } catch (error) {
    context.onError(error);
    // A key this process cannot open is a configuration fault (the operator secret); anything else is the store's.
    return error instanceof SigningKeyError ? oauthError('server_error', 'the token service cannot sign tokens now') : unavailable();
  }
  return json({ access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, scope: scopes.join(' ') });
}
