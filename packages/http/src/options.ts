// HttpKeyStore's options: their defaults, and validation with errors that name the option.

export interface HttpKeyStoreOptions {
  /** The gateway's base URL, `http:` or `https:`, such as `https://auth.internal.example`; `/internal/...` is added to it. */
  url: string;
  /** The gateway's internal token (the contents of its `--internal-token-file`): at least 32 characters. */
  token: string;
  /** Longest wait for one lookup's whole answer, in ms. Default: 1,500 (under the core's 2,000 ms lookup timeout). */
  timeoutMs?: number;
  /** Largest answer read, in bytes; a longer one is a fault. Default: 65,536. */
  maxResponseBytes?: number;
  /**
   * Hear changes over the gateway's event stream (`/internal/events`). Default: `true`, except on Cloudflare
   * Workers (`navigator.userAgent === 'Cloudflare-Workers'`), where no stream outlives a request: there
   * `subscribe` hears nothing, and the revocation bound is the authenticator's cache `ttlMs`.
   */
  events?: boolean;
  /** The stream counts as dropped when nothing (not even a heartbeat) arrives for this long, in ms. Default: 1,000. */
  heartbeatTimeoutMs?: number;
  /** First wait before reconnecting a dropped stream, in ms; it doubles up to `maxReconnectDelayMs`. Default: 100. */
  reconnectDelayMs?: number;
  /** Longest wait between reconnection attempts, in ms. Default: 5,000. */
  maxReconnectDelayMs?: number;
  /** The `fetch` to use. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
}

export interface ResolvedHttpKeyStoreOptions {
  /** The base URL, without a trailing slash; safe to show (no credentials, no query). */
  base: string;
  authorization: string;
  timeoutMs: number;
  maxResponseBytes: number;
  events: boolean;
  heartbeatTimeoutMs: number;
  reconnectDelayMs: number;
  maxReconnectDelayMs: number;
  fetch: typeof fetch;
}

const TOKEN = /^[\x21-\x7e]{32,}$/;

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`finora-auth http: ${name} must be a positive integer`);
  return value;
}

const onWorkers = (): boolean =>
  typeof navigator !== 'undefined' && (navigator as { userAgent?: unknown }).userAgent === 'Cloudflare-Workers';

export function resolveOptions(options: HttpKeyStoreOptions): ResolvedHttpKeyStoreOptions {
  if (!options || typeof options !== 'object') throw new TypeError('finora-auth http: options { url, token } are required');
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError('finora-auth http: url must be an absolute http: or https: URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError('finora-auth http: url must be an absolute http: or https: URL');
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new TypeError('finora-auth http: url must not carry credentials, a query or a fragment (pass the token as token)');
  }
  if (typeof options.token !== 'string' || !TOKEN.test(options.token)) {
    // Never echo the token: it is a secret, and a wrong one may be another secret pasted by mistake.
    throw new TypeError('finora-auth http: token must be the gateway\'s internal token: 32 or more printable characters, no spaces');
  }
  if (options.events !== undefined && typeof options.events !== 'boolean') throw new TypeError('finora-auth http: events must be a boolean');
  const given = options.fetch;
  if (given !== undefined && typeof given !== 'function') throw new TypeError('finora-auth http: fetch must be a function');
  if (given === undefined && typeof globalThis.fetch !== 'function') throw new TypeError('finora-auth http: no global fetch here: pass fetch');
  // Never called as a method of the options: workerd's fetch throws "Illegal invocation" with any other `this`.
  const fetcher: typeof fetch = given ? (input, init) => given(input, init) : (input, init) => globalThis.fetch(input, init);
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  const reconnectDelayMs = positive(options.reconnectDelayMs, 100, 'reconnectDelayMs');
  const maxReconnectDelayMs = positive(options.maxReconnectDelayMs, 5_000, 'maxReconnectDelayMs');
  if (maxReconnectDelayMs < reconnectDelayMs) {
    throw new TypeError('finora-auth http: maxReconnectDelayMs must be at least reconnectDelayMs');
  }
  return {
    base,
    authorization: `Bearer ${options.token}`,
    timeoutMs: positive(options.timeoutMs, 1_500, 'timeoutMs'),
    maxResponseBytes: positive(options.maxResponseBytes, 65_536, 'maxResponseBytes'),
    events: options.events ?? !onWorkers(),
    heartbeatTimeoutMs: positive(options.heartbeatTimeoutMs, 1_000, 'heartbeatTimeoutMs'),
    reconnectDelayMs,
    maxReconnectDelayMs,
    fetch: fetcher,
  };
}
