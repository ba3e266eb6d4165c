// (v2) Scopes: parsing and normalising a list at issue time, the level a method needs, and the allow rule.

import { isModule } from './catalog';

/** What a request needs: `read` for GET, HEAD and OPTIONS, `write` for every other method. */
export type AccessLevel = 'read' | 'write';

/** A full-access credential's scopes, as `AuthContext.scopes` and `KeyInfo.scopes` show them. */
export const FULL_ACCESS: readonly string[] = Object.freeze(['write']);

const LEVELS: ReadonlySet<string> = new Set(['read', 'write']);
const MAX_SCOPES = 100;

/** True for `read`, `write`, `<module>:read` or `<module>:write` with `<module>` a catalog name. */
export function isScope(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  if (LEVELS.has(value)) return true;
  const colon = value.lastIndexOf(':');
  return colon > 0 && LEVELS.has(value.slice(colon + 1)) && isModule(value.slice(0, colon));
}

/** Why a list of scopes was refused; the text names the bad entry only when it is short and plainly not a secret. */
export class ScopeError extends TypeError {
  override readonly name = 'ScopeError';
}

// A key pasted into a scope list (`--scope live_sk_…`) is never echoed back.
const SECRET_LOOKING = /_sk_|_cs_|[0-9a-f]{16}/i;

function describe(value: unknown): string {
  return typeof value === 'string' && value.length <= 40 && /^[a-z0-9:_-]*$/i.test(value) && !SECRET_LOOKING.test(value)
    ? JSON.stringify(value)
    : '(not shown)';
}

/**
 * Checks and normalises a list of scopes: duplicates go, a scope another one includes goes (`write` includes
 * everything; `read` includes every `<module>:read`; `<module>:write` includes `<module>:read`), and the rest is
 * sorted, bare scopes first. Throws {@link ScopeError} for anything that is not a list of scopes, or an empty one
 * (a credential that may do nothing is a mistake, not a setting). Full access normalises to `['write']`.
 */
export function normalizeScopes(input: unknown): string[] {
  if (!Array.isArray(input)) throw new ScopeError('finora-auth: scopes must be an array of scopes');
  if (input.length === 0) throw new ScopeError('finora-auth: scopes must name at least one scope; omit them for full access');
  if (input.length > MAX_SCOPES) throw new ScopeError(`finora-auth: at most ${MAX_SCOPES} scopes`);
  for (const scope of input) {
    if (!isScope(scope)) {
      throw new ScopeError(
        `finora-auth: ${describe(scope)} is not a scope: use read, write, <module>:read or <module>:write with a catalog module`,
      );
    }
  }
  const given = new Set<string>(input as string[]);
  if (given.has('write')) return ['write'];
  const kept: string[] = [];
  for (const scope of given) {
    if (LEVELS.has(scope)) continue;
    const module = scope.slice(0, scope.lastIndexOf(':'));
    if (scope.endsWith(':read') && (given.has('read') || given.has(`${module}:write`))) continue;
    kept.push(scope);
  }
  kept.sort();
  return given.has('read') ? ['read', ...kept] : kept;
}

/** `normalizeScopes`, but as a store keeps them: `undefined` for full access (as on every v1 row). */
export function scopesToStore(input: unknown): string[] | undefined {
  if (input === undefined) return undefined;
  const scopes = normalizeScopes(input);
  return scopes.length === 1 && scopes[0] === 'write' ? undefined : scopes;
}

/**
 * The level a request method needs: GET, HEAD and OPTIONS need `read`, every other method `write`.
 * `undefined` (a v1 caller that passes no method) needs `write`, the strictest:
 * a full-access credential is allowed as before, and a scoped one is never let through on a guess.
 */
export function requiredLevel(method: string | undefined): AccessLevel {
  // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET, so it needs write, the stricter reading.
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'read' : 'write';
}

/**
 * The allow rule. With a module: a bare scope or that module's scope grants `level` (`write` includes `read`).
 * Without one: any scope grants it. Whether the credential's surface reaches the module is judged elsewhere.
 */
export function scopesAllow(scopes: readonly string[], level: AccessLevel, module: string | undefined): boolean {
  for (const scope of scopes) {
    if (scope === 'write' || scope === level) return true;
    const colon = scope.lastIndexOf(':');
    if (colon === -1) continue;
    const granted = scope.slice(colon + 1);
    if ((granted === 'write' || granted === level) && (module === undefined || scope.slice(0, colon) === module)) return true;
  }
  return false;
}

/** The scope that would allow the request, for the `scope=` of an `INSUFFICIENT_SCOPE` challenge. */
export function scopeNeeded(level: AccessLevel, module: string | undefined): string {
  return module === undefined ? level : `${module}:${level}`;
}

/** True when every scope in `narrower` is granted by `wider`: a token may narrow its service account's scopes, never widen them. */
export function scopesWithin(narrower: readonly string[], wider: readonly string[]): boolean {
  for (const scope of narrower) {
    const colon = scope.lastIndexOf(':');
    if (colon === -1) {
      if (!wider.includes('write') && !wider.includes(scope)) return false;
    } else if (!scopesAllow(wider, scope.slice(colon + 1) as AccessLevel, scope.slice(0, colon))) {
      return false;
    }
  }
  return true;
}
