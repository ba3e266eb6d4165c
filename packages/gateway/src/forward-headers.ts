// Which headers cross the proxy: hop-by-hop headers stop here, credentials stay here, identity is added by us alone.

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the legacy ones proxies still see. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** The identity headers the gateway adds. A client's own copies are dropped first, whatever their case. */
export const IDENTITY_HEADERS = Object.freeze({
  accountId: 'Finora-Account-Id',
  keyId: 'Finora-Key-Id',
  environment: 'Finora-Environment',
  module: 'Finora-Module',
});

const IDENTITY: ReadonlySet<string> = new Set(Object.values(IDENTITY_HEADERS).map((name) => name.toLowerCase()));

/**
 * Most request headers forwarded. More are refused with 431 before authentication: an upstream that keeps only
 * its first N headers (node:http's `maxHeadersCount`, Apache's `LimitRequestFields` of 100) must never be
 * pushed past the identity headers, and no real client sends this many.
 */
export const MAX_REQUEST_HEADERS = 100;

/**
 * Request headers never forwarded, besides hop-by-hop ones: the key itself, our identity headers (only we set
 * them) and `finora-scopes` (an identity header in v2), `expect` (the gateway answers `100 Continue` itself,
 * once the request is allowed), `host` (set to the upstream's) and the forwarding headers we rewrite:
 * `x-real-ip` is set to the client's address, and `forwarded` is dropped (the `X-Forwarded-*` say the same; a
 * client's own `Forwarded` would be a second, forged, account of where the request came from).
 */
const REQUEST_DROP: ReadonlySet<string> = new Set([
  'authorization',
  'expect',
  'host',
  'forwarded',
  'x-real-ip',
  'x-forwarded-host',
  'x-forwarded-proto',
  'finora-scopes',
  ...IDENTITY,
]);

/** What happens to a request header, by lowercase name; anything absent is forwarded as is. */
const enum RequestRule {
  Drop = 1,
  /** Dropped, and read: its tokens name more headers to drop. */
  Connection,
  /** Dropped, and read: the body is chunked. */
  TransferEncoding,
  /** Dropped, and its values joined in front of the client's address. */
  ForwardedFor,
}

const REQUEST_RULES: ReadonlyMap<string, RequestRule> = new Map<string, RequestRule>([
  ...[...HOP_BY_HOP, ...REQUEST_DROP].map((name) => [name, RequestRule.Drop] as const),
  ['connection', RequestRule.Connection],
  ['transfer-encoding', RequestRule.TransferEncoding],
  ['x-forwarded-for', RequestRule.ForwardedFor],
]);

/** The header names a `Connection` value lists, lowercased (but `keep-alive`, which is dropped anyway). */
function addConnectionTokens(value: string, tokens: Set<string> | undefined): Set<string> | undefined {
  // What nearly every client and server sends: nothing to split.
  if (value === 'keep-alive' || value === 'Keep-Alive') return tokens;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name && name !== 'keep-alive') (tokens ??= new Set()).add(name);
  }
  return tokens;
}

/**
 * A name spelled with `_` where a ruled header has `-` (`Finora_Account_Id`, `x_forwarded_for`): WSGI, Rack,
 * PHP and CGI read both spellings as the same `HTTP_…` variable, so such a header is dropped.
 */
function underscoreRule(name: string): RequestRule | undefined {
  if (!name.includes('_')) return undefined;
  return REQUEST_RULES.has(name.toLowerCase().replace(/_/g, '-')) ? RequestRule.Drop : undefined;
}

export interface Identity {
  accountId: string;
  keyId: string;
  environment: string;
  module?: string | undefined;
}

export interface ForwardContext {
  /** `host[:port]` of the upstream, sent as `Host`. */
  upstreamHost: string;
  /** The client's `Host`, sent on as `X-Forwarded-Host`. */
  clientHost: string | undefined;
  /** `http` or `https`: how the client reached us. */
  clientProto: string;
  /** The client's address, appended to `X-Forwarded-For`. */
  clientAddress: string | undefined;
}

/**
 * The request headers for the upstream, as a raw `[name, value, …]` list (case and repeats kept), from the
 * client's raw headers, in one pass. Framing is not among them (`Transfer-Encoding`, `Content-Length` aside):
 * the HTTP client frames the body it streams. Returns whether the client sent its body chunked.
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  identity: Identity,
  context: ForwardContext,
): { headers: string[]; chunked: boolean } {
  // Identity first: an upstream that reads only its first N headers still sees who is asking.
  let headers: string[] = [
    'Host',
    context.upstreamHost,
    IDENTITY_HEADERS.accountId,
    identity.accountId,
    IDENTITY_HEADERS.keyId,
    identity.keyId,
    IDENTITY_HEADERS.environment,
    identity.environment,
  ];
  if (identity.module !== undefined) headers.push(IDENTITY_HEADERS.module, identity.module);
  /** Where the client's headers start: a `Connection` value may name only those. */
  const own = headers.length;
  let chunked = false;
  let forwardedFor: string | undefined;
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const rule = REQUEST_RULES.get(name) ?? REQUEST_RULES.get(name.toLowerCase()) ?? underscoreRule(name);
    if (rule === undefined) {
      headers.push(name, value);
    } else if (rule === RequestRule.Connection) {
      named = addConnectionTokens(value, named);
    } else if (rule === RequestRule.TransferEncoding) {
      chunked = true;
    } else if (rule === RequestRule.ForwardedFor) {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    }
  }
  // Rare: a Connection header naming other headers (not just keep-alive or close); those are hop-by-hop too.
  if (named) {
    const kept: string[] = headers.slice(0, own);
    for (let i = own; i < headers.length; i += 2) {
      if (!named.has((headers[i] as string).toLowerCase())) kept.push(headers[i] as string, headers[i + 1] as string);
    }
    headers = kept;
  }
  if (context.clientAddress) {
    forwardedFor = forwardedFor === undefined ? context.clientAddress : `${forwardedFor}, ${context.clientAddress}`;
  }
  if (forwardedFor !== undefined) headers.push('X-Forwarded-For', forwardedFor);
  if (context.clientAddress) headers.push('X-Real-IP', context.clientAddress);
  if (context.clientHost) headers.push('X-Forwarded-Host', context.clientHost);
  headers.push('X-Forwarded-Proto', context.clientProto);
  return { headers, chunked };
}

/**
 * The upstream's response headers for the client, without its hop-by-hop headers, as a `[name, value, …]`
 * list. `parsed` is what the HTTP client parsed: lowercase names, repeated headers as arrays.
 */
export function clientResponseHeaderList(parsed: Readonly<Record<string, string | string[] | undefined>>): string[] {
  const connection = parsed.connection;
  let named: Set<string> | undefined;
  if (typeof connection === 'string') named = addConnectionTokens(connection, named);
  else if (connection !== undefined) for (const value of connection) named = addConnectionTokens(value, named);
  const headers: string[] = [];
  for (const name in parsed) {
    if (HOP_BY_HOP.has(name) || named?.has(name)) continue;
    const value = parsed[name];
    if (typeof value === 'string') headers.push(name, value);
    else if (value !== undefined) for (const each of value) headers.push(name, each);
  }
  return headers;
}
