// CSRF checks for every console POST: the session's token in the form, and the browser's own origin signals.

import type { IncomingMessage } from 'node:http';
import { sameSecret, sha256 } from './session';

/** The hidden field every console form carries. */
export const CSRF_FIELD = 'csrf';

/**
 * False when the browser says the request came from another site: `Sec-Fetch-Site` other than `same-origin`
 * (or `none`, a request the user made directly), or an `Origin` whose host is not this request's `Host`.
 * Absent headers (an old browser, curl) leave the decision to the token.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (origin === 'null') return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** True when the form's token is the session's (compared in constant time). */
export function validToken(given: string | undefined, sessionToken: string): boolean {
  return given !== undefined && given.length > 0 && sameSecret(given, sha256(sessionToken));
}
