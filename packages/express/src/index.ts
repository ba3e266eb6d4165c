// Express 4 and 5 middleware: translates a request into the core's `authenticate()` and its answer into the response.

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
import type { NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Who is calling: set by `finoraAuth` once the request is allowed; absent on routes it does not guard. */
      auth?: AuthContext;
    }
  }
}

/**
 * The module a request is for: a catalog name for every request, a function of the request returning one (or
 * `undefined` for no module), or absent to derive it from the path. Default: derived from the path.
 */
export type ModuleOption = string | ((req: Request) => string | undefined);

export type FinoraAuthOptions =
  | { authenticator: Authenticator; module?: ModuleOption }
  | (AuthenticatorOptions & { authenticator?: undefined; module?: ModuleOption });

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

/** Express strips each mount's path into `req.baseUrl`; `req.path` is what the routes below this middleware see. */
const moduleFromRequest = (req: Request) => moduleUnder(req.baseUrl, req.path);

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
 * `req.auth` and the core's response headers and calls the next handler.
 */
export function finoraAuth(options: FinoraAuthOptions): RequestHandler {
  const { authenticator, module } = resolveOptions(options);

  return function finoraAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    let requested: string | undefined;
    try {
      requested = typeof module === 'function' ? module(req) : (module ?? moduleFromRequest(req));
      if (requested !== undefined) assertModule(requested, 'the module returned by options.module');
    } catch (error) {
      next(error);
      return;
    }
    const request: AuthRequest = { authorization: req.headers.authorization ?? null, method: req.method, origin: req.headers.origin ?? null };
    if (requested !== undefined) request.module = requested;
    authenticator.authenticate(request).then((result) => {
      if (!result.ok) {
        // Plain Node calls: Express's res.set/res.send would add a charset to the core's Content-Type.
        res.statusCode = result.error.status;
        for (const [name, value] of Object.entries(result.error.headers)) res.setHeader(name, value);
        res.end(JSON.stringify(result.error.body));
        return;
      }
      for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
      req.auth = result.context;
      next();
    }).catch(next);
  };
}
