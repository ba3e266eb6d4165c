// The reverse proxy: streams an authenticated request to the upstream and its answer back, without buffering bodies.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AccessRecord } from './access-log';
import { clientResponseHeaders, upstreamRequestHeaders, type Identity } from './forward-headers';
import type { GatewayMetrics } from './metrics';
import { errorBody } from './responses';

export interface ProxyOptions {
  upstream: URL;
  /** Longest wait for the upstream with no bytes moving (before headers: a 504; after: the exchange is cut). */
  timeoutMs: number;
  metrics: GatewayMetrics;
}

export interface Proxy {
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity,
    extraHeaders: readonly [string, string][],
    record: AccessRecord,
  ): void;
  close(): void;
}

class UpstreamTimeout extends Error {
  override readonly name = 'UpstreamTimeout';
}

/** Methods whose requests carry no body here and may be retried on a fresh connection. */
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/** The upstream URL checked once: http(s), a host, no query or fragment (where would they go?). */
export function parseUpstream(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`finora-auth: upstream must be an http:// or https:// URL; got ${JSON.stringify(value)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw new TypeError(`finora-auth: upstream must be an http:// or https:// URL; got ${JSON.stringify(value)}`);
  }
  if (url.search || url.hash) throw new TypeError('finora-auth: upstream must not have a query string or fragment');
  if (url.username || url.password) throw new TypeError('finora-auth: upstream must not carry credentials');
  return url;
}

export function createProxy(options: ProxyOptions): Proxy {
  const { upstream, timeoutMs, metrics } = options;
  const secure = upstream.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  // Kept-alive connections to the upstream: a new TCP (and TLS) handshake per request would cost more than the proxying.
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' })
    : new HttpAgent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' });
  const hostname = upstream.hostname.startsWith('[') ? upstream.hostname.slice(1, -1) : upstream.hostname;
  const port = upstream.port ? Number(upstream.port) : secure ? 443 : 80;
  const basePath = upstream.pathname.replace(/\/+$/, '');

  function fail(res: ServerResponse, record: AccessRecord, kind: 'unavailable' | 'timeout'): void {
    record.upstreamError = kind;
    metrics.upstreamErrors.inc({ kind });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = kind === 'timeout' ? 504 : 502;
    const body =
      kind === 'timeout'
        ? errorBody('UPSTREAM_TIMEOUT', `The upstream did not answer within ${timeoutMs} ms.`)
        : errorBody('UPSTREAM_UNAVAILABLE', 'The upstream could not be reached.');
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity,
    extraHeaders: readonly [string, string][],
    record: AccessRecord,
  ): void {
    const { headers, chunked } = upstreamRequestHeaders(req.rawHeaders, identity, {
      upstreamHost: upstream.host,
      clientHost: req.headers.host,
      clientProto: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
      clientAddress: req.socket.remoteAddress,
    });
    const method = req.method ?? 'GET';
    const hasBody = chunked || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const path = basePath + (req.url ?? '/');
    let attempts = 0;

    const attempt = (): void => {
      attempts += 1;
      const started = performance.now();
      let answered = false;
      const upstreamReq = send({ hostname, port, method, path, headers, agent, setHost: false });

      upstreamReq.setTimeout(timeoutMs, () => upstreamReq.destroy(new UpstreamTimeout()));

      upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
        answered = true;
        metrics.upstream.observe((performance.now() - started) / 1000);
        const status = upstreamRes.statusCode ?? 502;
        record.upstreamStatus = status;
        const out = clientResponseHeaders(upstreamRes.rawHeaders);
        for (const [name, value] of extraHeaders) out.push(name, value);
        res.writeHead(status, out);
        upstreamRes.on('error', () => res.destroy());
        upstreamRes.pipe(res);
      });

      upstreamReq.on('error', (error: NodeJS.ErrnoException) => {
        if (res.destroyed && !res.writableFinished) return; // the client left first; nothing to answer
        if (answered) {
          res.destroy();
          return;
        }
        // A kept-alive connection the upstream closed just as we reused it: safe to try once more when no body was sent.
        if (
          attempts === 1 &&
          upstreamReq.reusedSocket &&
          error.code === 'ECONNRESET' &&
          !hasBody &&
          RETRYABLE.has(method)
        ) {
          attempt();
          return;
        }
        metrics.upstream.observe((performance.now() - started) / 1000);
        fail(res, record, error instanceof UpstreamTimeout ? 'timeout' : 'unavailable');
      });

      if (hasBody) req.pipe(upstreamReq);
      else upstreamReq.end();

      // The client went away: stop talking to the upstream on its behalf. Prepended, so the access log
      // (written on the same event) already sees why.
      res.prependOnceListener('close', () => {
        if (!res.writableFinished) {
          if (!answered) {
            record.upstreamError ??= 'aborted';
            metrics.upstreamErrors.inc({ kind: 'aborted' });
          }
          upstreamReq.destroy();
        }
      });
    };

    req.once('error', () => res.destroy());
    attempt();
  }

  return {
    forward,
    close() {
      agent.destroy();
    },
  };
}
