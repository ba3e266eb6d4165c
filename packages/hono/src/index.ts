// Hono 4 middleware for any runtime: translates a request into the core's `authenticate()` and its answer into the response.

import {
  authorizationFromRawHeaders,
  moduleFromPath,
  requestModule,
  resolveMiddlewareOptions,
  type AuthContext,
  type AuthRequest,
  type MiddlewareOptions,
  type Module,
} from '@finora-auth/core';
import type { Context, MiddlewareHandler } from 'hono';
import { basePath, matchedRoutes } from 'hono/route';

/** What `finoraAuth` adds to the context: `c.get('auth')` once a request is allowed. */
export type FinoraAuthEnv = { Variables: { auth: AuthContext } };

/**
 * `{ authenticator, module? }` or `{ store, ...authenticator options, module? }`. `module`: a catalog name for
 * every request, a function of the Hono context returning one (or `undefined` for no module), or absent (the
 * default) to derive it from the path.
 */
export type FinoraAuthOptions = MiddlewareOptions<Context>;

/** The Node request @hono/node-server puts in `c.env.incoming`, as far as this middleware reads it. */
type NodeIncoming = { rawHeaders?: string[]; headers?: { origin?: string } };
/** The Node response @hono/node-server puts in `c.env.outgoing`, as far as this middleware writes it. */
type NodeOutgoing = {
  setHeader?: (name: string, value: string) => unknown;
  hasHeader?: (name: string) => boolean;
  writeHead?: (status: number, ...rest: unknown[]) => unknown;
  headersSent?: boolean;
};

/** Cloudflare Workers (as the core detects them): no timer outlives a request, so counts leave through `waitUntil`. */
const ON_WORKERS = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent === 'Cloudflare-Workers';

/** Hands `flush` to the request's `waitUntil`, when it has an execution context (Hono throws reading a missing one). */
function flushAfterResponse(c: Context, flush: () => Promise<void>): void {
  let executionCtx: Context['executionCtx'];
  try {
    executionCtx = c.executionCtx;
  } catch {
    return; // e.g. app.request() in a test: nothing to keep the flush alive
  }
  executionCtx.waitUntil(flush());
}

/** `/api/*` -> `/api`: the literal prefix this middleware was registered under, when it has no parameters. */
const WILDCARD_MOUNT = /^((?:\/[^/:*{}()?]+)*)\/\*$/;
const HAS_PARAMETERS = /[:*]/;

type Route = ReturnType<typeof matchedRoutes>[number];
/** Per registered route, what depends on it alone: its registered prefix and its base path when that has no parameters. */
interface RouteMounts {
  registered: string | undefined;
  base: string | undefined;
}
const routeMounts = new WeakMap<Route, RouteMounts>();

function mountsOf(route: Route): RouteMounts {
  let mounts = routeMounts.get(route);
  if (!mounts) {
    mounts = { registered: WILDCARD_MOUNT.exec(route.path)?.[1], base: HAS_PARAMETERS.test(route.basePath) ? undefined : route.basePath };
    routeMounts.set(route, mounts);
  }
  return mounts;
}

/** `prefix`, when `path` begins with it (case-insensitively) and it cuts anything off: `''` and `/` do not. */
const cuts = (prefix: string | undefined, path: string): prefix is string =>
  prefix !== undefined && prefix.length > 1 && path.toLowerCase().startsWith(prefix.toLowerCase());

/**
 * `c.req.path` is what Hono routes on (percent-decoded; the runtime's URL parser resolved dot segments). Its
 * mount is the prefix this middleware was registered under (`app.use('/api/*', ...)`) or else the sub-app's or
 * `basePath()`'s mount, parameters filled in. Both depend on the matched route only (apart from parameters), so
 * they are worked out once per route.
 */
function moduleFromContext(c: Context): Module | undefined {
  const path = c.req.path;
  const route = matchedRoutes(c)[c.req.routeIndex];
  const mounts = route ? mountsOf(route) : { registered: undefined, base: '' };
  if (cuts(mounts.registered, path)) return moduleFromPath(path.slice(mounts.registered.length), mounts.registered);
  const base = route && mounts.base === undefined ? basePath(c) : mounts.base;
  return cuts(base, path) ? moduleFromPath(path.slice(base.length), base) : moduleFromPath(path);
}

/**
 * Refuses a request the core refuses, answering with its status, headers and JSON body; otherwise sets
 * `c.get('auth')`, calls the next handler and adds the core's response headers to what it answered. On Cloudflare
 * Workers it then hands `authenticator.flush()` to `c.executionCtx.waitUntil`, so usage and rate-limit counts
 * leave the isolate (no timer outlives a request there).
 */
export function finoraAuth(options: FinoraAuthOptions): MiddlewareHandler<FinoraAuthEnv> {
  const { authenticator, module } = resolveMiddlewareOptions(options);

  return async function finoraAuthMiddleware(c, next) {
    const requested = requestModule(module, c, moduleFromContext);
    // On @hono/node-server the Node request is at hand: reading its raw headers spares building a Headers object.
    const incoming = (c.env as { incoming?: NodeIncoming } | undefined)?.incoming;
    const request: AuthRequest = Array.isArray(incoming?.rawHeaders)
      ? { authorization: authorizationFromRawHeaders(incoming.rawHeaders), method: c.req.method, origin: incoming.headers?.origin ?? null }
      : { authorization: c.req.header('authorization') ?? null, method: c.req.method, origin: c.req.header('origin') ?? null };
    if (requested !== undefined) request.module = requested;
    // A cached key is answered at once (authenticateNow): no promise to wait on before the handler.
    const answer = authenticator.authenticateNow?.(request) ?? authenticator.authenticate(request);
    const result = 'then' in answer ? await answer : answer;
    if (!result.ok) return c.body(JSON.stringify(result.error.body), result.error.status, result.error.headers);
    c.set('auth', result.context);
    // On node-server the headers ride on the Node response's head, whoever writes it; elsewhere they go on c.res.
    const onNode = addNodeHeaders(c, result.headers);
    await next();
    if (!onNode) addResponseHeaders(c, result.headers);
    // Workers: this request's usage and rate-limit counts go to the store after the response (docs/stores-http.md).
    if (ON_WORKERS && authenticator.flush) flushAfterResponse(c, () => authenticator.flush!());
  };
}

/**
 * The core's headers on the handler's answer, however it was built (`c.json()`, its own `new Response()`, or
 * written to the Node response directly). On @hono/node-server they join the plain record node-server hands to the
 * Node response's `writeHead` (see {@link withHeaders}), set up before the handler runs: set with `setHeader`
 * instead, they would push `writeHead` off its fast path (it then sets and checks every header of the Response one
 * by one again: ~3-7 µs a rate-limited request); `c.header()` after the handler rebuilds the Response, which pushes
 * node-server off its cheap cached path (~40 µs a request), and even set in place on `c.res.headers` they cost a
 * `Headers` object (~6 µs; and node-server's light Response loses such an edit once its body is read). Returns
 * false when there is no Node response: then {@link addResponseHeaders} puts them on `c.res` after the handler
 * (Workers, Deno, Bun, `app.request()`). Either way a value the handler set itself is kept, as under the Express and
 * Koa adapters; on node-server a middleware outside this one does not see them in `c.res`.
 */
function addNodeHeaders(c: Context, headers: Record<string, string>): boolean {
  const outgoing = (c.env as { outgoing?: NodeOutgoing } | undefined)?.outgoing;
  if (!outgoing || typeof outgoing.writeHead !== 'function' || typeof outgoing.setHeader !== 'function' || outgoing.headersSent) return false;
  if (!isEmpty(headers)) outgoing.writeHead = withHeaders(outgoing, outgoing.writeHead, headers);
  return true;
}

function addResponseHeaders(c: Context, headers: Record<string, string>): void {
  const own = c.res.headers;
  for (const name in headers) if (!own.has(name)) c.header(name, headers[name]);
}

const isEmpty = (headers: Record<string, string>): boolean => {
  for (const _name in headers) return false;
  return true;
};

/**
 * `writeHead` adding `headers` to the head it writes. node-server calls it with a plain record of the Response's
 * headers (`writeHead(status, record)`): names the record already has, in any case, are left to it, and the others
 * go on a copy, never on the record itself, which may be an object the handler reuses for every response (`new
 * Response(body, { headers: SHARED })`): one request's balance must never reach another's answer. Called any other
 * way (a status text, an array, or with nothing, as Node's implicit head after a handler's own `write()`), the
 * names the response does not have yet are set on it first.
 */
function withHeaders(outgoing: NodeOutgoing, writeHead: NonNullable<NodeOutgoing['writeHead']>, headers: Record<string, string>) {
  return function writeHeadWithAuthHeaders(this: unknown, status: number, ...rest: unknown[]): unknown {
    const record = rest[rest.length - 1];
    if (record !== null && typeof record === 'object' && !Array.isArray(record)) {
      let merged: Record<string, unknown> | undefined;
      for (const name in headers) if (!hasName(record as Record<string, unknown>, name)) (merged ??= copy(record as Record<string, unknown>))[name] = headers[name];
      if (merged) rest[rest.length - 1] = merged;
    } else {
      for (const name in headers) if (!outgoing.hasHeader!(name)) outgoing.setHeader!(name, headers[name]!);
    }
    return writeHead.call(this, status, ...rest);
  };
}

/**
 * A copy of a header record, made key by key: `{ ...record }` gave an object that made Node's `writeHead` about 8 µs
 * dearer (measured on node-server: 25-30 against 19-20 µs of server CPU a request), the copy made this way costs
 * nothing measurable.
 */
function copy(record: Record<string, unknown>): Record<string, unknown> {
  const copied: Record<string, unknown> = {};
  for (const name in record) copied[name] = record[name];
  return copied;
}

/** Whether `record` has a header `name`, whatever the case of its keys. */
function hasName(record: Record<string, unknown>, name: string): boolean {
  if (name in record) return true;
  const lower = name.toLowerCase();
  for (const key in record) if (key.length === lower.length && key.toLowerCase() === lower) return true;
  return false;
}
