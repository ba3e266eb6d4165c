// Reads the Authorization header under the contract's Bearer rules, in linear time on any input.

import { isApiKey } from './keys';
import { isCompactJws } from './tokens';

export type ParsedAuthorization =
  | { kind: 'missing' }
  | { kind: 'malformed' }
  | { kind: 'api-key'; token: string }
  /** (v2) A compact JWS, only when the caller accepts tokens (a token verifier is configured). */
  | { kind: 'token'; token: string };

const MISSING: ParsedAuthorization = Object.freeze({ kind: 'missing' });
const MALFORMED: ParsedAuthorization = Object.freeze({ kind: 'malformed' });

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * `Bearer <token>`: the scheme in any case, one or more spaces, then the token and nothing after it.
 * Leading and trailing spaces and tabs are not part of an HTTP field value (RFC 9110 §5.5), so they are ignored.
 * Only a token in the key format is returned, or (v2, with `acceptTokens`) a compact JWS as a kind of its own;
 * anything else is `malformed`, and no store is asked about it. Without `acceptTokens` a JWT is `malformed`, as in v1.
 */
export function parseAuthorization(header: string | null | undefined, acceptTokens = false): ParsedAuthorization {
  if (typeof header !== 'string') return header == null ? MISSING : MALFORMED;
  let start = 0;
  let end = header.length;
  while (start < end && isOws(header.charCodeAt(start))) start++;
  while (end > start && isOws(header.charCodeAt(end - 1))) end--;
  if (start === end) return MISSING;
  if (end - start < 8 || header.slice(start, start + 6).toLowerCase() !== 'bearer' || header.charCodeAt(start + 6) !== 0x20) {
    return MALFORMED;
  }
  let tokenStart = start + 7;
  while (tokenStart < end && header.charCodeAt(tokenStart) === 0x20) tokenStart++;
  const token = header.slice(tokenStart, end);
  if (isApiKey(token)) return { kind: 'api-key', token };
  return acceptTokens && isCompactJws(token) ? { kind: 'token', token } : MALFORMED;
}
