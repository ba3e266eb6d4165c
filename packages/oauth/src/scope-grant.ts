// The `scope` a token request asks for, checked and narrowed against its service account's scopes (never widened).

import { isModule } from '@finora-auth/core';

const LEVELS = new Set(['read', 'write']);

function isScope(value: string): boolean {
  if (LEVELS.has(value)) return true;
  const colon = value.lastIndexOf(':');
  return colon > 0 && LEVELS.has(value.slice(colon + 1)) && isModule(value.slice(0, colon));
}

/** True when `scope` is granted by `held` (`write` includes `read`; a bare level covers every module). */
function covers(held: readonly string[], scope: string): boolean {
  const colon = scope.lastIndexOf(':');
  const level = colon === -1 ? scope : scope.slice(colon + 1);
  const module = colon === -1 ? undefined : scope.slice(0, colon);
  return held.some((entry) => {
    if (entry === 'write' || entry === level) return true;
    if (module === undefined) return false;
    return entry === `${module}:write` || entry === `${module}:${level}`;
  });
}

/** Duplicates and scopes another one includes go; the rest sorted, bare levels first (the core's normal form). */
export function normalize(scopes: readonly string[]): string[] {
  const unique = [...new Set(scopes)];
  if (unique.includes('write')) return ['write'];
  const kept = unique.filter((scope) => !unique.some((other) => other !== scope && covers([other], scope)));
  const bare = kept.filter((scope) => LEVELS.has(scope));
  return [...bare, ...kept.filter((scope) => !LEVELS.has(scope)).sort()];
}

/**
 * The scopes a token gets: the service account's, or the requested ones when every one is a scope it holds.
 * `undefined` when the request names a malformed scope or one beyond the service account (`invalid_scope`).
 */
export function grantScopes(requested: string | null, held: readonly string[]): string[] | undefined {
  if (requested === null) return normalize(held);
  const asked = requested.split(' ').filter((entry) => entry.length > 0);
  if (asked.length === 0 || asked.length > 100) return undefined;
  if (!asked.every((scope) => isScope(scope) && covers(held, scope))) return undefined;
  return normalize(asked);
}
