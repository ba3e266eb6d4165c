// CSRF checks for every console POST: the session's token in the form, and the browser's own origin signals.

import type { IncomingMessage } from 'node:http';
import { sameSecret, sha256 } from './session';

/** The hidden field every console form carries. */
export const CSRF_FIELD = 'csrf';

/**
 * False when the browser says the request came from another site. `Sec-Fetch-Site` (set by the browser, not by
 * pages) decides when present: `same-origin`, or `none` for a request the user made directly. Otherwise an
 * `Origin` whose host is not this request's `Host` is refused. `Origin: null` is what Chromium sends for a
 * same-origin form under `Referrer-Policy: no-referrer`, so it and absent headers (an old browser, curl) leave
 * the decision to the token.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return true;
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
