// Keys, service-account tokens, accounts, a settable clock and a store (any, memory by default) that can be made to fail, built only through the public API.

import {
  createAuthenticator,
  createKeyManager,
  MemoryKeyStore,
  type Authenticator,
  type AuthRequest,
  type Environment,
  type KeyInfo,
  type KeyManager,
  type KeyStore,
  type Surface,
  type Tier,
} from '@finora-auth/core';
import { tapStore, type TappedStore } from '@finora-auth/core/testing';
import { createTokenIssuer, type TokenIssuer } from '@finora-auth/oauth';
import type { GatewayIssuer } from '../../packages/gateway/src/gateway';

export const DAY_MS = 24 * 60 * 60 * 1000;
/** The fixed instant every fixture starts at, so dates in messages and headers are predictable. */
export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

export interface IssueOptions {
  tier?: Tier;
  enterprise?: boolean;
  environment?: Environment;
  surface?: Surface;
  name?: string;
  /** (v2) The key's scopes; absent: full access. */
  scopes?: string[];
}

/** (v2) A service account, and how its token is asked for at the issuer's endpoint. */
export interface TokenOptions {
  /** The service account's scopes; absent: full access. */
  scopes?: string[];
  /** The `scope` asked for at the token endpoint (narrows the token). Default: none asked, the account's own. */
  scope?: string;
  /** Client authentication: HTTP Basic or form fields. Default: `basic`. */
  via?: 'basic' | 'post';
  /** Which issuer signs: this fixture's, or one on the same store and keys under another `iss` or `aud`. Default: `own`. */
  issuer?: 'own' | 'other-iss' | 'other-aud';
  name?: string;
}

/** (v2) What an allowed token stands for, shaped as the key `expectedContext` takes, plus the token's own ids. */
export type TokenHolder = KeyInfo & { token: { clientId: string; tokenId: string } };

/** The issuer URL and audience of the fixture's own issuer. */
export const ISSUER = 'https://auth.finora.test';
export const AUDIENCE = 'https://api.finora.test';

export interface FixtureOptions {
  /** The store lookups go to. Default: a new `MemoryKeyStore`. */
  store?: KeyStore;
  /** Where the key manager writes, for a read-only `store` (the HTTP store): a store on the same data. Default: `store`. */
  writer?: KeyStore;
}

export interface Fixture {
  /** The store the authenticators read, wrapped so a test can make its lookups fail (`failing = true`). */
  store: TappedStore;
  manager: KeyManager;
  /** The authenticator the adapters under test share (with its cache, as in production). */
  authenticator: Authenticator;
  /** What the core itself answers for a request, uncached: the adapters must copy it exactly. */
  oracle: Authenticator;
  clock: { now: number };
  /** A new account with one new key, so no test sees another's state. */
  issue(options?: IssueOptions): Promise<{ apiKey: string; key: KeyInfo }>;
  /** (v2) The issuer over the fixture's store whose tokens `authenticator` and `oracle` verify. */
  issuer: TokenIssuer;
  /** (v2) The same issuer as a gateway mounts it (`createGateway({ issuer })`). */
  gatewayIssuer: GatewayIssuer;
  /**
   * (v2) A new enterprise-provisioned premium account with one new live service account, and an access token
   * from the token endpoint (through `handle`, as over HTTP).
   */
  token(options?: TokenOptions): Promise<{ accessToken: string; clientId: string; holder: TokenHolder }>;
  close(): Promise<void>;
}

let accounts = 0;

/** A fixed operator secret for the fixture's issuers (no deployment's). */
const OPERATOR_SECRET = 'operator secret of the adapter fixture, 48 bytes';

function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${btoa(`${encode(clientId)}:${encode(clientSecret)}`)}`;
}

/** The claims of a compact JWS, read without verifying (the issuer just made it). */
function claimsOf(accessToken: string): { jti: string; exp: number } {
  const payload = accessToken.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti: string; exp: number };
}

export async function createFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const clock = { now: T0 };
  const now = () => clock.now;
  const raw = options.store ?? new MemoryKeyStore();
  // `failing` fails service-account lookups too, so a token meets a store that is down.
  const store = tapStore(raw);
  const manager = createKeyManager({ store: options.writer ?? store, now });
  // Issuers read the store untapped: a test that fails the authenticators' lookups still gets its tokens.
  const issuerStore = options.writer ?? raw;
  const issuerWith = (issuer: string, audience: string) =>
    createTokenIssuer({ store: issuerStore, issuer, audience, secret: OPERATOR_SECRET, now, throttle: false });
  const issuer = issuerWith(ISSUER, AUDIENCE);
  const others = { 'other-iss': issuerWith('https://elsewhere.finora.test', AUDIENCE), 'other-aud': issuerWith(ISSUER, 'https://other-api.finora.test') };
  const authenticator = createAuthenticator({ store, now, tokens: issuer.verifier });
  const oracle = createAuthenticator({ store, now, cache: false, tokens: issuer.verifier });
  return {
    store,
    manager,
    authenticator,
    oracle,
    clock,
    issuer,
    gatewayIssuer: {
      handle: (request, handleOptions) => issuer.handle(request, handleOptions),
      verifier: issuer.verifier,
      paths: ['/oauth/token', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server'],
    },
    async token({ scopes, scope, via = 'basic', issuer: which = 'own', name } = {}) {
      const id = `acct-${++accounts}`;
      await manager.putAccount({ id, tier: 'premium', enterprise: true });
      const created = await manager.createServiceAccount({
        accountId: id,
        environment: 'live',
        ...(scopes === undefined ? {} : { scopes }),
        ...(name === undefined ? {} : { name }),
      });
      const { clientId, clientSecret, serviceAccount } = created;
      const form = new URLSearchParams({ grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) });
      const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
      if (via === 'basic') {
        headers.Authorization = basicAuthorization(clientId, clientSecret);
      } else {
        form.set('client_id', clientId);
        form.set('client_secret', clientSecret);
      }
      const signer = which === 'own' ? issuer : others[which];
      const answer = await signer.handle(new Request(`${ISSUER}/oauth/token`, { method: 'POST', headers, body: form }));
      const body = (await answer?.json()) as { access_token?: string; error?: string } | undefined;
      if (answer?.status !== 200 || typeof body?.access_token !== 'string') {
        throw new Error(`the fixture's token request failed: ${answer?.status} ${body?.error}`);
      }
      const accessToken = body.access_token;
      const claims = claimsOf(accessToken);
      const holder: TokenHolder = {
        id: clientId,
        accountId: id,
        environment: serviceAccount.environment,
        surface: 'enterprise',
        hint: serviceAccount.secretHint,
        createdAt: serviceAccount.createdAt,
        expiresAt: new Date(claims.exp * 1000),
        scopes: scope === undefined ? serviceAccount.scopes : scope.split(' '),
        ...(serviceAccount.name === undefined ? {} : { name: serviceAccount.name }),
        token: { clientId, tokenId: claims.jti },
      };
      return { accessToken, clientId, holder };
    },
    async issue({ tier = 'premium', enterprise = false, environment = 'live', surface = 'retail', name, scopes } = {}) {
      const id = `acct-${++accounts}`;
      await manager.putAccount({ id, tier, enterprise });
      return manager.issue({
        accountId: id,
        environment,
        surface,
        ...(name === undefined ? {} : { name }),
        ...(scopes === undefined ? {} : { scopes }),
      });
    },
    async close() {
      await authenticator.close();
      await oracle.close();
    },
  };
}

/** The AuthContext a handler should receive for `key`, as JSON carries it. */
export function expectedContext(key: KeyInfo, tier: Tier, module?: string): Record<string, unknown> {
  const context: Record<string, unknown> = {
    keyId: key.id,
    accountId: key.accountId,
    environment: key.environment,
    billable: key.environment === 'live',
    tier,
    surface: key.surface,
    expiresAt: key.expiresAt.toISOString(),
    credential: 'api_key',
    scopes: key.scopes,
  };
  if (module !== undefined) context.module = module;
  if (key.name !== undefined) context.keyName = key.name;
  const { token } = key as Partial<TokenHolder>;
  if (token) Object.assign(context, { credential: 'oauth_token', clientId: token.clientId, tokenId: token.tokenId });
  return context;
}

export function oracleRequest(authorization: string | undefined, module: string | undefined, method = 'GET'): AuthRequest {
  const request: AuthRequest = { authorization: authorization ?? null, method };
  if (module !== undefined) request.module = module;
  return request;
}
