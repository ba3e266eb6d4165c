// Koa 2 and 3 middleware: translates a context into the core's `authenticate()` and its answer into the response.

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
import type { DefaultState, Middleware, ParameterizedContext } from 'koa';

/** What `finoraAuth` adds to `ctx.state` once a request is allowed. */
export interface FinoraAuthState {
  auth: AuthContext;
}

/**
 * The module a request is for: a catalog name for every request, a function of the context returning one (or
 * `undefined` for no module), or absent to derive it from the path. Default: derived from the path.
 */
export type ModuleOption<StateT = DefaultState> = string | ((ctx: ParameterizedContext<StateT>) => string | undefined);

export type FinoraAuthOptions<StateT = DefaultState> =
  | { authenticator: Authenticator; module?: ModuleOption<StateT> }
  | (AuthenticatorOptions & { authenticator?: undefined; module?: ModuleOption<StateT> });

const ABSOLUTE_FORM = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i;

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

/** How @koa/router ends the path of a layer added by `router.use(middleware)`: what precedes it is the mount. */
const USE_LAYER = '([^/]*)';

/**
 * `ctx.path` is what Koa routes on; koa-mount strips its prefix from it (the rest of `ctx.originalUrl` is the
 * mount). @koa/router leaves its prefixes in `ctx.path`: the router's own prefix, and, for `router.use()`, the
 * layer's path, which carries the prefixes of enclosing routers too.
 */
function moduleFromContext(ctx: ParameterizedContext): Module | undefined {
  const original = ctx.originalUrl.replace(ABSOLUTE_FORM, '').replace(/[?#][^]*$/, '');
  let rest = ctx.path;
  let mount = original.endsWith(rest) ? original.slice(0, original.length - rest.length) : rest === '/' ? original : '';
  const { router, routerPath } = ctx as { router?: { opts?: { prefix?: unknown } }; routerPath?: unknown };
  const layer = typeof routerPath === 'string' && routerPath.endsWith(USE_LAYER) ? routerPath.slice(0, -USE_LAYER.length) : '';
  const prefix = [layer, router?.opts?.prefix].find(
    (p): p is string => typeof p === 'string' && p !== '' && rest.toLowerCase().startsWith(p.toLowerCase()),
  );
  if (prefix) {
    mount += rest.slice(0, prefix.length);
    rest = rest.slice(prefix.length);
  }
  return moduleUnder(mount, rest);
}

function resolveOptions<StateT>(options: FinoraAuthOptions<StateT>) {
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
 * `ctx.state.auth` and the core's response headers and calls the next middleware.
 */
export function finoraAuth<StateT = DefaultState>(options: FinoraAuthOptions<StateT>): Middleware<StateT & FinoraAuthState> {
  const { authenticator, module } = resolveOptions(options);

  return async function finoraAuthMiddleware(ctx, next) {
    const requested = typeof module === 'function' ? module(ctx) : (module ?? moduleFromContext(ctx));
    if (requested !== undefined) assertModule(requested, 'the module returned by options.module');
    const { authorization, origin } = ctx.headers;
    const request: AuthRequest = { authorization: authorization ?? null, method: ctx.method, origin: origin ?? null };
    if (requested !== undefined) request.module = requested;
    const result = await authenticator.authenticate(request);
    if (!result.ok) {
      ctx.status = result.error.status;
      ctx.set(result.error.headers);
      ctx.body = JSON.stringify(result.error.body);
      return;
    }
    ctx.set(result.headers);
    ctx.state.auth = result.context;
    await next();
  };
}
