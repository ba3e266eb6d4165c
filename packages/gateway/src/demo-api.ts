// The built-in demo API: every catalog module answers with the caller's AuthContext, so the rules can be tried by hand.

import type { IncomingMessage } from 'node:http';
import { ENTERPRISE_MODULES, RETAIL_MODULES, type AuthContext } from '@finora-auth/core';
import type { FinoraAuthEnv } from '@finora-auth/hono';
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { errorBody } from './responses';

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } as const;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

function describe(auth: AuthContext): Record<string, unknown> {
  const out: Record<string, unknown> = { ...auth, expiresAt: auth.expiresAt.toISOString() };
  return out;
}

/** What was sent, summarised: parsed JSON when it is JSON (it is capped by the body limit), else its size. */
async function received(c: Context): Promise<unknown> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const type = c.req.header('content-type') ?? '';
  if (/\bjson\b/i.test(type)) {
    try {
      return { json: JSON.parse(new TextDecoder().decode(bytes)) };
    } catch {
      return { bytes: bytes.byteLength, note: 'not valid JSON' };
    }
  }
  return { bytes: bytes.byteLength };
}

/** Whether a request may carry a body: it has a Transfer-Encoding, or a Content-Length other than 0 (or it is not on node:http). */
function declaresBody(c: Context): boolean {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) return true;
  const length = incoming.headers['content-length'];
  return incoming.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Adds the demo routes to an app whose every request already passed `finoraAuth`. The module judged by the
 * authenticator decides what answers, so the demo can never show a module the key was not checked for.
 */
export function mountDemoApi(app: Hono<FinoraAuthEnv>, maxBodySize: number): void {
  const limit = bodyLimit({
    maxSize: maxBodySize,
    onError: (c) => c.body(errorBody('PAYLOAD_TOO_LARGE', `The request body is larger than ${maxBodySize} bytes.`), 413, JSON_HEADERS),
  });
  // Hono's bodyLimit reads `c.req.raw.body`, for which @hono/node-server builds a whole Web Request (headers,
  // AbortController, stream): most of a demo request's cost. A request that declares no body has none to limit.
  app.use('*', function limitBody(c, next) {
    return declaresBody(c) ? limit(c, next) : next();
  });

  app.all('*', async function demoApi(c) {
    const auth = c.get('auth');
    const module = auth.module;
    if (module !== undefined) {
      const answer: Record<string, unknown> = {
        demo: true,
        module,
        method: c.req.method,
        path: c.req.path,
        auth: describe(auth),
      };
      if (WRITE_METHODS.has(c.req.method)) answer.received = await received(c);
      return c.body(JSON.stringify(answer), 200, JSON_HEADERS);
    }
    if (c.req.path === '/' || /^\/v\d+\/?$/.test(c.req.path)) {
      const answer = {
        demo: true,
        message:
          'finora-auth demo API: every catalog module answers at /v1/<module> with the AuthContext of your key. ' +
          'Enterprise modules need an enterprise key of an enterprise-provisioned account.',
        auth: describe(auth),
        modules: { retail: RETAIL_MODULES, enterprise: ENTERPRISE_MODULES },
      };
      return c.body(JSON.stringify(answer), 200, JSON_HEADERS);
    }
    return c.body(errorBody('NOT_FOUND', 'No such module. Try /v1 for the list.'), 404, JSON_HEADERS);
  });
}
