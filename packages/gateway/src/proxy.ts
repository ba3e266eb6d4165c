// The reverse proxy: streams an authenticated request to the upstream and its answer back, without buffering bodies.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Pool, type Dispatcher } from 'undici';
import type { AccessRecord } from './access-log';
import { clientResponseHeaderList, upstreamRequestHeaders, type Identity } from './forward-headers';
import type { GatewayMetrics } from './metrics';
import { errorBody } from './responses';

export interface ProxyOptions {
  upstream: URL;
  /** Longest wait for the upstream with no bytes moving (before headers: a 504; after: the exchange is cut). */
  timeoutMs: number;
  metrics: GatewayMetrics;
}

export interface Proxy {
  /**
   * Starts proxying `req` and answering on `res`. Returns what to call if the client goes away before the answer
   * is complete: it stops the upstream exchange and notes why in `record`. (The caller already listens for the
   * response's close; one listener per request is cheaper than two.)
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    identity: Identity,
    extraHeaders: Readonly<Record<string, string>>,
    record: AccessRecord,
  ): () => void;
  close(): Promise<void>;
}

/** Methods whose requests carry no body here and may be retried on a fresh connection. */
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/** undici's codes for "no answer in time" (before the headers, or between body chunks). */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** A connection the upstream closed under a request: the only failure worth one more try. */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

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

/**
 * Proxies with undici's `Pool.dispatch`, the lowest-level documented API: per request, one handler object and
 * the header list, where node:http's `request` builds a ClientRequest, an IncomingMessage and their streams.
 */
export function createProxy(options: ProxyOptions): Proxy {
  const { upstream, timeoutMs, metrics } = options;
  // Kept-alive connections to the upstream, as many as requests in flight need: a new TCP (and TLS) handshake
  // per request would cost more than the proxying.
  const pool = new Pool(upstream.origin, {
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    // Requests are never pipelined: one slow answer must not hold up others behind it.
    pipelining: 1,
  });
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const errorsByKind = {
    unavailable: metrics.upstreamErrors.labels({ kind: 'unavailable' }),
    timeout: metrics.upstreamErrors.labels({ kind: 'timeout' }),
    aborted: metrics.upstreamErrors.labels({ kind: 'aborted' }),
  };

  function fail(res: ServerResponse, record: AccessRecord, kind: 'unavailable' | 'timeout'): void {
    record.upstreamError = kind;
    errorsByKind[kind].inc();
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
    extraHeaders: Readonly<Record<string, string>>,
    record: AccessRecord,
  ): () => void {
    const { headers, chunked } = upstreamRequestHeaders(req.rawHeaders, identity, {
      upstreamHost: upstream.host,
      clientHost: req.headers.host,
      clientProto: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
      clientAddress: req.socket.remoteAddress,
    });
    const method = req.method ?? 'GET';
    const contentLength = req.headers['content-length'];
    const hasBody = chunked || (contentLength !== undefined && contentLength !== '0');
    const dispatch: Dispatcher.DispatchOptions = {
      origin: upstream.origin,
      path: basePath + (req.url ?? '/'),
      method,
      headers,
      // The client's body, streamed as it arrives (chunked when it came without a length).
      body: hasBody ? req : null,
    };
    let attempts = 0;
    /** The upstream exchange now running, to stop it when the client goes away. */
    let current: Dispatcher.DispatchController | undefined;
    let clientGone = false;

    if (hasBody) req.once('error', () => res.destroy());

    const attempt = (): void => {
      attempts += 1;
      const started = performance.now();
      let answered = false;
      pool.dispatch(dispatch, {
        onRequestStart(controller) {
          current = controller;
          if (clientGone) controller.abort(new Error('client went away'));
        },
        onResponseStart(controller, status, upstreamHeaders) {
          // 1xx answers (other than the 101 of an upgrade, never asked for) are the upstream's business.
          if (status < 200) return;
          answered = true;
          metrics.upstream.observe((performance.now() - started) / 1000);
          record.upstreamStatus = status;
          const out = clientResponseHeaderList(upstreamHeaders);
          for (const name in extraHeaders) out.push(name, extraHeaders[name] as string);
          res.writeHead(status, out);
        },
        onResponseData(controller, chunk) {
          // Backpressure: a slow client pauses the upstream instead of filling memory.
          if (!res.write(chunk)) {
            controller.pause();
            res.once('drain', () => controller.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError(_controller, error) {
          if (clientGone || res.destroyed) return; // the client left first; nothing to answer
          if (answered) {
            res.destroy();
            return;
          }
          const code = (error as NodeJS.ErrnoException).code ?? '';
          // A kept-alive connection the upstream closed just as it was reused: safe to try once more when no body was sent.
          if (attempts === 1 && RESET_CODES.has(code) && !hasBody && RETRYABLE.has(method)) {
            attempt();
            return;
          }
          metrics.upstream.observe((performance.now() - started) / 1000);
          fail(res, record, TIMEOUT_CODES.has(code) ? 'timeout' : 'unavailable');
        },
      });
    };
    attempt();
    // The client went away: stop talking to the upstream on its behalf.
    return () => {
      clientGone = true;
      if (record.upstreamStatus === undefined && record.upstreamError === undefined) {
        record.upstreamError = 'aborted';
        errorsByKind.aborted.inc();
      }
      current?.abort(new Error('client went away'));
    };
  }

  return {
    forward,
    async close() {
      await pool.destroy();
    },
  };
}
