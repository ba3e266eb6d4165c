// The errors HttpKeyStore throws: each has a stable `code`, and none carries the token or a key.

export type HttpKeyStoreErrorCode =
  /** The gateway refused the token (401/403): a setup fault, not an outage. */
  | 'UNAUTHORIZED'
  /** The gateway answered 5xx, or could not be reached. */
  | 'UNAVAILABLE'
  /** No whole answer within `timeoutMs`. */
  | 'TIMEOUT'
  /** The answer was longer than `maxResponseBytes`. */
  | 'TOO_LARGE'
  /** The answer was not the JSON record asked for (wrong shape, wrong key, wrong content type, bad status). */
  | 'GARBLED'
  /** A write or an administrative read: the edge store only reads; administer through the gateway's store. */
  | 'READ_ONLY';

export class HttpKeyStoreError extends Error {
  override readonly name = 'HttpKeyStoreError';
  constructor(
    readonly code: HttpKeyStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
