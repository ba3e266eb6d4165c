// The public data shapes of finora-auth: accounts, keys, the context a handler receives.

/** `live` keys reach real, billable data; `test` keys reach isolated staging data and are not billed. */
export type Environment = 'live' | 'test';
/** Only `premium` and `accountant_pro` accounts may use the API. */
export type Tier = 'free' | 'premium' | 'accountant_pro';
/** Every dashboard key is `retail`; `enterprise` keys are issued only to provisioned accounts. */
export type Surface = 'retail' | 'enterprise';

export interface Account {
  id: string;
  tier: Tier;
  /** The account is provisioned for enterprise modules. */
  enterprise: boolean;
  /** (v2) The rate limit each credential of the account has, unless the key sets its own. Absent: none. */
  rateLimit?: RateLimit;
  /**
   * (v2) The account was granted credits, so its live requests spend them. Read with every lookup, so an unmetered
   * account costs no credit bookkeeping at all. Absent or false: unmetered.
   */
  metered?: boolean;
}

/** (v2) At most `requests` requests in any `perSeconds` seconds. */
export interface RateLimit {
  requests: number;
  perSeconds: number;
}

/** (v2) An optional refill of a metered account: its balance is set to `amount` once per UTC day or month. */
export interface CreditRefill {
  amount: number;
  period: 'day' | 'month';
}

/** (v2) An account's credits as a store keeps them. */
export interface CreditState {
  metered: boolean;
  /** `null` when not metered. */
  balance: number | null;
  refill?: CreditRefill;
  /** The last period a refill was applied for (`YYYY-MM-DD` or `YYYY-MM`, UTC); periods only move forward. */
  refilledPeriod?: string;
}

/** (v2) Counts to add to one usage row; rows are per UTC day, credential, environment and module. */
export interface UsageIncrement {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  accountId: string;
  /** The key's id, or a service account's client id. */
  keyId: string;
  environment: Environment;
  module?: string;
  allowed: number;
  creditsSpent: number;
}

/** (v2) One row of `usage()`. */
export interface UsageRow {
  day: string;
  keyId: string;
  environment: Environment;
  module?: string;
  allowed: number;
  creditsSpent: number;
}

/** A key as a store keeps it: never the plaintext, only its SHA-256 digest and a display hint. */
export interface StoredKey {
  id: string;
  accountId: string;
  /** SHA-256 of the plaintext key, lowercase hex. */
  hash: string;
  /** `live_sk_…` followed by the key's last 4 characters, for people and logs. */
  hint: string;
  environment: Environment;
  surface: Surface;
  name?: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds; the key is refused from this instant on. */
  expiresAt: number;
  /** Epoch milliseconds; absent while the key is active. */
  revokedAt?: number;
  /**
   * (v2) What the key may do, as normalised scopes (see {@link Scope}). Absent, as on every v1 row: full access
   * within the key's surface, the same as `['write']`.
   */
  scopes?: string[];
  /** (v2) This key's own rate limit, overriding its account's. */
  rateLimit?: RateLimit;
}

/**
 * (v2) A scope: `read`, `write`, `<module>:read` or `<module>:write`, `<module>` a catalog name. `write` includes
 * `read`; a bare `read`/`write` covers every module the credential's surface allows.
 */
export type Scope = 'read' | 'write' | `${string}:read` | `${string}:write`;

/**
 * (v2) An OAuth 2.0 service account as a store keeps it: never the client secret, only its SHA-256 digest and a
 * display hint. It belongs to an enterprise-provisioned account, so its tokens have the `enterprise` surface.
 */
export interface StoredServiceAccount {
  /** The OAuth `client_id`; also the service account's id (`AuthContext.keyId` of its tokens). Not secret. */
  clientId: string;
  accountId: string;
  /** SHA-256 of the current client secret, lowercase hex. */
  secretHash: string;
  /** The secret's prefix and last 4 characters, for people and logs. */
  secretHint: string;
  environment: Environment;
  name?: string;
  /** Normalised scopes; absent means full access (`['write']`). */
  scopes?: string[];
  /** Epoch milliseconds: when the service account was created. */
  createdAt: number;
  /**
   * Epoch milliseconds: when the current secret was made. A token records the value it was minted under, so a
   * secret rotation ends every token issued before it, at once (same process) or within the store's bound.
   */
  secretCreatedAt: number;
  /** Epoch milliseconds: the current secret (and with it the service account's tokens) is refused from here on. */
  expiresAt: number;
  /** Epoch milliseconds; absent while the service account is active. */
  revokedAt?: number;
}

/** (v2) What a store returns for one service-account lookup: it and its account, read together. */
export interface ServiceAccountRecord {
  serviceAccount: StoredServiceAccount;
  account: Account;
}

/** (v2) A service account as the key manager shows it: dates as `Date`, no secret digest. */
export interface ServiceAccountInfo {
  clientId: string;
  accountId: string;
  environment: Environment;
  name?: string;
  /** Normalised; full access is `['write']`. */
  scopes: string[];
  secretHint: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt?: Date;
}

/**
 * (v2) A key the OAuth issuer signs tokens with. The store keeps it as data it cannot use: the private key is
 * encrypted by the issuer under an operator secret the store never sees.
 */
export interface StoredSigningKey {
  /** The JWK `kid`. */
  kid: string;
  /** The JWS algorithm, such as `ES256`. */
  alg: string;
  /** The public key as a JWK, JSON text. */
  publicJwk: string;
  /** The private key, encrypted by the issuer (opaque text to the store). */
  encryptedPrivateKey: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds: from here on it signs nothing new; it is still published while tokens it signed live. */
  retiredAt?: number;
}

/** What a store returns for one lookup: the key and its account, read together in one round trip. */
export interface KeyRecord {
  key: StoredKey;
  account: Account;
}

/** A key as the key manager shows it. */
export interface KeyInfo {
  id: string;
  accountId: string;
  environment: Environment;
  surface: Surface;
  name?: string;
  hint: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt?: Date;
  /** (v2) Normalised scopes; a full-access key has `['write']`. */
  scopes: string[];
  /** (v2) The key's own rate limit, when it has one. */
  rateLimit?: RateLimit;
}

/** What a route handler receives about the caller once a request is allowed. */
export interface AuthContext {
  /** The key's id; (v2) for an OAuth token, the service account's id (its client id). */
  keyId: string;
  accountId: string;
  environment: Environment;
  /** `environment === 'live'`: the request counts against the account's credits. */
  billable: boolean;
  tier: 'premium' | 'accountant_pro';
  surface: Surface;
  module?: string;
  /** Of the key, or (v2) of the OAuth token. */
  expiresAt: Date;
  keyName?: string;
  /** (v2) What authenticated the request. */
  credential: 'api_key' | 'oauth_token';
  /** (v2) Normalised scopes; a full-access credential has `['write']`. */
  scopes: readonly string[];
  /** (v2) OAuth tokens only: the service account's client id. */
  clientId?: string;
  /** (v2) OAuth tokens only: the JWT's `jti`. */
  tokenId?: string;
  /** (v2) Metered accounts only: the balance after this request. */
  creditsRemaining?: number;
}
