// The gateway server: Hono on Node, every request authenticated, then answered by the demo API or proxied upstream.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  createAuthenticator,
  isEnterpriseModule,
  moduleFromPath,
  type Authenticator,
  type AuthenticatorOptions,
  type AuthRequest,
  type AuthResult,
  type DecisionEvent,
  type KeyStore,
  type Module,
} from '@finora-auth/core';
import { finoraAuth, type FinoraAuthEnv } from '@finora-auth/hono';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context } from 'hono';
import { AccessLog, loggablePath, type AccessRecord, type LogSink } from './access-log';
import { mountDemoApi } from './demo-api';
import { GatewayMetrics, PROMETHEUS_CONTENT_TYPE } from './metrics';
import { createProxy, parseUpstream, type Proxy } from './proxy';
import { MAX_REQUEST_HEADERS } from './forward-headers';
import { errorBody } from './responses';
import { judgeTarget } from './target';
import { TimedKeyStore } from './timed-store';
import { FailureThrottle, type ThrottleOptions } from './throttle';
import { Tracked } from './tracked';
import { settleUnreadBody } from './unread-body';

export interface GatewayOptions {
  /** The key store. It belongs to the caller: `close()` leaves it open. Required. */
  store: KeyStore;
  /** Proxy every authenticated request to this `http(s)://host[:port][/base]` URL. Default: none, the demo API answers. */
  upstream?: string | URL | undefined;
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
   * directly (or throttle at the edge). Default: off.
   */
  throttle?: ThrottleOptions | false;
}

export interface GatewayAddress {
  port: number;
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
  /** Starts listening. Default: port 8787 on every interface. */
  listen(port?: number, host?: string): Promise<GatewayAddress>;
  /**
   * Graceful shutdown: stops accepting, lets requests in flight finish (up to `shutdownTimeoutMs`), then closes
   * the authenticator and the upstream connections. The store stays open. Resolves `{ forced }`: connections cut at the deadline.
   */
  close(): Promise<{ forced: number }>;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } as const;

/** Requests in flight on a connection, kept on its socket. */
const BUSY = Symbol('finora-auth.busy');
type Connection = Socket & { [BUSY]?: number };

/** Per-request state, kept on the IncomingMessage under STATE. */
interface RequestState {
  record: AccessRecord;
  /** Headers the authenticator asks to add to an allowed answer (`Finora-Key-Expires-At`). */
  authHeaders?: Record<string, string>;
  /** The module the request was judged for, whatever the handler does later. */
  module?: Module;
  /** Called when the client goes away before its answer is complete (the proxy stops the upstream exchange). */
  onClientGone?: () => void;
  /** The module `judgeTarget` read from the raw target (proxy mode: every request there is judged first). */
  target?: { module: Module | undefined };
  /** The client sent `Expect: 100-continue` and no `100 Continue` was sent yet: it holds its body back. */
  awaitsContinue?: boolean;
}

const STATE = Symbol('finora-auth.request-state');

/** A request carrying the gateway's bookkeeping. */
type WithState = IncomingMessage & { [STATE]?: RequestState };

/** Copies what the access log says about a decision from its event. */
function recordDecision(record: AccessRecord, event: DecisionEvent): void {
  record.reason = event.reason;
  if (event.code !== undefined) record.code = event.code;
  if (event.cache !== 'none') record.cache = event.cache;
  if (event.keyId !== undefined) record.keyId = event.keyId;
  if (event.keyHint !== undefined) record.keyHint = event.keyHint;
  if (event.accountId !== undefined) record.accountId = event.accountId;
  if (event.environment !== undefined) record.environment = event.environment;
}

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
  return {
    store: options.store,
    upstream: options.upstream === undefined ? undefined : parseUpstream(String(options.upstream)),
    upstreamTimeoutMs: whole(options.upstreamTimeoutMs, 30_000, 'upstreamTimeoutMs'),
    metrics,
    maxHeaderSize: whole(options.maxHeaderSize, 16_384, 'maxHeaderSize', 1_024),
    maxBodySize: whole(options.maxBodySize, 1_048_576, 'maxBodySize', 0),
    shutdownTimeoutMs: whole(options.shutdownTimeoutMs, 10_000, 'shutdownTimeoutMs', 0),
    accessLog: accessLog === false ? null : accessLog,
    authenticator: options.authenticator ?? {},
    healthTimeoutMs: whole(options.healthTimeoutMs, 1_000, 'healthTimeoutMs'),
    throttle: options.throttle ? new FailureThrottle(options.throttle, options.authenticator?.now) : undefined,
  };
}

/**
 * The module a request is judged for. The proxy forwards the raw request target, so both it and the path Hono
 * routes on are read; an enterprise module named by either wins, since judging stricter is always safe.
 */
function moduleOf(c: Context<FinoraAuthEnv & { Bindings: HttpBindings }>, target?: RequestState['target']): Module | undefined {
  const url = c.env.incoming.url ?? '/';
  const end = url.indexOf('?');
  const rawPath = end === -1 ? url : url.slice(0, end);
  const raw = target ? target.module : moduleFromPath(rawPath);
  const routedPath = c.req.path;
  // Usually the same string: one reading is enough then.
  if (routedPath === rawPath) return raw;
  if (raw !== undefined && isEnterpriseModule(raw)) return raw;
  return moduleFromPath(routedPath) ?? raw;
}

export function createGateway(options: GatewayOptions): Gateway {
  const config = resolveOptions(options);
  let inFlight = 0;
  const metrics = new GatewayMetrics(() => inFlight);
  const log = new AccessLog(config.accessLog);
  const userOnDecision = config.authenticator.onDecision;

  // Which request a decision event is about, without AsyncLocalStorage (whose promise hooks would tax every
  // promise in the process). The core emits exactly one event per fulfilled authenticate() call, synchronously,
  // just before that call's promise resolves, and none for a rejected one; each call's continuation below is
  // queued when its promise resolves. So events and continuations come in the same order: the oldest event
  // waiting belongs to the continuation running now. Each pairing is still checked (outcome, key or code), and
  // a mismatch empties the queue and leaves that line without decision fields rather than guess.
  const decided: DecisionEvent[] = [];
  /** The request whose module() just ran: its authenticate() call follows in the same synchronous step. */
  let starting: RequestState | undefined;

  function onDecision(event: DecisionEvent): void {
    metrics.recordDecision(event);
    decided.push(event);
    userOnDecision?.(event);
  }

  const core = createAuthenticator({
    ...config.authenticator,
    store: new TimedKeyStore(config.store, metrics.storeLookups),
    onDecision,
  });
  // The middleware's answer headers are added after the handler; a proxied answer is written before that, so
  // the headers are caught here and written with it.
  const authenticator: Authenticator = {
    async authenticate(request: AuthRequest): Promise<AuthResult> {
      const state = starting;
      starting = undefined;
      const result = await core.authenticate(request);
      const event = decided.shift();
      if (
        event !== undefined &&
        (result.ok
          ? event.outcome === 'allowed' && event.keyId === result.context.keyId
          : event.outcome === 'refused' && event.code === result.error.code)
      ) {
        if (state) recordDecision(state.record, event);
      } else {
        decided.length = 0;
      }
      if (state && result.ok) state.authHeaders = result.headers;
      return result;
    },
    close: () => core.close(),
  };

  const proxy: Proxy | undefined = config.upstream
    ? createProxy({ upstream: config.upstream, timeoutMs: config.upstreamTimeoutMs, metrics })
    : undefined;

  let shuttingDown = false;
  let health: { at: number; ok: boolean; pending?: Promise<boolean> } = { at: 0, ok: false };

  // One cheap read, at most once a second however often it is asked: /healthz needs no key, so it must not be
  // a way to load the store.
  async function storeReachable(): Promise<boolean> {
    const now = Date.now();
    if (now - health.at < 1_000) return health.ok;
    if (health.pending) return health.pending;
    const pending = (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          config.store.getAccount('__finora_healthz__'),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timeout')), config.healthTimeoutMs);
          }),
        ]);
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    })();
    health = { ...health, pending };
    const ok = await pending;
    health = { at: Date.now(), ok };
    return ok;
  }

  const app = new Hono<FinoraAuthEnv & { Bindings: HttpBindings }>();

  app.get('/healthz', async (c) => {
    const store = (await storeReachable()) ? 'ok' : 'unreachable';
    const status = shuttingDown ? 'shutting-down' : store === 'ok' ? 'ok' : 'degraded';
    return c.body(JSON.stringify({ status, store }), status === 'ok' ? 200 : 503, JSON_HEADERS);
  });
  const renderMetrics = (c: Context) => c.body(metrics.render(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' });
  if (config.metrics === true) app.get('/metrics', renderMetrics);

  // A refusal sent while the client's body is still unread: a 401 must not cost reading 200 MB (see unread-body.ts).
  app.use('*', async function settleBodyOfRefusal(c, next) {
    await next();
    const { incoming, outgoing } = c.env;
    if (c.res.status >= 400) await settleUnreadBody(incoming, outgoing, (incoming as WithState)[STATE]?.awaitsContinue === true);
  });

  const throttle = config.throttle;
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

  app.use(
    '*',
    finoraAuth({
      authenticator,
      module: (c) => {
        const state = ((c.env as HttpBindings).incoming as WithState)[STATE];
        const module = moduleOf(c as Context<FinoraAuthEnv & { Bindings: HttpBindings }>, state?.target);
        if (state && module !== undefined) state.module = module;
        starting = state;
        return module;
      },
    }),
  );

  // `Expect: 100-continue` is answered only now, once the request is allowed: a refused client never sends its body.
  app.use('*', async function continueOnceAllowed(c, next) {
    const state = (c.env.incoming as WithState)[STATE];
    if (state?.awaitsContinue) {
      state.awaitsContinue = false;
      c.env.outgoing.writeContinue();
    }
    await next();
  });

  if (proxy) {
    app.all('*', function proxyToUpstream(c) {
      const auth = c.get('auth');
      const { incoming, outgoing } = c.env;
      const state = (incoming as WithState)[STATE];
      const record = state?.record ?? ({} as AccessRecord);
      // The client left while it was being authenticated: nothing to ask the upstream on its behalf.
      if (outgoing.destroyed) return RESPONSE_ALREADY_SENT;
      const abort = proxy.forward(incoming, outgoing, auth, state?.authHeaders ?? NO_HEADERS, record);
      if (state) state.onClientGone = abort;
      return RESPONSE_ALREADY_SENT;
    });
  } else {
    mountDemoApi(app as unknown as Hono<FinoraAuthEnv>, config.maxBodySize);
  }

  app.onError((error, c) => {
    log.event({ level: 'error', msg: 'request failed', error: error instanceof Error ? error.name : 'Error' });
    return c.body(errorBody('INTERNAL_ERROR', 'The gateway failed to handle this request.'), 500, JSON_HEADERS);
  });

  const listener = getRequestListener(app.fetch, { hostname: 'localhost' });
  // Responses not yet closed, and open connections with their requests in flight. Node's closeIdleConnections()
  // misses a connection that has not sent its first request yet, which would hold a graceful shutdown open until
  // the keep-alive timeout; so connections are tracked here. (Linked lists, not a Set or Map: see tracked.ts.)
  const responses = new Tracked<ServerResponse>();
  const sockets = new Tracked<Connection>();

  /** Once shutting down, a connection with nothing in flight has nothing left to do. */
  function endIfIdle(socket: Connection): void {
    if (shuttingDown && !socket[BUSY]) socket.end();
  }

  function sendError(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, { ...JSON_HEADERS, 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse, awaitsContinue = false): void {
    const started = performance.now();
    const startedAt = Date.now();
    const url = req.url ?? '/';
    const record: AccessRecord = {
      time: '',
      method: req.method ?? 'GET',
      path: loggablePath(url),
      status: 0,
      durationMs: 0,
    };
    if (req.socket.remoteAddress) record.remote = req.socket.remoteAddress;
    const state: RequestState = { record };
    if (awaitsContinue) state.awaitsContinue = true;
    inFlight += 1;
    responses.add(res);
    const socket = req.socket as Connection;
    socket[BUSY] = (socket[BUSY] ?? 0) + 1;
    res.once('close', () => {
      inFlight -= 1;
      responses.delete(res);
      socket[BUSY] = (socket[BUSY] ?? 1) - 1;
      if (!res.writableFinished) {
        record.aborted = true;
        // First, so the log line below says why the upstream exchange stopped.
        state.onClientGone?.();
      }
      record.status = res.statusCode;
      if (log.enabled) record.time = new Date(startedAt).toISOString();
      record.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      if (state.module !== undefined) record.module = state.module;
      metrics.recordResponse(res.statusCode);
      log.write(record);
      endIfIdle(socket);
    });
    // Once shutting down, every answer closes its connection, so keep-alive clients move to another instance.
    if (shuttingDown) res.shouldKeepAlive = false;
    if (proxy) {
      // Judged before anything else, so a target upstreams read differently never costs a store lookup.
      const target = judgeTarget(url);
      if (!target.ok) {
        sendError(res, target.status, errorBody(target.code, target.message));
        return;
      }
      if (req.rawHeaders.length > 2 * MAX_REQUEST_HEADERS) {
        sendError(res, 431, errorBody('HEADERS_TOO_LARGE', `The request has more than ${MAX_REQUEST_HEADERS} headers.`));
        return;
      }
      state.target = target;
    } else if (url[0] !== '/') {
      // Only origin-form targets (`/path?query`): an absolute URL is a forward-proxy request this gateway does not serve.
      sendError(res, 400, errorBody('BAD_REQUEST', 'The request target must be a path.'));
      return;
    }
    (req as WithState)[STATE] = state;
    void listener(req, res);
  }

  const server = createServer({ maxHeaderSize: config.maxHeaderSize }, (req, res) => onRequest(req, res));
  // With this listener node:http no longer answers `100 Continue` by itself; continueOnceAllowed does.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true));
  server.on('connection', (socket: Connection) => {
    socket[BUSY] = 0;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
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

  let metricsServer: Server | undefined;
  if (typeof config.metrics === 'object') {
    metricsServer = createServer((req, res) => {
      if ((req.method === 'GET' || req.method === 'HEAD') && (req.url ?? '').split('?')[0] === '/metrics') {
        const body = metrics.render();
        res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      const body = errorBody('NOT_FOUND', 'Only /metrics is served here.');
      res.writeHead(404, { ...JSON_HEADERS, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  }

  function listenOn(target: Server, port: number, host: string | undefined): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      target.once('error', onError);
      target.listen(port, host, () => {
        target.off('error', onError);
        resolve(target.address() as AddressInfo);
      });
    });
  }

  const urlOf = (address: AddressInfo, path = '') => {
    const host = address.address === '::' || address.address === '0.0.0.0' ? 'localhost' : address.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}${path}`;
  };

  /** Stops accepting, ends idle connections now and busy ones when their last answer is sent, cuts the rest at `deadline`. */
  function stopServer(target: Server, deadline: number, tracked?: Tracked<Connection>): Promise<number> {
    if (!target.listening) return Promise.resolve(0);
    return new Promise((resolve) => {
      let forced = 0;
      const timer = setTimeout(() => {
        for (const socket of tracked ?? []) if (socket[BUSY]) forced += 1;
        target.closeAllConnections();
        for (const socket of tracked ?? []) socket.destroy();
      }, Math.max(0, deadline - Date.now()));
      target.close(() => {
        clearTimeout(timer);
        resolve(forced);
      });
      target.closeIdleConnections();
      for (const socket of tracked ?? []) endIfIdle(socket);
    });
  }

  let closing: Promise<{ forced: number }> | undefined;

  return {
    server,
    metrics,
    authenticator,
    async listen(port = 8787, host?: string) {
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
        for (const res of responses) if (!res.headersSent) res.shouldKeepAlive = false;
        const deadline = Date.now() + config.shutdownTimeoutMs;
        const [forced] = await Promise.all([
          stopServer(server, deadline, sockets),
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
