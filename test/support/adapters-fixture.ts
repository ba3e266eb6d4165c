// Keys, accounts, a settable clock and a store that can be made to fail, built only through the public API.

import {
  createAuthenticator,
  createKeyManager,
  MemoryKeyStore,
  type Account,
  type Authenticator,
  type AuthRequest,
  type Environment,
  type KeyInfo,
  type KeyManager,
  type KeyRecord,
  type KeyStore,
  type StoredKey,
  type StoreListener,
  type Surface,
  type Tier,
} from '@finora-auth/core';

export const DAY_MS = 24 * 60 * 60 * 1000;
/** The fixed instant every fixture starts at, so dates in messages and headers are predictable. */
export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

/** A KeyStore over `MemoryKeyStore` whose lookups can be made to fail, as a database that went down would. */
export class FailingStore implements KeyStore {
  failing = false;
  readonly #inner = new MemoryKeyStore();

  findByHash(hash: string): Promise<KeyRecord | null> {
    return this.failing ? Promise.reject(new Error('connection refused')) : this.#inner.findByHash(hash);
  }
  getAccount(accountId: string) {
    return this.#inner.getAccount(accountId);
  }
  putAccount(account: Account) {
    return this.#inner.putAccount(account);
  }
  getKey(keyId: string) {
    return this.#inner.getKey(keyId);
  }
  insertKey(key: StoredKey) {
    return this.#inner.insertKey(key);
  }
  revokeKey(keyId: string, revokedAt: number) {
    return this.#inner.revokeKey(keyId, revokedAt);
  }
  listKeys(accountId: string) {
    return this.#inner.listKeys(accountId);
  }
  listExpiring(after: number, until: number) {
    return this.#inner.listExpiring(after, until);
  }
  subscribe(listener: StoreListener) {
    return this.#inner.subscribe(listener);
  }
  close() {
    return this.#inner.close();
  }
  /** Everything at rest, to check that no plaintext key is there. */
  dump() {
    return this.#inner.dump();
  }
}

export interface IssueOptions {
  tier?: Tier;
  enterprise?: boolean;
  environment?: Environment;
  surface?: Surface;
  name?: string;
  /** (v2) The key's scopes; absent: full access. */
  scopes?: string[];
}

export interface Fixture {
  store: FailingStore;
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

export async function createFixture(): Promise<Fixture> {
  const clock = { now: T0 };
  const now = () => clock.now;
  const store = new FailingStore();
  const manager = createKeyManager({ store, now });
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
