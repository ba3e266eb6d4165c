// Errors the key manager throws: each has a stable `code` from a closed union.

export type KeyManagerErrorCode =
  | 'PREMIUM_REQUIRED'
  | 'ENTERPRISE_ONLY'
  | 'ACCOUNT_NOT_FOUND'
  | 'KEY_NOT_FOUND'
  | 'INVALID_INPUT'
  // v2
  | 'INVALID_SCOPE'
  | 'KEY_REVOKED'
  | 'SERVICE_ACCOUNT_NOT_FOUND'
  | 'SERVICE_ACCOUNT_REVOKED'
  /** The store lacks the v2 methods this call needs. */
  | 'NOT_SUPPORTED'
  /** A credits operation (a refill) on an account that was never granted credits. */
  | 'NOT_METERED';

export class KeyManagerError extends Error {
  override readonly name = 'KeyManagerError';
  constructor(
    readonly code: KeyManagerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A store fault (down, slow, garbled answer). The authenticator turns it into `AUTH_UNAVAILABLE`. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    readonly reason: 'store-error' | 'store-timeout' | 'store-garbled' | 'overloaded',
    options?: { cause?: unknown },
  ) {
    super(`finora-auth: key store unavailable (${reason})`, options);
  }
}
