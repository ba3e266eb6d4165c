// Forward authentication: judge the request a proxy describes (nginx, Caddy, Traefik, Envoy) and answer yes or no.

import type { IncomingMessage } from 'node:http';
import { authorizationFromRawHeaders, type Authenticator, type AuthResult } from '@finora-auth/core';
import { IDENTITY_HEADERS } from './forward-headers';
import { judgeTarget } from './target';

/** The identity header v2 adds to the four the proxy mode sends. */
export const SCOPES_HEADER = 'Finora-Scopes';

/** The header pairs that describe the original request, in the contract's order of precedence. */
const DESCRIBERS = [
  { method: 'x-forwarded-method', target: 'x-forwarded-uri' }, // Traefik, Caddy
  { method: 'x-original-method', target: 'x-original-uri' }, // nginx (set in the shipped configuration)
] as const;

/** An HTTP method is a token (RFC 9110 §9.1). */
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export type DescribedRequest =
  | { ok: true; method: string; target: string }
  | { ok: false; message: string };

/** Where each describing header's value goes in `describers`: method and target of the first pair, then the second's. */
const DESCRIBER_SLOT: ReadonlyMap<string, number> = new Map(DESCRIBERS.flatMap((pair, i) => [[pair.method, 2 * i], [pair.target, 2 * i + 1]] as const));

/**
 * The four describing headers' values, read from the raw headers in one pass (`req.headersDistinct` would build
 * an object of every header): each is `null` when absent, or `false` when it was sent more than once.
 */
function describers(raw: readonly string[]): (string | null | false)[] {
  const values: (string | null | false)[] = [null, null, null, null];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // Every describing header starts with x- or X-: the rest are passed over without lowercasing them.
    if (name.length < 14 || (name[0] !== 'x' && name[0] !== 'X')) continue;
    const slot = DESCRIBER_SLOT.get(name) ?? DESCRIBER_SLOT.get(name.toLowerCase());
    if (slot !== undefined) values[slot] = values[slot] === null ? (raw[i + 1] as string) : false;
  }
  return values;
}

/**
 * The method and target of the request being asked about. A pair is used when either of its headers is present,
 * and then both must be there, once each: a target without its method would be judged as the subrequest's own
 * method (nginx's is always GET), letting a read-only key pass a write.
 */
export function describedRequest(req: IncomingMessage): DescribedRequest {
  const values = describers(req.rawHeaders);
  for (let i = 0; i < DESCRIBERS.length; i++) {
    const pair = DESCRIBERS[i] as (typeof DESCRIBERS)[number];
    const method = values[2 * i] as string | null | false;
    const target = values[2 * i + 1] as string | null | false;
    if (method === null && target === null) continue;
    if (method === false || target === false) {
      return { ok: false, message: `The ${pair.method} and ${pair.target} headers must be sent once each.` };
    }
    if (method === null || target === null) {
      return { ok: false, message: `The ${pair.method} and ${pair.target} headers must be sent together.` };
    }
    if (!METHOD.test(method)) return { ok: false, message: `The ${pair.method} header is not an HTTP method.` };
    return { ok: true, method, target };
  }
  return { ok: true, method: req.method ?? 'GET', target: req.url ?? '/' };
}

/** What the forward-auth endpoint answers. `result` is absent when the request was refused before authentication. */
export interface ForwardAuthAnswer {
  status: number;
  headers: Record<string, string>;
  /** Empty when allowed: a proxy must never pass a body of ours on as the upstream's. */
  body: string;
  result?: AuthResult;
  /** The module the described request was judged for. */
  module?: string;
  /** The described method and target (the asking request's own when it describes nothing or is refused for it). */
  method: string;
  target: string;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } as const;

function invalidRequest(message: string, method: string, target: string): ForwardAuthAnswer {
  return {
    status: 400,
    headers: { ...JSON_HEADERS },
    body: JSON.stringify({ error: { code: 'INVALID_REQUEST', message } }),
    method,
    target,
  };
}

/** A judged forward-auth request as the gateway writes it: an allowed answer's headers as a `[name, value, …]` list. */
export type JudgedForwardAuth = (Omit<ForwardAuthAnswer, 'headers'> & { headers: Record<string, string> }) | (Omit<ForwardAuthAnswer, 'headers'> & { headerList: string[] });

/**
 * `forwardAuth`, with an allowed answer's headers left as the list they are built as (the core's, then the
 * identity headers): the gateway writes the list as it is, with no object made and read back per request. Returned
 * at once when the core answers at once (`authenticateNow`: a cached key), so a cached key costs no promise.
 */
export function judgeForwardAuth(authenticator: Authenticator, req: IncomingMessage): JudgedForwardAuth | Promise<JudgedForwardAuth> {
  const described = describedRequest(req);
  if (!described.ok) return invalidRequest(described.message, req.method ?? 'GET', req.url ?? '/');
  const { method, target } = described;
  const verdict = judgeTarget(target);
  if (!verdict.ok) return invalidRequest(verdict.message, method, target);
  const module = verdict.module;
  const request = {
    // Every Authorization line, joined: node:http keeps only the first, and two keys must not pass as one.
    authorization: authorizationFromRawHeaders(req.rawHeaders),
    ...(module !== undefined ? { module } : {}),
    method,
    origin: req.headers.origin ?? null,
  };
  const result = authenticator.authenticateNow?.(request) ?? authenticator.authenticate(request);
  return result instanceof Promise ? result.then((settled) => answerFor(settled, method, target, module)) : answerFor(result, method, target, module);
}

/** The answer to a request the core judged. */
function answerFor(result: AuthResult, method: string, target: string, module: string | undefined): JudgedForwardAuth {
  const judged = module !== undefined ? { module } : {};
  if (!result.ok) {
    const { error } = result;
    return { status: error.status, headers: { ...error.headers }, body: JSON.stringify(error.body), result, method, target, ...judged };
  }
  const { context } = result;
  const headerList: string[] = [];
  const own = result.headers;
  for (const name in own) headerList.push(name, own[name] as string);
  headerList.push(
    'cache-control',
    'no-store',
    IDENTITY_HEADERS.accountId,
    context.accountId,
    IDENTITY_HEADERS.keyId,
    context.keyId,
    IDENTITY_HEADERS.environment,
    context.environment,
    // Always sent, empty for no module: Caddy 2.6's copy_headers passes a header the answer lacks on as the
    // literal text of its placeholder; nginx and Caddy send no header for an empty value.
    IDENTITY_HEADERS.module,
    module ?? '',
    SCOPES_HEADER,
    context.scopes.join(' '),
  );
  return { status: 200, headerList, body: '', result, method, target, ...judged };
}

/**
 * Judges one forward-auth request. Allowed: 200, no body, the identity headers and the core's headers
 * (`Finora-Key-Expires-At`, credits, rate-limit fields). Refused: the core's status, headers and body, or 400
 * `INVALID_REQUEST` for a described target that upstreams route differently (see target.ts).
 */
export async function forwardAuth(authenticator: Authenticator, req: IncomingMessage): Promise<ForwardAuthAnswer> {
  const judged = await judgeForwardAuth(authenticator, req);
  if ('headers' in judged) return judged;
  const { headerList, ...answer } = judged;
  const headers: Record<string, string> = {};
  for (let i = 0; i < headerList.length; i += 2) headers[headerList[i] as string] = headerList[i + 1] as string;
  return { ...answer, headers };
}
