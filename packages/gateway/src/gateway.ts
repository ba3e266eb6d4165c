// The gateway: one node:http server whose requests go to health, metrics, the OAuth issuer, or the mode's handler.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createAuthenticator, type AuthResult, type Authenticator, type AuthenticatorOptions, type KeyStore, type TokenVerifier } from '@finora-auth/core';
import { AccessLog, isoTime, loggablePath, type AccessRecord, type LogSink } from './access-log';
import type { AdminConsole } from './admin/index';
import { createDemoListener } from './demo-mode';
import { answerForwardAuth } from './forward-auth-mode';
import { healthAnswer, StoreHealth } from './health';
import { createInternalApi } from './internal-api';
import { createMetricsListener } from './metrics-listener';
import { GatewayMetrics, PROMETHEUS_CONTENT_TYPE } from './metrics';
import { answerProxied, type ProxiedRequest } from './proxy-mode';
import { createProxy, parseUpstream, type Proxy } from './proxy';
import { errorBody } from './responses';
import { Connections, listenOn, stopServer, urlOf } from './server-lifecycle';
import { timedKeyStore } from './timed-store';
import { FailureThrottle, type ThrottleOptions } from './throttle';
import { Tracked } from './tracked';

/** What the gateway needs of an OAuth token issuer (`createTokenIssuer` of `@finora-auth/oauth`). */
export interface GatewayIssuer {
  /** Answers the issuer's own endpoints (`/oauth/token`, `/.well-known/…`), `null` for any other request. */
  handle(request: Request, options?: { clientAddress?: string }): Promise<Response | null>;
  /** Verifies the tokens it issues; the gateway's authenticator takes it as `tokens`. */
  readonly verifier: TokenVerifier;
  /** The request paths `handle` answers; only these are handed to it (their bodies are read whole). */
  readonly paths: readonly string[];
}

export interface GatewayOptions {
  /** The key store. It belongs to the caller: `close()` leaves it open. Required. */
  store: KeyStore;
  /** Proxy every authenticated request to this `http(s)://host[:port][/base]` URL. Default: none, the demo API answers. */
  upstream?: string | URL | undefined;
  /**
   * Answer forward-auth questions from a proxy (nginx, Caddy, Traefik, Envoy) instead of proxying or serving the
   * demo API: 200 with identity headers, or the refusal. Not with `upstream`. Default: false.
   */
  forwardAuth?: boolean;
  /** Serve this OAuth issuer's endpoints before authentication and verify its tokens. Default: none. */
  issuer?: GatewayIssuer | undefined;
  /** Longest the upstream may stay silent, in ms: before its headers that is a 504, after them the exchange is cut. Default: 30,000. */
  upstreamTimeoutMs?: number;
  /**
   * Where `GET /metrics` is served: `true` on the serving port, `false` nowhere, `{ port, host }` on a listener of
   * its own (and not on the serving port). Default: `true`.
   */
  metrics?: boolean | { port: number; host?: string };
  /** Largest request head (request line and headers) accepted, in bytes; larger ones get 431. Default: 16,384. */
  maxHeaderSize?: number;
  /** Largest request body the demo API reads, in bytes; larger ones get 413. Proxied bodies stream unbounded. Default: 1,048,576. */
  maxBodySize?: number;
  /** How long `close()` waits for requests in flight before cutting their connections, in ms. Default: 10,000. */
  shutdownTimeoutMs?: number;
  /** Where access log lines go (one JSON object per line), or `false` for none. Default: `process.stdout`. */
  accessLog?: LogSink | false;
  /** Options for the authenticator the gateway builds on `store` (cache, timeouts, clock, onDecision). Default: the core's. */
  authenticator?: Omit<AuthenticatorOptions, 'store'>;
  /** How long `/healthz` waits for the store, in ms; its answer is reused for 1 s. Default: 1,000. */
  healthTimeoutMs?: number;
  /**
   * Answer 429 with `Retry-After` to a client address that got this many 401s within the window. The address is
   * the TCP peer's: behind a load balancer all clients share one, so turn this on only where clients connect
   * directly (or throttle at the edge). Not applied in forward-auth mode, where the peer is the proxy. Default: off.
   */
  throttle?: ThrottleOptions | false;
  /**
   * Answer `HttpKeyStore` (edge functions) under `/internal/`, before authentication, for requests bearing this
   * token (32 characters or more, compared in constant time). Default: none, and `/internal/` paths are API paths.
   */
  internalToken?: string | undefined;
  /**
   * The admin console (`createAdminConsole`), answering `/admin` and `/admin/…` before authentication: an admin
   * request is not an API request. Default: none, and those paths are API paths like any other.
   */
  admin?: AdminConsole | undefined;
}

export interface GatewayAddress {
  port: number;
  /** The address really bound. */
  host: string;
  url: string;
  /** Where `/metrics` is served, when it is served at all. */
  metricsUrl?: string;
}

export interface Gateway {
  /** The HTTP server (not yet listening until `listen`). */
  readonly server: Server;
  readonly metrics: GatewayMetrics;
  readonly authenticator: Authenticator;
  /** Starts listening. Default: port 8787 on 127.0.0.1. */
  listen(port?: number, host?: string): Promise<GatewayAddress>;
  /**
   * Graceful shutdown: stops accepting, lets requests in flight finish (up to `shutdownTimeoutMs`), then closes
   * the authenticator and the upstream connections. The store stays open. Resolves `{ forced }`: connections cut at the deadline.
   */
  close(): Promise<{ forced: number }>;
}

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } as const;

function whole(value: number | undefined, fallback: number, name: string, min = 1): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min) {
    throw new TypeError(`finora-auth: gateway option ${name} must be a whole number >= ${min}; got ${String(value)}`);
  }
  return resolved;
}

function resolveOptions(options: GatewayOptions) {
  if (!options || typeof options.store?.findByHash !== 'function') {
    throw new TypeError('finora-auth: createGateway needs options.store, a KeyStore');
  }
  const metrics = options.metrics ?? true;
  if (typeof metrics !== 'boolean') {
    if (!metrics || typeof metrics !== 'object') throw new TypeError('finora-auth: gateway option metrics must be a boolean or { port, host? }');
    whole(metrics.port, 0, 'metrics.port', 0);
  }
  const accessLog = options.accessLog ?? process.stdout;
  if (accessLog !== false && typeof accessLog?.write !== 'function') {
    throw new TypeError('finora-auth: gateway option accessLog must be a writable stream or false');
  }
  const forwardAuth = options.forwardAuth ?? false;
  if (forwardAuth && options.upstream !== undefined) {
    throw new TypeError('finora-auth: gateway options forwardAuth and upstream exclude each other');
  }
  return {
    store: options.store,
    upstream: options.upstream === undefined ? undefined : parseUpstream(String(options.upstream)),
    forwardAuth,
    issuer: options.issuer,
    upstreamTimeoutMs: whole(options.upstreamTimeoutMs, 30_000, 'upstreamTimeoutMs'),
    metrics,
    maxHeaderSize: whole(options.maxHeaderSize, 16_384, 'maxHeaderSize', 1_024),
    maxBodySize: whole(options.maxBodySize, 1_048_576, 'maxBodySize', 0),
    shutdownTimeoutMs: whole(options.shutdownTimeoutMs, 10_000, 'shutdownTimeoutMs', 0),
    accessLog: accessLog === false ? null : accessLog,
    authenticator: options.authenticator ?? {},
    healthTimeoutMs: whole(options.healthTimeoutMs, 1_000, 'healthTimeoutMs'),
    internalToken: options.internalToken,
    throttle: options.throttle && !forwardAuth ? new FailureThrottle(options.throttle, options.authenticator?.now) : undefined,
    admin: options.admin,
  };
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string, head = false): void {
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

/** Hands a request to a fetch-style handler and writes its answer (small bodies: the issuer's forms and JSON). */
async function viaFetch(issuer: GatewayIssuer, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
    if (chunks.reduce((total, each) => total + each.length, 0) > 65_536) {
      send(res, 413, { ...JSON_HEADERS, Connection: 'close' }, errorBody('PAYLOAD_TOO_LARGE', 'The request body is too large.'));
      return true;
    }
  }
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  const method = req.method ?? 'GET';
  const init: RequestInit = { method, headers };
  if (method !== 'GET' && method !== 'HEAD') init.body = Buffer.concat(chunks);
  const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, init);
  const response = await issuer.handle(request, req.socket.remoteAddress ? { clientAddress: req.socket.remoteAddress } : {});
  if (!response) return false;
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => (out[name] = value));
  send(res, response.status, out, await response.text(), method === 'HEAD');
  return true;
}

export function createGateway(options: GatewayOptions): Gateway {
  const config = resolveOptions(options);
  let inFlight = 0;
  const metrics = new GatewayMetrics(() => inFlight);
  const log = new AccessLog(config.accessLog);

  const core = createAuthenticator({
    ...config.authenticator,
    ...(config.issuer ? { tokens: config.issuer.verifier } : {}),
    store: timedKeyStore(config.store, metrics.storeLookups),
  });
  // Every mode counts from the decision the result carries: nothing is paired by order or passed through callbacks.
  const counted = (result: AuthResult): AuthResult => {
    metrics.recordDecision(result.decision);
    return result;
  };
  const authenticator: Authenticator & Required<Pick<Authenticator, 'authenticateNow'>> = {
    authenticate: (request) => core.authenticate(request).then(counted),
    // A cached key is answered in the request's own tick, as the Express and Fastify adapters do: no promise to wait for.
    authenticateNow(request) {
      const result = core.authenticateNow?.(request) ?? core.authenticate(request);
      return result instanceof Promise ? result.then(counted) : counted(result);
    },
    close: () => core.close(),
  };

  const proxy: Proxy | undefined = config.upstream
    ? createProxy({ upstream: config.upstream, timeoutMs: config.upstreamTimeoutMs, metrics })
    : undefined;
  const demo = proxy || config.forwardAuth ? undefined : createDemoListener({ authenticator, throttle: config.throttle, maxBodySize: config.maxBodySize, log });
  const health = new StoreHealth(config.store, config.healthTimeoutMs, config.authenticator.now);
  const internal = config.internalToken === undefined ? undefined : createInternalApi({ store: config.store, token: config.internalToken });
  const issuerPaths: ReadonlySet<string> = new Set(config.issuer?.paths ?? []);
  let shuttingDown = false;

  /** What the gateway answers itself, whatever the mode: health, metrics, the issuer's endpoints. */
  async function ownEndpoint(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (internal?.handle(req, res)) return true;
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (path === '/healthz' && read) {
      const answer = await healthAnswer(health, shuttingDown);
      send(res, answer.status, JSON_HEADERS, answer.body, method === 'HEAD');
      return true;
    }
    if (path === '/metrics' && read && config.metrics === true) {
      send(res, 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' }, metrics.render(), method === 'HEAD');
      return true;
    }
    if (issuerPaths.has(path)) return viaFetch(config.issuer as GatewayIssuer, req, res);
    return false;
  }

  /** Whether `ownEndpoint` may answer `path`: an API request (nearly all of them) goes to the mode at once, with no promise in between. */
  const mayBeOwn = (path: string): boolean =>
    path === '/healthz' || path === '/metrics' || issuerPaths.has(path) || (internal !== undefined && path.startsWith('/internal'));
  const proxyMode = proxy ? { authenticator, proxy, throttle: config.throttle } : undefined;

  /** Hands an API request to the mode. */
  function answerMode(req: IncomingMessage, res: ServerResponse, state: ProxiedRequest): Promise<void> | undefined {
    if (proxyMode) return answerProxied(proxyMode, req, res, state);
    if (config.forwardAuth) return answerForwardAuth(authenticator, req, res, state.record);
    demo?.(req, res, state);
    return undefined;
  }

  function failed(res: ServerResponse, error: unknown): void {
    log.event({ level: 'error', msg: 'request failed', error: error instanceof Error ? error.name : 'Error' });
    if (!res.headersSent) send(res, 500, JSON_HEADERS, errorBody('INTERNAL_ERROR', 'The gateway failed to handle this request.'));
    else res.destroy();
  }

  const responses = new Tracked<ServerResponse>();

  /** The request's own path as logged. A digest is not a key, but it is what the store is looked up by: kept out of the log like one. */
  const requestPath = (url: string): string => {
    const path = loggablePath(url);
    return internal && path.startsWith('/internal/keys/') ? '/internal/keys/…' : path;
  };

  function onRequest(req: IncomingMessage, res: ServerResponse, awaitsContinue = false): void {
    const started = performance.now();
    const startedAt = Date.now();
    const url = req.url ?? '/';
    // The path is worked out when the line is written (below), unless the mode has set it: forward-auth logs the
    // target it was asked about, not its own endpoint's path.
    const record: AccessRecord = { time: '', method: req.method ?? 'GET', path: '', status: 0, durationMs: 0 };
    if (req.socket.remoteAddress) record.remote = req.socket.remoteAddress;
    const state: ProxiedRequest = { record, awaitsContinue, onClientGone: undefined };
    inFlight += 1;
    responses.add(res);
    const socket = req.socket;
    connections.begin(socket);
    // `on`, not `once`: a response closes once, and `once` would wrap the listener in two more objects.
    res.on('close', () => {
      inFlight -= 1;
      responses.delete(res);
      if (!res.writableFinished) {
        record.aborted = true;
        // First, so the log line below says why the upstream exchange stopped.
        state.onClientGone?.();
      }
      record.status = res.statusCode;
      if (log.enabled) {
        record.time = isoTime(startedAt);
        if (record.path === '') record.path = requestPath(url);
      }
      record.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      metrics.recordResponse(res.statusCode);
      log.write(record);
      connections.end(socket);
    });
    // Once shutting down, every answer closes its connection, so keep-alive clients move to another instance.
    if (shuttingDown) res.shouldKeepAlive = false;
    if (url[0] !== '/' && !proxy && !config.forwardAuth) {
      // Only origin-form targets (`/path?query`): an absolute URL is a forward-proxy request this gateway does not serve.
      send(res, 400, { ...JSON_HEADERS, Connection: 'close' }, errorBody('BAD_REQUEST', 'The request target must be a path.'));
      return;
    }
    const end = url.indexOf('?');
    const path = end === -1 ? url : url.slice(0, end);
    const forAdmin = config.admin?.owns(url) === true;
    if (!forAdmin && !mayBeOwn(path)) {
      try {
        answerMode(req, res, state)?.catch((error: unknown) => failed(res, error));
      } catch (error) {
        failed(res, error);
      }
      return;
    }
    const answering = forAdmin ? (config.admin as AdminConsole).handle(req, res).then(() => true) : ownEndpoint(req, res, path);
    void answering
      .then((answered) => (answered ? undefined : answerMode(req, res, state)))
      .catch((error: unknown) => failed(res, error));
  }

  const server = createServer({ maxHeaderSize: config.maxHeaderSize }, (req, res) => onRequest(req, res));
  // With this listener node:http no longer answers `100 Continue` by itself; the modes do, once a request is allowed.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
  const connections = new Connections(server);
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = tooLarge
      ? errorBody('HEADERS_TOO_LARGE', `The request headers are larger than ${config.maxHeaderSize} bytes.`)
      : errorBody('BAD_REQUEST', 'The request could not be parsed as HTTP/1.1.');
    metrics.recordResponse(status);
    log.write({ time: new Date().toISOString(), method: '-', path: '-', status, durationMs: 0, reason: tooLarge ? 'headers-too-large' : 'bad-request' });
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  const metricsServer = typeof config.metrics === 'object' ? createMetricsListener(metrics) : undefined;
  let closing: Promise<{ forced: number }> | undefined;

  return {
    server,
    metrics,
    authenticator,
    async listen(port = 8787, host = '127.0.0.1') {
      const address = await listenOn(server, port, host);
      const result: GatewayAddress = { port: address.port, host: address.address, url: urlOf(address) };
      if (metricsServer && typeof config.metrics === 'object') {
        const metricsAddress = await listenOn(metricsServer, config.metrics.port, config.metrics.host ?? host);
        result.metricsUrl = urlOf(metricsAddress, '/metrics');
      } else if (config.metrics === true) {
        result.metricsUrl = urlOf(address, '/metrics');
      }
      return result;
    },
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        connections.shuttingDown = true;
        // Event streams never finish by themselves: ended first, or they would hold the shutdown to its deadline.
        internal?.close();
        for (const res of responses) if (!res.headersSent) res.shouldKeepAlive = false;
        const deadline = Date.now() + config.shutdownTimeoutMs;
        const [forced] = await Promise.all([
          stopServer(server, deadline, connections),
          metricsServer ? stopServer(metricsServer, Date.now()) : Promise.resolve(0),
        ]);
        await authenticator.close();
        await proxy?.close();
        log.flush();
        return { forced };
      })();
      return closing;
    },
  };
}
