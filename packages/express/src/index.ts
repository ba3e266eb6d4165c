// Express 4 and 5 middleware: translates a request into the core's `authenticate()` and its answer into the response.

import {
  authorizationFromRawHeaders,
  moduleFromPath,
  requestModule,
  resolveMiddlewareOptions,
  type AuthContext,
  type AuthRequest,
  type AuthResult,
  type MiddlewareOptions,
  type Module,
} from '@finora-auth/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** Who is calling: set by `finoraAuth` once the request is allowed; absent on routes it does not guard. */
      auth?: AuthContext;
    }
  }
}

/**
 * `{ authenticator, module? }` or `{ store, ...authenticator options, module? }`. `module`: a catalog name for
 * every request, a function of the Express request returning one (or `undefined` for no module), or absent
 * (the default) to derive it from the path.
 */
export type FinoraAuthOptions = MiddlewareOptions<Request>;

/**
 * Express cuts each mount's path off into `req.baseUrl`; `req.path` is what the routes below this middleware
 * match. The core reads the path below every segment boundary of that mount, so it does not matter where in
 * the chain of routers the module segment was cut off.
 */
const moduleFromRequest = (req: Request): Module | undefined => moduleFromPath(req.path, req.baseUrl);

/** Answers a refusal with the core's status, headers and body; otherwise sets `req.auth` and the headers and goes on. */
function respond(result: AuthResult, req: Request, res: Response, next: NextFunction): void {
  if (!result.ok) {
    // Plain Node calls: Express's res.set and res.send would add a charset to the core's Content-Type.
    res.statusCode = result.error.status;
    for (const name in result.error.headers) res.setHeader(name, result.error.headers[name]!);
    res.end(JSON.stringify(result.error.body));
    return;
  }
  for (const name in result.headers) res.setHeader(name, result.headers[name]!);
  req.auth = result.context;
  next();
}

/**
 * Refuses a request the core refuses, answering with its status, headers and JSON body; otherwise sets
 * `req.auth` and the core's response headers and calls the next handler.
 */
export function finoraAuth(options: FinoraAuthOptions): RequestHandler {
  const { authenticator, module } = resolveMiddlewareOptions(options);

  return function finoraAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    let requested: Module | undefined;
    try {
      requested = requestModule(module, req, moduleFromRequest);
    } catch (error) {
      next(error);
      return;
    }
    const authorization = Array.isArray(req.rawHeaders) ? authorizationFromRawHeaders(req.rawHeaders) : (req.headers.authorization ?? null);
    const request: AuthRequest = { authorization, method: req.method, origin: req.headers.origin ?? null };
    if (requested !== undefined) request.module = requested;
    // A cached key is answered at once (authenticateNow), so the request goes on in this same tick.
    const answer = authenticator.authenticateNow?.(request) ?? authenticator.authenticate(request);
    if ('then' in answer) answer.then((result) => respond(result, req, res, next)).catch(next);
    else respond(answer, req, res, next);
  };
}
