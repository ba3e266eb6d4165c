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
}

/** What a route handler receives about the caller once a request is allowed. */
export interface AuthContext {
  keyId: string;
  accountId: string;
  environment: Environment;
  /** `environment === 'live'`: the request counts against the account's credits. */
  billable: boolean;
  tier: 'premium' | 'accountant_pro';
  surface: Surface;
  module?: string;
  expiresAt: Date;
  keyName?: string;
}
