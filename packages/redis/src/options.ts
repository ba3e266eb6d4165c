// The RedisKeyStore options: what a user may set, their defaults, and their validation (once, at construction).

import type { RedisOptions } from 'ioredis';

export interface RedisKeyStoreOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` for TLS. Required unless `cluster` is given. */
  url?: string;
  /**
   * (v2) A Redis Cluster instead of one server: some of its nodes' URLs (`redis://host:port`; the rest are
   * discovered). Give either `url` or `cluster`, not both.
   */
  cluster?: string[];
  /**
   * Put before every Redis key and the invalidation channel, so several deployments can share one Redis.
   * Any text: every key of one deployment must live in one Redis Cluster slot (the store's Lua scripts need that),
   * so a prefix with a hash tag (`{…}`) is used as it is, and one without is wrapped in braces to make one
   * (`myapp:` becomes `{myapp:}`). Default: `'{finora}:'`; an empty prefix means the default.
   */
  prefix?: string;
  /** A command that has no reply after this many ms is rejected, and its connection dropped and reopened. Default: 1,000. */
  commandTimeoutMs?: number;
  /** A connection attempt that has not completed after this many ms is abandoned (and retried). Default: 2,000. */
  connectTimeoutMs?: number;
  /** Longest wait between two reconnection attempts, in ms; attempts back off from 50 ms up to it. Default: 1,000. */
  maxReconnectDelayMs?: number;
  /**
   * How often, in ms, this store PUBLISHes a heartbeat (a few bytes, on a channel of its own under the prefix)
   * that its subscriber connection must hear back: proof that invalidations still reach it. Default: 250.
   */
  heartbeatMs?: number;
  /**
   * When no heartbeat sent in the last this-many ms has been heard back, the channel is treated as down: the
   * authenticators stop trusting their caches (`reset`, `live: false`) until one is heard again (`live: true`,
   * which clears them). After twice this long the subscriber connection is dropped and reopened. This is the
   * longest a cached answer is trusted during a silent network partition. Must exceed `heartbeatMs`. Default: 1,000.
   */
  heartbeatTimeoutMs?: number;
  /**
   * Receives connection errors (refused, reset, timed out), which the store otherwise absorbs: it reconnects on
   * its own and reports a down channel to the authenticators as a `reset` event. Never receives a key. Default: none.
   */
  onError?: (error: Error) => void;
  /**
   * Further ioredis options (TLS settings, `username`, `password`, `db`, `connectionName`…). The store's own
   * timeout, retry and queueing settings above take precedence. Default: none.
   */
  redisOptions?: RedisOptions;
}

export interface ResolvedOptions {
  /** One server, or (v2) the cluster's seed nodes. */
  target: { url: string } | { cluster: { host: string; port: number }[] };
  /** The prefix as used, with its hash tag. */
  prefix: string;
  channel: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  maxReconnectDelayMs: number;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  onError: (error: Error) => void;
  redisOptions: RedisOptions;
}

export const DEFAULT_PREFIX = '{finora}:';

function milliseconds(value: number | undefined, fallback: number, name: string): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < 1 || resolved > 2 ** 31 - 1) {
    throw new TypeError(`finora-auth: RedisKeyStore option ${name} must be a whole number of ms > 0; got ${String(value)}`);
  }
  return resolved;
}

/** True when Redis Cluster would hash `prefix + anything` by a non-empty `{…}` tag inside the prefix. */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open === -1) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/**
 * The prefix with a hash tag of its own: as given when it has one (so existing deployments keep their key names),
 * else wrapped in braces; one starting with `}` would close that tag empty, so it gets `{finora}` before it.
 */
export function taggedPrefix(prefix: string): string {
  if (prefix === '') return DEFAULT_PREFIX;
  if (hasHashTag(prefix)) return prefix;
  return prefix.startsWith('}') ? `{finora}${prefix}` : `{${prefix}}`;
}

function parseUrl(url: unknown, name: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url as string);
  } catch {
    // The URL may hold a password: it is never repeated in the error.
    throw new TypeError(`finora-auth: RedisKeyStore option ${name} must be a redis:// or rediss:// URL`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`finora-auth: RedisKeyStore option ${name} must be a redis:// or rediss:// URL; got a ${parsed.protocol} URL`);
  }
  return parsed;
}

function resolveTarget(options: RedisKeyStoreOptions): ResolvedOptions['target'] {
  if (options.cluster === undefined) {
    parseUrl(options.url, 'url');
    return { url: options.url as string };
  }
  if (options.url !== undefined) throw new TypeError('finora-auth: RedisKeyStore takes url or cluster, not both');
  if (!Array.isArray(options.cluster) || options.cluster.length === 0) {
    throw new TypeError('finora-auth: RedisKeyStore option cluster must be a non-empty list of redis:// node URLs');
  }
  return {
    cluster: options.cluster.map((url, i) => {
      const parsed = parseUrl(url, `cluster[${i}]`);
      return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 6379) };
    }),
  };
}

export function resolveOptions(options: RedisKeyStoreOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') throw new TypeError('finora-auth: new RedisKeyStore needs an options object');
  const target = resolveTarget(options);
  const given = options.prefix ?? DEFAULT_PREFIX;
  if (typeof given !== 'string' || given.length > 200) {
    throw new TypeError(`finora-auth: RedisKeyStore option prefix must be a string of at most 200 characters; got ${JSON.stringify(given)}`);
  }
  const prefix = taggedPrefix(given);
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError('finora-auth: RedisKeyStore option onError must be a function');
  }
  if (options.redisOptions !== undefined && (typeof options.redisOptions !== 'object' || options.redisOptions === null)) {
    throw new TypeError('finora-auth: RedisKeyStore option redisOptions must be an object');
  }
  if (options.redisOptions?.keyPrefix) {
    // ioredis would prefix the declared keys but not the names the Lua scripts build: use `prefix` instead.
    throw new TypeError('finora-auth: RedisKeyStore option redisOptions.keyPrefix is not supported; use prefix');
  }
  const heartbeatMs = milliseconds(options.heartbeatMs, 250, 'heartbeatMs');
  const heartbeatTimeoutMs = milliseconds(options.heartbeatTimeoutMs, 1_000, 'heartbeatTimeoutMs');
  if (heartbeatTimeoutMs <= heartbeatMs) {
    throw new TypeError(
      `finora-auth: RedisKeyStore option heartbeatTimeoutMs (${heartbeatTimeoutMs}) must be greater than heartbeatMs (${heartbeatMs})`,
    );
  }
  return {
    target,
    prefix,
    channel: `${prefix}events`,
    commandTimeoutMs: milliseconds(options.commandTimeoutMs, 1_000, 'commandTimeoutMs'),
    connectTimeoutMs: milliseconds(options.connectTimeoutMs, 2_000, 'connectTimeoutMs'),
    maxReconnectDelayMs: milliseconds(options.maxReconnectDelayMs, 1_000, 'maxReconnectDelayMs'),
    heartbeatMs,
    heartbeatTimeoutMs,
    onError: options.onError ?? (() => {}),
    redisOptions: { ...options.redisOptions },
  };
}
