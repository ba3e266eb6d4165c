// @finora-auth/core: API-key decisions for any runtime with Web Crypto.

export { createAuthenticator } from './authenticator';
export type {
  Authenticator,
  AuthenticatorOptions,
  AuthRequest,
  AuthResult,
  CacheOptions,
  CacheOutcome,
  DecisionEvent,
  DecisionReason,
} from './authenticator';
export { parseAuthorization } from './authorization';
export type { ParsedAuthorization } from './authorization';
export {
  ENTERPRISE_MODULES,
  RETAIL_MODULES,
  assertModule,
  isEnterpriseModule,
  isModule,
  moduleFromPath,
} from './catalog';
export type { EnterpriseModule, Module, RetailModule } from './catalog';
export { KeyManagerError, StoreUnavailableError } from './errors';
export type { KeyManagerErrorCode } from './errors';
export { createKeyManager, toKeyInfo, toServiceAccountInfo } from './key-manager';
export type { CreditsInfo, IssuedKey, IssuedServiceAccountSecret, KeyManager, KeyManagerOptions } from './key-manager';
export {
  API_KEY_PATTERN,
  CLIENT_SECRET_PATTERN,
  generateApiKey,
  generateClientId,
  generateClientSecret,
  isApiKey,
  isClientSecret,
  keyEnvironment,
  keyHint,
  sha256Hex,
} from './keys';
export { Heartbeat } from './heartbeat';
export type { HeartbeatOptions } from './heartbeat';
export { MemoryKeyStore } from './memory-store';
export { authorizationFromRawHeaders, fieldFromRawHeaders, requestModule, resolveMiddlewareOptions, targetPath } from './middleware';
export type { MiddlewareOptions, ResolvedMiddlewareOptions } from './middleware';
export { AUTH_ERROR_CODES, EXPIRES_AT_HEADER, renderFailure } from './responses';
export type { AuthErrorCode, AuthFailure } from './responses';
export {
  FULL_ACCESS,
  ScopeError,
  isScope,
  normalizeScopes,
  requiredLevel,
  scopeNeeded,
  scopesAllow,
  scopesToStore,
  scopesWithin,
} from './scopes';
export type { AccessLevel } from './scopes';
export { StoreEvents, isValidKeyRecord, isValidServiceAccountRecord } from './store';
export type { AccountPatch, KeyStore, ServiceAccountSecret, StoreEvent, StoreListener } from './store';
export { TokenVerificationError, isCompactJws } from './tokens';
export type { TokenVerifier, VerifiedToken } from './tokens';
export type {
  Account,
  AuthContext,
  CreditRefill,
  CreditState,
  RateLimit,
  UsageIncrement,
  UsageRow,
  Environment,
  KeyInfo,
  KeyRecord,
  Scope,
  ServiceAccountInfo,
  ServiceAccountRecord,
  StoredKey,
  StoredServiceAccount,
  StoredSigningKey,
  Surface,
  Tier,
} from './types';
