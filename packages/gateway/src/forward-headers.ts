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
 * Request headers never forwarded, besides hop-by-hop ones: the key itself, our identity headers (only we set
 * them), `expect` (this server already answered `100 Continue`), `host` (set to the upstream's) and the
 * forwarding headers we rewrite.
 */
const REQUEST_DROP: ReadonlySet<string> = new Set([
  'authorization',
  'expect',
  'host',
  'x-forwarded-host',
  'x-forwarded-proto',
  ...IDENTITY,
]);

/** Names listed in `Connection` are hop-by-hop for this message too (RFC 9110 §7.6.1). */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'connection') continue;
    for (const token of (raw[i + 1] as string).split(',')) {
      const name = token.trim().toLowerCase();
      if (name) (tokens ??= new Set()).add(name);
    }
  }
  return tokens;
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
 * client's raw headers. Returns whether the body must be sent chunked (the client sent it chunked).
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  identity: Identity,
  context: ForwardContext,
): { headers: string[]; chunked: boolean } {
  const extraHopByHop = connectionTokens(raw);
  const headers: string[] = ['Host', context.upstreamHost];
  let chunked = false;
  let forwardedFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding') chunked = true;
    if (HOP_BY_HOP.has(lower) || REQUEST_DROP.has(lower) || extraHopByHop?.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? (raw[i + 1] as string) : `${forwardedFor}, ${raw[i + 1] as string}`;
      continue;
    }
    headers.push(name, raw[i + 1] as string);
  }
  if (context.clientAddress) {
    forwardedFor = forwardedFor === undefined ? context.clientAddress : `${forwardedFor}, ${context.clientAddress}`;
  }
  if (forwardedFor !== undefined) headers.push('X-Forwarded-For', forwardedFor);
  if (context.clientHost) headers.push('X-Forwarded-Host', context.clientHost);
  headers.push('X-Forwarded-Proto', context.clientProto);
  headers.push(IDENTITY_HEADERS.accountId, identity.accountId);
  headers.push(IDENTITY_HEADERS.keyId, identity.keyId);
  headers.push(IDENTITY_HEADERS.environment, identity.environment);
  if (identity.module !== undefined) headers.push(IDENTITY_HEADERS.module, identity.module);
  // The client's framing is not ours to forward, but a chunked body is still a body: say so to the upstream.
  if (chunked) headers.push('Transfer-Encoding', 'chunked');
  return { headers, chunked };
}

/** The upstream's response headers for the client, without its hop-by-hop headers. */
export function clientResponseHeaders(raw: readonly string[]): string[] {
  const extraHopByHop = connectionTokens(raw);
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(lower) || extraHopByHop?.has(lower)) continue;
    headers.push(raw[i] as string, raw[i + 1] as string);
  }
  return headers;
}
