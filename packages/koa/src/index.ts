// Koa 2 and 3 middleware: translates a context into the core's `authenticate()` and its answer into the response.

import {
  authorizationFromRawHeaders,
  fieldFromRawHeaders,
  moduleFromPath,
  requestModule,
  resolveMiddlewareOptions,
  targetPath,
  type AuthContext,
  type AuthRequest,
  type MiddlewareOptions,
  type Module,
} from '@finora-auth/core';
import type { DefaultState, Middleware, ParameterizedContext } from 'koa';

/** What `finoraAuth` adds to `ctx.state` once a request is allowed. */
export interface FinoraAuthState {
  auth: AuthContext;
}

/**
 * `{ authenticator, module? }` or `{ store, ...authenticator options, module? }`. `module`: a catalog name for
 * every request, a function of the Koa context returning one (or `undefined` for no module), or absent (the
 * default) to derive it from the path.
 */
export type FinoraAuthOptions<StateT = DefaultState> = MiddlewareOptions<ParameterizedContext<StateT>>;

/** How @koa/router ends the path of a layer added by `router.use(middleware)`: what precedes it is the mount. */
const USE_LAYER = '([^/]*)';

/**
 * `ctx.path` is what Koa routes on; koa-mount cuts its prefix off it (the rest of `ctx.originalUrl` is the
 * mount). @koa/router leaves its prefixes in `ctx.path`: the router's own prefix, and, for `router.use()`, the
 * layer's path, which carries the prefixes of enclosing routers too; those are moved to the mount.
 */
function moduleFromContext(ctx: ParameterizedContext): Module | undefined {
  const original = targetPath(ctx.originalUrl);
  let rest = ctx.path;
  let mount = original.endsWith(rest) ? original.slice(0, original.length - rest.length) : rest === '/' ? original : '';
  const { router, routerPath } = ctx as { router?: { opts?: { prefix?: unknown } }; routerPath?: unknown };
  const layer = typeof routerPath === 'string' && routerPath.endsWith(USE_LAYER) ? routerPath.slice(0, -USE_LAYER.length) : '';
  const prefix = startsWithPrefix(rest, layer) ? layer : startsWithPrefix(rest, router?.opts?.prefix) ? router.opts.prefix : undefined;
  if (prefix) {
    mount += rest.slice(0, prefix.length);
    rest = rest.slice(prefix.length);
  }
  return moduleFromPath(rest, mount);
}

const startsWithPrefix = (path: string, prefix: unknown): prefix is string =>
  typeof prefix === 'string' && prefix !== '' && path.toLowerCase().startsWith(prefix.toLowerCase());

/**
 * Refuses a request the core refuses, answering with its status, headers and JSON body; otherwise sets
 * `ctx.state.auth` and the core's response headers and calls the next middleware.
 */
export function finoraAuth<StateT = DefaultState>(options: FinoraAuthOptions<StateT>): Middleware<StateT & FinoraAuthState> {
  const { authenticator, module } = resolveMiddlewareOptions(options);

  return async function finoraAuthMiddleware(ctx, next) {
    const requested = requestModule(module, ctx, moduleFromContext);
    // Node's rawHeaders when at hand: Authorization with every copy, and Origin without making Node build
    // `req.headers`, which a bare Koa request never reads.
    const raw = ctx.req?.rawHeaders;
    const request: AuthRequest = Array.isArray(raw)
      ? { authorization: authorizationFromRawHeaders(raw), method: ctx.method, origin: fieldFromRawHeaders(raw, 'origin') }
      : { authorization: ctx.headers.authorization ?? null, method: ctx.method, origin: ctx.headers.origin ?? null };
    if (requested !== undefined) request.module = requested;
    // A cached key is answered at once (authenticateNow): no promise to wait on before the next middleware.
    const answer = authenticator.authenticateNow?.(request) ?? authenticator.authenticate(request);
    const result = 'then' in answer ? await answer : answer;
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
