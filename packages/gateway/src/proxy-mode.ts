// `serve --upstream`: judge the raw target, authenticate, then stream the request to the upstream.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizationFromRawHeaders, type AuthRequest, type AuthResult, type Authenticator } from '@finora-auth/core';
import type { AccessRecord } from './access-log';
import { recordDecision } from './decision-record';
import { MAX_REQUEST_HEADERS } from './forward-headers';
import type { Proxy } from './proxy';
import { errorBody } from './responses';
import { judgeTarget } from './target';
import type { FailureThrottle } from './throttle';
import { settleUnreadBody } from './unread-body';

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } as const;

export interface ProxyMode {
  authenticator: Authenticator;
  proxy: Proxy;
  throttle: FailureThrottle | undefined;
}

/** Per-request state the server shares with the handler. */
export interface ProxiedRequest {
  record: AccessRecord;
  /** The client sent `Expect: 100-continue` and holds its body back until it hears `100 Continue`. */
  awaitsContinue: boolean;
  /** Set once proxying starts: stops the upstream exchange when the client leaves first. */
  onClientGone: (() => void) | undefined;
}

const REFUSAL_HEADERS = { ...JSON_HEADERS, Connection: 'close' } as const;

function refuse(req: IncomingMessage, res: ServerResponse, awaitsContinue: boolean, status: number, headers: Readonly<Record<string, string>>, body: string): Promise<void> | undefined {
  // Only a chunked body being drained is waited for: a bodiless request is answered at once.
  const settling = settleUnreadBody(req, res, awaitsContinue);
  if (settling) return settling.then(() => writeRefusal(res, status, headers, body));
  writeRefusal(res, status, headers, body);
  return undefined;
}

function writeRefusal(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Judges and forwards one request; a cached key is judged and sent on in the request's own tick. */
export function answerProxied(mode: ProxyMode, req: IncomingMessage, res: ServerResponse, state: ProxiedRequest): Promise<void> | undefined {
  // Judged before anything else, so a target upstreams read differently never costs a store lookup.
  const target = judgeTarget(req.url ?? '/');
  if (!target.ok) return refuse(req, res, state.awaitsContinue, target.status, REFUSAL_HEADERS, errorBody(target.code, target.message));
  if (req.rawHeaders.length > 2 * MAX_REQUEST_HEADERS) {
    const body = errorBody('HEADERS_TOO_LARGE', `The request has more than ${MAX_REQUEST_HEADERS} headers.`);
    return refuse(req, res, state.awaitsContinue, 431, REFUSAL_HEADERS, body);
  }
  const client = req.socket.remoteAddress ?? '';
  const wait = mode.throttle?.retryAfter(client) ?? 0;
  if (wait > 0) {
    const body = errorBody('TOO_MANY_FAILED_AUTHENTICATIONS', `Too many failed authentications from this address. Retry in ${wait} s.`);
    return refuse(req, res, state.awaitsContinue, 429, { ...JSON_HEADERS, 'Retry-After': String(wait) }, body);
  }
  const module = target.module;
  const request: AuthRequest = { authorization: authorizationFromRawHeaders(req.rawHeaders), method: req.method ?? 'GET', origin: req.headers.origin ?? null };
  if (module !== undefined) request.module = module;
  const result = mode.authenticator.authenticateNow?.(request) ?? mode.authenticator.authenticate(request);
  return result instanceof Promise
    ? result.then((settled) => proceed(mode, req, res, state, client, module, settled))
    : proceed(mode, req, res, state, client, module, result);
}

/** A judged request: refused, or forwarded to the upstream. */
function proceed(
  mode: ProxyMode,
  req: IncomingMessage,
  res: ServerResponse,
  state: ProxiedRequest,
  client: string,
  module: string | undefined,
  result: AuthResult,
): Promise<void> | undefined {
  recordDecision(state.record, result.decision);
  if (module !== undefined) state.record.module = module;
  if (!result.ok) {
    if (result.error.status === 401) mode.throttle?.fail(client);
    if (res.destroyed) return;
    return refuse(req, res, state.awaitsContinue, result.error.status, result.error.headers, JSON.stringify(result.error.body));
  }
  // The client left while it was being authenticated: nothing to ask the upstream on its behalf.
  if (res.destroyed) return undefined;
  // `Expect: 100-continue` is answered only now, once the request is allowed: a refused client never sends its body.
  if (state.awaitsContinue) {
    state.awaitsContinue = false;
    res.writeContinue();
  }
  state.onClientGone = mode.proxy.forward(req, res, result.context, result.headers, state.record);
  return undefined;
}
