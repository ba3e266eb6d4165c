// Koa 2 and 3 middleware: translates a context into the core's `authenticate()` and its answer into the response.

import {
  assertModule,
  createAuthenticator,
  isEnterpriseModule,
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

/**
 * The module named by the paths Koa routes on: `ctx.path` (relative to a koa-mount prefix), the full request
 * path, and the path under the prefix of the @koa/router running this middleware. An enterprise module named
 * by any of them wins: judging stricter is always safe.
 */
function moduleFromContext(ctx: ParameterizedContext): Module | undefined {
  const prefix = (ctx as { router?: { opts?: { prefix?: unknown } } }).router?.opts?.prefix;
  const paths = [ctx.path, ctx.originalUrl.replace(ABSOLUTE_FORM, '')];
  if (typeof prefix === 'string' && prefix !== '' && ctx.path.toLowerCase().startsWith(prefix.toLowerCase())) {
    paths.unshift(ctx.path.slice(prefix.length));
  }
  const modules = paths.map(moduleFromPath);
  return modules.find((module) => module !== undefined && isEnterpriseModule(module)) ?? modules.find(Boolean);
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
