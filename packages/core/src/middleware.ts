// What every framework adapter shares: resolving `finoraAuth` options once, and checking a computed module.

import { createAuthenticator, type Authenticator, type AuthenticatorOptions } from './authenticator';
import { assertModule, type Module } from './catalog';

/**
 * `finoraAuth` options: an authenticator to share, or the options to build one (once, in the factory).
 * `module`: a catalog name for every request, a function of the framework's request returning one (or
 * `undefined` for no module), or absent to derive it from the path the framework routes on.
 */
export type MiddlewareOptions<Request> =
  | { authenticator: Authenticator; module?: string | ((request: Request) => string | undefined) }
  | (AuthenticatorOptions & { authenticator?: undefined; module?: string | ((request: Request) => string | undefined) });

export interface ResolvedMiddlewareOptions<Request> {
  authenticator: Authenticator;
  module: Module | ((request: Request) => string | undefined) | undefined;
}

/** Validates `finoraAuth` options, naming the bad one; never mutates them. */
export function resolveMiddlewareOptions<Request>(options: MiddlewareOptions<Request>): ResolvedMiddlewareOptions<Request> {
  if (!options || typeof options !== 'object') {
    throw new TypeError('finora-auth: finoraAuth needs options: { authenticator } or { store, ...authenticator options }');
  }
  const { authenticator, module, ...authenticatorOptions } = options;
  if (module !== undefined && typeof module !== 'function') assertModule(module, 'module');
  if (authenticator === undefined) {
    if (!('store' in authenticatorOptions)) throw new TypeError('finora-auth: finoraAuth needs options.authenticator or options.store');
    return { authenticator: createAuthenticator(authenticatorOptions as AuthenticatorOptions), module };
  }
  if (typeof authenticator?.authenticate !== 'function') throw new TypeError('finora-auth: authenticator must be an Authenticator');
  const extra = Object.keys(authenticatorOptions)[0];
  if (extra !== undefined) throw new TypeError(`finora-auth: ${extra} has no effect beside authenticator; pass it to createAuthenticator`);
  return { authenticator, module };
}

/** The module for one request: the configured name, the function's answer (checked), or the path's. */
export function requestModule<Request>(
  module: ResolvedMiddlewareOptions<Request>['module'],
  request: Request,
  fromPath: (request: Request) => Module | undefined,
): Module | undefined {
  if (typeof module !== 'function') return module ?? fromPath(request);
  const computed = module(request);
  if (computed !== undefined) assertModule(computed, 'the module returned by options.module');
  return computed;
}

/**
 * The `Authorization` field from Node's `rawHeaders` (name, value, name, value, …), every copy joined with ", " as
 * the Fetch API joins them, so a request that sends two is refused instead of its first copy believed (Node's
 * `headers` keeps only the first). Scans without allocating, unlike `headersDistinct`.
 */
export function authorizationFromRawHeaders(rawHeaders: readonly string[]): string | null {
  return fieldFromRawHeaders(rawHeaders, 'authorization');
}

/**
 * A field from Node's `rawHeaders` by its lower-case `name`, every copy joined with ", ": what reading
 * `req.headers[name]` would give for a field Node joins (such as `Origin`), without making Node parse every
 * header into `req.headers` when nothing else on the request reads it.
 */
export function fieldFromRawHeaders(rawHeaders: readonly string[], name: string): string | null {
  let value: string | null = null;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const field = rawHeaders[i]!;
    if (field.length === name.length && field.toLowerCase() === name) {
      value = value === null ? rawHeaders[i + 1]! : `${value}, ${rawHeaders[i + 1]!}`;
    }
  }
  return value;
}

const ABSOLUTE_FORM = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i;
const QUERY_OR_FRAGMENT = /[?#]/;

/**
 * The path of a request target as Node hands it to a framework (`req.url`): an origin form (`/v1/x?q`) as it is, an
 * absolute form's scheme and authority (`http://host/v1/x`) cut off, then without its `?` query or `#` fragment.
 * Not decoded nor resolved: `moduleFromPath` reads every spelling.
 */
export function targetPath(url: string): string {
  const target = url.charCodeAt(0) === 0x2f ? url : url.replace(ABSOLUTE_FORM, '');
  const end = target.search(QUERY_OR_FRAGMENT);
  return end === -1 ? target : target.slice(0, end);
}
