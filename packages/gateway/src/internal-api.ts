// The internal API HttpKeyStore talks to (serve --internal-token-file): lookups by digest, a change stream and metering, behind one token.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyStore, StoreEvent } from '@finora-auth/core';
import {
  BodyError,
  LeaseLedger,
  MAX_SMALL_BODY,
  MAX_USAGE_BODY,
  parseMetering,
  readJsonBody,
  type MeteringOperation,
  type MeteringRequest,
} from './internal-metering';

export interface InternalApiOptions {
  /** The gateway's store: lookups are answered from it, and its events fed to every stream. */
  store: KeyStore;
  /** The token a request must bear (`Authorization: Bearer <token>`): 32 characters or more. */
  token: string;
  /** How often each stream gets a heartbeat comment, in ms. Default: 250. */
  heartbeatMs?: number;
  /** Most event streams open at once; one more is answered 503. Default: 256. */
  maxStreams?: number;
  /** Most bytes queued for one stream's client before it is cut (a client that stopped reading). Default: 1 MiB. */
  maxQueuedBytes?: number;
  /** Longest wait for the store, per lookup or metering call (and for a metering body to arrive), in ms. Default: 2,000. */
  lookupTimeoutMs?: number;
  /** The clock credit takes are judged on (refills), in epoch ms: the gateway's, never the edge's. Default: `Date.now`. */
  now?: () => number;
}

export interface InternalApi {
  /** Answers `req` and returns true when its path is under `/internal/`; returns false (answering nothing) otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Open event streams. */
  readonly streams: number;
  /** Credits taken through this API and not yet returned, for `accountId`: the most a return may give back. */
  outstandingCredits(accountId: string): number;
  /** Ends every stream and stops listening to the store. */
  close(): void;
}

const HASH = /^[0-9a-f]{64}$/;
const KEY_PATH = /^\/internal\/keys\/([^/]*)$/;
const SERVICE_ACCOUNT_PATH = /^\/internal\/service-accounts\/([^/]*)$/;
const EVENTS_PATH = '/internal/events';
/** The metering operations: POST only, each with a JSON body. */
const METERING_PATHS: ReadonlyMap<string, MeteringOperation> = new Map([
  ['/internal/credits/take', 'take'],
  ['/internal/credits/return', 'return'],
  ['/internal/usage', 'usage'],
  ['/internal/rate-windows/increment', 'rate-window'],
]);
const BEARER = /^bearer +(\S+)$/i;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

function whole(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`finora-auth internal API: ${name} must be a positive integer`);
  return value;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

const refuse = (res: ServerResponse, status: number, code: string, message: string, headers?: Record<string, string>) =>
  send(res, status, { error: { code, message } }, headers);

/** The store event as one Server-Sent Events message; the data is JSON with no newline in it. */
function message(event: StoreEvent): string {
  const { type, ...data } = event;
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function createInternalApi(options: InternalApiOptions): InternalApi {
  if (!options || typeof options.store?.findByHash !== 'function' || typeof options.store.subscribe !== 'function') {
    throw new TypeError('finora-auth internal API: store must be a KeyStore');
  }
  if (typeof options.token !== 'string' || options.token.length < 32 || /\s/.test(options.token)) {
    throw new TypeError('finora-auth internal API: token must be 32 or more characters, without spaces');
  }
  const { store } = options;
  const expected = digest(options.token);
  const heartbeatMs = whole(options.heartbeatMs, 250, 'heartbeatMs');
  const maxStreams = whole(options.maxStreams, 256, 'maxStreams');
  const maxQueuedBytes = whole(options.maxQueuedBytes, 1024 * 1024, 'maxQueuedBytes');
  const lookupTimeoutMs = whole(options.lookupTimeoutMs, 2_000, 'lookupTimeoutMs');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('finora-auth internal API: now must be a function');
  const now = options.now ?? Date.now;
  const ledger = new LeaseLedger();

  const streams = new Set<ServerResponse>();
  let closed = false;
  // Whether the gateway's own store channel is live: an edge store must not trust more than the gateway does.
  let live = true;

  function broadcast(text: string): void {
    for (const res of streams) {
      if (res.destroyed || res.writableEnded) {
        streams.delete(res);
        continue;
      }
      res.write(text);
      // A client that stopped reading is cut rather than buffered for: it reconnects, and hears a reset.
      if (res.writableLength > maxQueuedBytes) {
        streams.delete(res);
        res.destroy();
      }
    }
  }

  const unsubscribe = store.subscribe((event) => {
    if (event.type === 'reset') live = event.live;
    broadcast(message(event));
  });
  const heartbeat = setInterval(() => broadcast(':\n\n'), heartbeatMs);
  heartbeat.unref();

  /** Hashing both sides first makes the comparison constant-time whatever the lengths. */
  function authorized(req: IncomingMessage): boolean {
    const match = BEARER.exec(req.headers.authorization ?? '');
    return match !== null && timingSafeEqual(digest(match[1]!), expected);
  }

  /** Asks the store within lookupTimeoutMs and answers 200 with `toBody` of its answer, or 503. */
  async function answer<T>(res: ServerResponse, ask: (signal: AbortSignal) => Promise<T>, toBody: (value: T) => unknown): Promise<void> {
    const signal = AbortSignal.timeout(lookupTimeoutMs);
    // A store that ignores the signal still cannot hold the answer past the deadline.
    const timedOut = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    try {
      const value = await Promise.race([ask(signal), timedOut]);
      if (!res.headersSent) send(res, 200, toBody(value));
    } catch {
      if (!res.headersSent) refuse(res, 503, 'AUTH_UNAVAILABLE', 'The key store is unavailable; try again.', { 'retry-after': '1' });
    }
  }

  const lookup = (res: ServerResponse, ask: (signal: AbortSignal) => Promise<unknown>) =>
    answer(res, ask, (record) => ({ record: record ?? null }));

  /** Runs one validated metering operation on the store. A take's `now` is this gateway's clock. */
  function meter(res: ServerResponse, request: MeteringRequest): Promise<void> {
    const missing = () => {
      refuse(res, 501, 'NOT_IMPLEMENTED', 'The gateway\'s store does not keep credits, usage or rate windows.');
      return Promise.resolve();
    };
    switch (request.operation) {
      case 'take': {
        if (typeof store.takeCredits !== 'function') return missing();
        const { accountId, want, min } = request;
        return answer(res, () => store.takeCredits!(accountId, want, min, now()), (taken) => {
          ledger.taken(accountId, taken.granted);
          return { granted: taken.granted, balance: taken.balance, metered: taken.metered };
        });
      }
      case 'return': {
        if (typeof store.returnCredits !== 'function') return missing();
        const { accountId } = request;
        // Never more than was taken here: a token holder cannot mint credits by "returning" them.
        const amount = ledger.giveBack(accountId, request.amount);
        if (amount === 0) {
          send(res, 200, { returned: 0 });
          return Promise.resolve();
        }
        return answer(res, () => store.returnCredits!(accountId, amount), () => ({ returned: amount }));
      }
      case 'usage': {
        if (typeof store.addUsage !== 'function') return missing();
        const { rows } = request;
        return answer(res, () => store.addUsage!(rows), () => ({ rows: rows.length }));
      }
      case 'rate-window': {
        if (typeof store.incrementRateWindow !== 'function') return missing();
        const { bucket, windowStart, by, ttlMs } = request;
        return answer(res, () => store.incrementRateWindow!(bucket, windowStart, by, ttlMs), (count) => ({ count }));
      }
    }
  }

  async function metering(req: IncomingMessage, res: ServerResponse, operation: MeteringOperation): Promise<void> {
    let request: MeteringRequest;
    try {
      const max = operation === 'usage' ? MAX_USAGE_BODY : MAX_SMALL_BODY;
      request = parseMetering(operation, await readJsonBody(req, max, lookupTimeoutMs));
    } catch (error) {
      const refused = error instanceof BodyError ? error : new BodyError(400, 'The body could not be read.');
      const code = { 400: 'BAD_REQUEST', 408: 'REQUEST_TIMEOUT', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' }[refused.status];
      // The unread rest of a refused body is not waited for: the connection closes after the answer.
      refuse(res, refused.status, code, refused.message, { connection: 'close' });
      return;
    }
    await meter(res, request);
  }

  function openStream(res: ServerResponse): void {
    if (closed || streams.size >= maxStreams) {
      refuse(res, 503, 'TOO_MANY_STREAMS', 'No event stream is free; try again.', { 'retry-after': '1' });
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      // Proxies such as nginx would otherwise hold the stream back in a buffer.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    streams.add(res);
    // Subscribed already (above): anything after `ready` reaches this client. `ready` says whether the gateway trusts.
    res.write(`event: ready\ndata: ${JSON.stringify({ live })}\n\n`);
    // 'close' on the response: it ended, or its connection went away.
    res.once('close', () => streams.delete(res));
  }

  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const target = req.url ?? '';
    const path = target.split('?', 1)[0]!;
    if (path !== '/internal' && !path.startsWith('/internal/')) return false;
    if (!authorized(req)) {
      // No hint of what exists here: every /internal/ path answers the same without the token.
      refuse(res, 401, 'INTERNAL_TOKEN_REQUIRED', 'This path needs the gateway\'s internal token.', {
        'www-authenticate': 'Bearer realm="finora-internal"',
      });
      return true;
    }
    const keyPath = KEY_PATH.exec(path);
    const serviceAccountPath = SERVICE_ACCOUNT_PATH.exec(path);
    const operation = METERING_PATHS.get(path);
    if (!keyPath && !serviceAccountPath && path !== EVENTS_PATH && !operation) {
      refuse(res, 404, 'NOT_FOUND', 'No such internal path.');
      return true;
    }
    if (operation) {
      if (req.method !== 'POST') refuse(res, 405, 'METHOD_NOT_ALLOWED', 'A metering operation is a POST.', { allow: 'POST' });
      else void metering(req, res, operation);
      return true;
    }
    if (req.method !== 'GET') {
      refuse(res, 405, 'METHOD_NOT_ALLOWED', 'Lookups and the event stream are read with GET.', { allow: 'GET' });
      return true;
    }
    if (keyPath) {
      const hash = keyPath[1]!;
      if (!HASH.test(hash)) refuse(res, 400, 'BAD_REQUEST', 'A key is asked for by its SHA-256 digest, 64 lowercase hex digits.');
      else void lookup(res, (signal) => store.findByHash(hash, { signal }));
    } else if (serviceAccountPath) {
      let clientId: string;
      try {
        clientId = decodeURIComponent(serviceAccountPath[1]!);
      } catch {
        clientId = '';
      }
      if (clientId === '') refuse(res, 400, 'BAD_REQUEST', 'A service account is asked for by its client id.');
      else if (typeof store.findServiceAccount !== 'function') send(res, 200, { record: null });
      else void lookup(res, (signal) => store.findServiceAccount!(clientId, { signal }));
    } else {
      openStream(res);
    }
    return true;
  }

  return {
    handle,
    get streams() {
      return streams.size;
    },
    outstandingCredits: (accountId) => ledger.outstanding(accountId),
    close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      for (const res of streams) res.end();
      streams.clear();
    },
  };
}
