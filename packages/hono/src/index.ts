// Hono 4 middleware for any runtime: translates a request into the core's `authenticate()` and its answer into the response.

import {
  assertModule,
  createAuthenticator,
  isEnterpriseModule,
  isModule,
  moduleFromPath,
  type AuthContext,
  type Authenticator,
  type AuthenticatorOptions,
  type AuthRequest,
  type Module,
} from '@finora-auth/core';
import type { Context, MiddlewareHandler } from 'hono';
import { basePath, routePath } from 'hono/route';

/** What `finoraAuth` adds to the context: `c.get('auth')` once a request is allowed. */
export type FinoraAuthEnv = { Variables: { auth: AuthContext } };

/**
 * The module a request is for: a catalog name for every request, a function of the context returning one (or
 * `undefined` for no module), or absent to derive it from the path. Default: derived from the path.
 */
export type ModuleOption = string | ((c: Context) => string | undefined);

export type FinoraAuthOptions =
  | { authenticator: Authenticator; module?: ModuleOption }
  | (AuthenticatorOptions & { authenticator?: undefined; module?: ModuleOption });

/** `/api/*` -> `/api`: the literal prefix this middleware was registered under, when it has no parameters. */
const WILDCARD_MOUNT = /^((?:\/[^/:*{}()?]+)*)\/\*$/;

const VERSION_SEGMENT = /^v\d+$/i;

/**
 * The first segment, neither decoded nor with dot segments resolved, as Express and Koa match routes. The core
 * resolves `..`, which can pop an enterprise segment: `/payments/../invoices` reaches a `/payments/*` route.
 */
function literalModule(path: string): Module | undefined {
  const [first, second] = path.split(/[/\\]+/).filter(Boolean);
  const name = (first !== undefined && VERSION_SEGMENT.test(first) ? second : first)?.toLowerCase();
  return isModule(name) ? name : undefined;
}

/**
 * The strictest module among the paths a chain of mounts may have cut: `rest` below each segment boundary of
 * `mount`, innermost first, each read both as the core normalises it and literally. Any of them may be how the
 * routes that follow see the path, so an enterprise module named by any wins: judging stricter is always safe.
 */
function moduleUnder(mount: string, rest: string): Module | undefined {
  const segments = mount.split('/').filter(Boolean);
  let found: Module | undefined;
  for (let i = segments.length; i >= 0; i--) {
    const path = `/${segments.slice(i).join('/')}/${rest}`;
    for (const module of [moduleFromPath(path), literalModule(path)]) {
      if (module && isEnterpriseModule(module)) return module;
      found ??= module;
    }
  }
  return found;
}

/**
 * `c.req.path` is what Hono routes on (percent-decoded; the runtime's URL parser resolved dot segments). Its
 * mount is the prefix this middleware was registered under (`app.use('/api/*', ...)`) or else the sub-app's or
 * `basePath()`'s mount.
 */
function moduleFromContext(c: Context): Module | undefined {
  const path = c.req.path;
  const registered = WILDCARD_MOUNT.exec(routePath(c))?.[1];
  const mount = [registered, basePath(c)].find((prefix) => prefix && path.toLowerCase().startsWith(prefix.toLowerCase())) ?? '';
  return moduleUnder(mount, path.slice(mount.length));
}

function resolveOptions(options: FinoraAuthOptions) {
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

/**
 * Refuses a request the core refuses, answering with its status, headers and JSON body; otherwise sets
 * `c.get('auth')`, calls the next handler and adds the core's response headers to what it answered.
 */
export function finoraAuth(options: FinoraAuthOptions): MiddlewareHandler<FinoraAuthEnv> {
  const { authenticator, module } = resolveOptions(options);

  return async function finoraAuthMiddleware(c, next) {
    const requested = typeof module === 'function' ? module(c) : (module ?? moduleFromContext(c));
    if (requested !== undefined) assertModule(requested, 'the module returned by options.module');
    const request: AuthRequest = { authorization: c.req.header('authorization') ?? null, method: c.req.method };
    request.origin = c.req.header('origin') ?? null;
    if (requested !== undefined) request.module = requested;
    const result = await authenticator.authenticate(request);
    if (!result.ok) return c.body(JSON.stringify(result.error.body), result.error.status, result.error.headers);
    c.set('auth', result.context);
    await next();
    // After the handler: a Response it built itself would not carry headers set before it ran.
    for (const [name, value] of Object.entries(result.headers)) c.header(name, value);
  };
}
