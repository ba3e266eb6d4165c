// The `scope` a token request asks for, checked and narrowed against its service account's scopes (never widened).

import { isScope, normalizeScopes, scopesWithin } from '@finora-auth/core';

/**
 * The scopes a token gets, normalised as the core normalises them: the service account's, or the requested ones
 * when each is a scope the service account holds. `undefined` for a malformed scope, or one beyond the service
 * account (`invalid_scope`).
 */
export function grantScopes(requested: string | null, held: readonly string[]): string[] | undefined {
  if (requested === null) return normalizeScopes([...held]);
  const asked = requested.split(' ').filter((entry) => entry.length > 0);
  if (asked.length === 0 || asked.length > 100 || !asked.every(isScope)) return undefined;
  return scopesWithin(asked, held) ? normalizeScopes(asked) : undefined;
}
