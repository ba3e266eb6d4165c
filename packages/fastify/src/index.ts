// Fastify 4 and 5 plugin: translates a request into the core's `authenticate()` and its answer into the reply.

import {
  authorizationFromRawHeaders,
  isEnterpriseModule,
  moduleFromPath,
  requestModule,
  resolveMiddlewareOptions,
  targetPath,
  type AuthContext,
  type AuthRequest,
  type AuthResult,
  type MiddlewareOptions,
  type Module,
} from '@finora-auth/core';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: set by `finoraAuth` once the request is allowed; absent on routes it does not guard. */
    auth?: AuthContext;
  }
}

/**
 * `{ authenticator, module? }` or `{ store, ...authenticator options, module? }`. `module`: a catalog name for
 * every request, a function of the Fastify request returning one (or `undefined` for no module), or absent (the
 * default) to derive it from the route Fastify matched.
 */
export type FinoraAuthOptions = MiddlewareOptions<FastifyRequest>;

/** A path with no empty segment: below an empty prefix it is itself. */
const NO_EMPTY_SEGMENT = /^(?:(?:\/[^/]+)+|\/)$/;

/** The raw path with as many leading segments cut off as `prefix` has (empty segments do not count, as with ignoreDuplicateSlashes). */
function below(path: string, prefix: string): string {
  if (prefix === '' && NO_EMPTY_SEGMENT.test(path)) return path;
  const depth = prefix.split('/').filter((s) => s !== '').length;
  return `/${path.split('/').filter((s) => s !== '').slice(depth).join('/')}`;
}

/**
 * The module of the route Fastify matched (`/v1/payments/:id`, its prefix as the mount) and that of the raw path
 * it matched it on (which fills in parameters and wildcards); an enterprise module named by either wins. Fastify
 * cuts nothing off the path, so the prefix comes from the `onRoute` hook (`prefixes`). A request no route matched
 * is read below the plugin's scope.
 */
function moduleOf(request: FastifyRequest, prefixes: ReadonlyMap<string, string>, scopePrefix: string): Module | undefined {
  const raw = targetPath(request.raw.url ?? '/');
  const route = request.is404 ? undefined : request.routeOptions.url;
  if (route === undefined) return moduleFromPath(below(raw, scopePrefix), scopePrefix);
  const prefix = prefixes.get(route);
  // A route declared before the plugin is guarded too, but onRoute never saw it: read below every segment boundary.
  let fromRoute: Module | undefined;
  let fromRaw: Module | undefined;
  if (prefix === undefined) {
    fromRoute = moduleFromPath('/', route);
    fromRaw = moduleFromPath('/', raw);
  } else {
    const routeBelow = route.slice(prefix.length);
    const rawBelow = below(raw, prefix);
    fromRoute = moduleFromPath(routeBelow, prefix);
    // A static route's raw path usually spells it exactly: the same reading, not worked out twice.
    fromRaw = rawBelow === routeBelow ? fromRoute : moduleFromPath(rawBelow, prefix);
  }
  if (fromRoute !== undefined && isEnterpriseModule(fromRoute)) return fromRoute;
  if (fromRaw !== undefined && isEnterpriseModule(fromRaw)) return fromRaw;
  return fromRoute ?? fromRaw;
}

/** Refuses with the core's status, headers and body before the handler; otherwise sets `request.auth` and the headers and goes on. */
function respond(result: AuthResult, request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
  if (!result.ok) {
    // A Buffer, because Fastify appends `; charset=utf-8` to a JSON Content-Type it is given with a string.
    reply.code(result.error.status).headers(result.error.headers).send(Buffer.from(JSON.stringify(result.error.body)));
    return;
  }
  request.auth = result.context;
  reply.headers(result.headers);
  done();
}

/**
 * Guards the routes of the scope it is registered in (and of the scopes that scope registers after it): refuses a
 * request the core refuses with its status, headers and JSON body, before the handler; otherwise sets
 * `request.auth` and the core's response headers.
 */
const plugin: FastifyPluginAsync<FinoraAuthOptions> = async function finoraAuthPlugin(fastify, options) {
  if (options && 'prefix' in options) {
    throw new TypeError('finora-auth: prefix has no effect on finoraAuth, which guards the scope it is registered in; register it inside a prefixed scope');
  }
  const { authenticator, module } = resolveMiddlewareOptions(options);
  const prefixes = new Map<string, string>();
  const fromPath = (request: FastifyRequest) => moduleOf(request, prefixes, fastify.prefix);

  if (!fastify.hasRequestDecorator('auth')) fastify.decorateRequest('auth', undefined);
  // Several prefix splits of one URL: the longest prefix reads the most mounts, the strictest.
  fastify.addHook('onRoute', ({ url, prefix }) => {
    if (url !== undefined && prefix.length > (prefixes.get(url)?.length ?? -1)) prefixes.set(url, prefix);
  });
  // A callback hook, not an async one: a cached key is answered at once (authenticateNow) and the request goes on
  // in this same tick; only an answer that has to wait goes through a promise.
  fastify.addHook('onRequest', function finoraAuthOnRequest(request, reply, done) {
    let answer: AuthResult | Promise<AuthResult>;
    try {
      const requested = requestModule(module, request, fromPath);
      const raw = request.raw.rawHeaders;
      const authorization = Array.isArray(raw) ? authorizationFromRawHeaders(raw) : (request.headers.authorization ?? null);
      const auth: AuthRequest = { authorization, method: request.method, origin: request.headers.origin ?? null };
      if (requested !== undefined) auth.module = requested;
      answer = authenticator.authenticateNow?.(auth) ?? authenticator.authenticate(auth);
    } catch (error) {
      done(error as Error);
      return;
    }
    if ('then' in answer) answer.then((result) => respond(result, request, reply, done)).catch(done);
    else respond(answer, request, reply, done);
  });
};

/** `await app.register(finoraAuth, { authenticator })`: skips encapsulation (fastify-plugin), so it guards the registering scope. */
export const finoraAuth = fp(plugin, { name: '@finora-auth/fastify', fastify: '^4.26.0 || ^5.0.0' });
