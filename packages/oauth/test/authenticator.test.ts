// End to end: a token from the issuer, verified by URL, judged by the core authenticator; revocation and rotation end it.

import { afterEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from '@finora-auth/core';
import { createTokenVerifier } from '@finora-auth/oauth';
import { AUDIENCE, basic, serveIssuer, tokenRequest, world, type Served } from './support';

let served: Served | undefined;
afterEach(async () => {
  await served?.close();
  served = undefined;
});

describe('a service-account token at the authenticator', () => {
  it('is allowed as an OAuth credential, and refused once its service account is revoked or its secret rotated', async () => {
    const w = await world(['payments:read']);
    served = await serveIssuer(w.store);
    const tokens = createTokenVerifier({ issuer: served.origin, audience: AUDIENCE, jwks: `${served.origin}/.well-known/jwks.json` });
    const authenticator = createAuthenticator({ store: w.store, tokens });
    const issue = async () => {
      const reply = await tokenRequest(served!.origin, { grant_type: 'client_credentials' }, { Authorization: basic(w.clientId, w.clientSecret) });
      return reply.body.access_token as string;
    };

    const token = await issue();
    const allowed = await authenticator.authenticate({ authorization: `Bearer ${token}`, module: 'payments', method: 'GET' });
    expect(allowed.ok && allowed.context).toMatchObject({
      credential: 'oauth_token',
      clientId: w.clientId,
      keyId: w.clientId,
      accountId: 'bank',
      surface: 'enterprise',
      scopes: ['payments:read'],
    });
    const write = await authenticator.authenticate({ authorization: `Bearer ${token}`, module: 'payments', method: 'POST' });
    expect(!write.ok && write.error.code).toBe('INSUFFICIENT_SCOPE');

    const rotated = await w.manager.rotateServiceAccountSecret(w.clientId);
    const afterRotation = await authenticator.authenticate({ authorization: `Bearer ${token}`, module: 'payments', method: 'GET' });
    expect(!afterRotation.ok && afterRotation.error.code).toBe('INVALID_TOKEN');

    w.clientSecret = rotated.clientSecret;
    const fresh = await issue();
    expect((await authenticator.authenticate({ authorization: `Bearer ${fresh}`, module: 'payments', method: 'GET' })).ok).toBe(true);
    await w.manager.revokeServiceAccount(w.clientId);
    const afterRevocation = await authenticator.authenticate({ authorization: `Bearer ${fresh}`, module: 'payments', method: 'GET' });
    expect(!afterRevocation.ok && afterRevocation.error.code).toBe('INVALID_TOKEN');
    expect(!afterRevocation.ok && afterRevocation.error.message).not.toContain(fresh);
    await authenticator.close();
  });
});
