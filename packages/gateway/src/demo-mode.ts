// `serve` without an upstream: the built-in demo API on Hono, every request authenticated first.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizationFromRawHeaders, isEnterpriseModule, moduleFromPath, type AuthRequest, type Authenticator, type Module } from '@finora-auth/core';
import type { FinoraAuthEnv } from '@finora-auth/hono';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { AccessLog, AccessRecord } from './access-log';
import { recordDecision } from './decision-record';
import { mountDemoApi } from './demo-api';
import { errorBody } from './responses';
import type { FailureThrottle } from './throttle';
import { settleUnreadBody } from './unread-body';

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } as const;

export interface DemoRequest {
  record: AccessRecord;
  awaitsContinue: boolean;
}

const STATE = Symbol('finora-auth.demo-request');
type WithState = IncomingMessage & { [STATE]?: DemoRequest };
type Env = FinoraAuthEnv & { Bindings: HttpBindings };

/**
 * The module a demo request is judged for: the raw path's and the one Hono routes on (decoded, dot segments
 * resolved) are both read, and an enterprise module named by either wins, since judging stricter is always safe.
 */
function moduleOf(c: Context<Env>): Module | undefined {
  const url = c.env.incoming.url ?? '/';
  const end = url.indexOf('?');
  const rawPath = end === -1 ? url : url.slice(0, end);
  const raw = moduleFromPath(rawPath);
  const routedPath = c.req.path;
  if (routedPath === rawPath) return raw;
  if (raw !== undefined && isEnterpriseModule(raw)) return raw;
  return moduleFromPath(routedPath) ?? raw;
}

export interface DemoMode {
  authenticator: Authenticator;
  throttle: FailureThrottle | undefined;
  maxBodySize: number;
  log: AccessLog;
}

export function createDemoListener(mode: DemoMode): (req: IncomingMessage, res: ServerResponse, state: DemoRequest) => void {
  const app = new Hono<Env>();
  const stateOf = (c: Context<Env>) => (c.env.incoming as WithState)[STATE] as DemoRequest;

  // A refusal sent while the client's body is still unread: a 401 must not cost reading 200 MB (see unread-body.ts).
  app.use('*', async function settleBodyOfRefusal(c, next) {
    await next();
    if (c.res.status >= 400) await settleUnreadBody(c.env.incoming, c.env.outgoing, stateOf(c).awaitsContinue);
  });

  const throttle = mode.throttle;
  if (throttle) {
    app.use('*', async function throttleFailedAuthentications(c, next) {
      const client = c.env.incoming.socket.remoteAddress ?? '';
      const wait = throttle.retryAfter(client);
      if (wait > 0) {
        const message = `Too many failed authentications from this address. Retry in ${wait} s.`;
        return c.body(errorBody('TOO_MANY_FAILED_AUTHENTICATIONS', message), 429, { ...JSON_HEADERS, 'Retry-After': String(wait) });
      }
      await next();
      if (c.res.status === 401) throttle.fail(client);
      return undefined;
    });
  }

  app.use('*', async function authenticate(c, next) {
    const state = stateOf(c);
    const module = moduleOf(c);
    const { incoming } = c.env;
    const request: AuthRequest = { authorization: authorizationFromRawHeaders(incoming.rawHeaders), method: c.req.method, origin: incoming.headers.origin ?? null };
    if (module !== undefined) request.module = module;
    const result = await mode.authenticator.authenticate(request);
    recordDecision(state.record, result.decision);
    if (module !== undefined) state.record.module = module;
    if (!result.ok) return c.body(JSON.stringify(result.error.body), result.error.status, result.error.headers);
    c.set('auth', result.context);
    // `Expect: 100-continue` is answered only now, once the request is allowed: a refused client never sends its body.
    if (state.awaitsContinue) {
      state.awaitsContinue = false;
      c.env.outgoing.writeContinue();
    }
    await next();
    const { headers } = result;
    for (const name in headers) c.header(name, headers[name] as string);
    return undefined;
  });

  mountDemoApi(app as unknown as Hono<FinoraAuthEnv>, mode.maxBodySize);

  app.onError((error, c) => {
    mode.log.event({ level: 'error', msg: 'request failed', error: error instanceof Error ? error.name : 'Error' });
    return c.body(errorBody('INTERNAL_ERROR', 'The gateway failed to handle this request.'), 500, JSON_HEADERS);
  });

  const listener = getRequestListener(app.fetch, { hostname: 'localhost' });
  return (req, res, state) => {
    (req as WithState)[STATE] = state;
    void listener(req, res);
  };
}
