// Keys, accounts, a settable clock and a store (any, memory by default) that can be made to fail, built only through the public API.

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
  close(): Promise<void>;
}

let accounts = 0;

export async function createFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const clock = { now: T0 };
  const now = () => clock.now;
  const store = tapStore(options.store ?? new MemoryKeyStore());
  const manager = createKeyManager({ store: options.writer ?? store, now });
  const authenticator = createAuthenticator({ store, now });
  const oracle = createAuthenticator({ store, now, cache: false });
  return {
    store,
    manager,
    authenticator,
    oracle,
    clock,
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
  return context;
}

export function oracleRequest(authorization: string | undefined, module: string | undefined, method = 'GET'): AuthRequest {
  const request: AuthRequest = { authorization: authorization ?? null, method };
  if (module !== undefined) request.module = module;
  return request;
}
