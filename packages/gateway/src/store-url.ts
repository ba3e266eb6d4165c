// Store URLs (`sqlite:PATH`, `redis://…`, `postgres://…`): parsing, redaction for messages, and opening the store.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { KeyStore } from '@finora-auth/core';

/** Where keys live when neither `--store` nor `FINORA_AUTH_STORE` says otherwise. */
export const DEFAULT_STORE_URL = 'sqlite:./.finora/keys.db';

export type StoreSpec =
  | { kind: 'sqlite'; path: string; url: string }
  /**
   * `prefix` comes from a `?prefix=` query parameter, which is taken off the URL the driver sees. (v2) `cluster`,
   * from a `?cluster` parameter: the URL's node and any `host:port`s listed in it are seeds of a Redis Cluster
   * (the other nodes are discovered), with the URL's user, password and TLS in `clusterOptions`.
   */
  | {
      kind: 'redis';
      url: string;
      driverUrl: string;
      prefix?: string;
      cluster?: string[];
      clusterOptions?: { username?: string; password?: string; tls?: Record<string, never> };
    }
  /** `schema` comes from a `?schema=` query parameter, which is taken off the URL the driver sees. */
  | { kind: 'postgres'; url: string; driverUrl: string; schema?: string };

/** A store URL that cannot be used; its message is one line and never shows a password. */
export class StoreUrlError extends Error {
  override readonly name = 'StoreUrlError';
}

/**
 * The URL with any password replaced by `***`, for messages and logs: a store URL is configuration that
 * often carries a credential, and a credential has no business on a terminal or in a log line.
 */
export function redactStoreUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token/i.test(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.protocol === 'sqlite:' ? url : parsed.toString();
  } catch {
    // Not a URL at all: show only the scheme-like prefix, never the rest, which may be a pasted secret.
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(url)?.[0];
    return scheme ? `${scheme}…` : '(unparseable)';
  }
}

/** Reads a store URL. Relative sqlite paths resolve against `cwd`. Throws {@link StoreUrlError}. */
export function parseStoreUrl(url: string, cwd: string = process.cwd()): StoreSpec {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new StoreUrlError('finora-auth: the store URL is empty; use sqlite:PATH, redis://HOST (redis://HOST:PORT?cluster for a Redis Cluster) or postgres://HOST/DB');
  }
  const text = url.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite': {
      let path = text.slice('sqlite:'.length);
      // `sqlite:///abs/path` and `sqlite://./rel` are common spellings of the same thing as `sqlite:PATH`.
      if (path.startsWith('//')) path = path.slice(2);
      if (path === '') throw new StoreUrlError('finora-auth: store URL "sqlite:" needs a file path, e.g. sqlite:./.finora/keys.db');
      if (path === ':memory:') return { kind: 'sqlite', path, url: text };
      return { kind: 'sqlite', path: resolve(cwd, path), url: text };
    }
    case 'redis':
    case 'rediss':
    case 'postgres':
    case 'postgresql': {
      let parsed: URL;
      try {
        parsed = new URL(text);
      } catch {
        throw new StoreUrlError(`finora-auth: store URL ${redactStoreUrl(text)} is not a valid URL`);
      }
      if (!parsed.hostname && !parsed.searchParams.has('host')) {
        throw new StoreUrlError(`finora-auth: store URL ${redactStoreUrl(text)} names no host`);
      }
      // One store URL names everything, so `?prefix=` (Redis) and `?schema=` (PostgreSQL) ride along on it.
      const option = scheme.startsWith('redis') ? 'prefix' : 'schema';
      const value = parsed.searchParams.get(option);
      parsed.searchParams.delete(option);
      // Untouched unless the parameter was there: the driver gets exactly what the user wrote.
      const driverUrl = value === null ? text : parsed.toString();
      if (scheme.startsWith('redis')) {
        const spec: StoreSpec & { kind: 'redis' } = value === null ? { kind: 'redis', url: text, driverUrl } : { kind: 'redis', url: text, driverUrl, prefix: value };
        return parsed.searchParams.has('cluster') ? clusterSpec(spec, parsed) : spec;
      }
      return value === null ? { kind: 'postgres', url: text, driverUrl } : { kind: 'postgres', url: text, driverUrl, schema: value };
    }
    default:
      if (scheme === undefined && looksLikeFilePath(text)) {
        throw new StoreUrlError(`finora-auth: store URL ${JSON.stringify(text)} has no scheme; for a SQLite file write sqlite:${text}`);
      }
      throw new StoreUrlError(
        `finora-auth: unsupported store URL ${redactStoreUrl(text)}; use sqlite:PATH, redis://HOST[:PORT], rediss://… or postgres://HOST/DB`,
      );
  }
}

const CLUSTER_SEED = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d{1,5})$/i;

/**
 * `redis://[user:password@]host:port?cluster[=host:port,…]`: a Redis Cluster whose seeds are the URL's node and
 * the listed ones. A URL cannot hold several hosts, hence the list in a parameter; the credentials and TLS of the
 * URL apply to every node, as they do for a cluster's nodes in ioredis.
 */
function clusterSpec(spec: StoreSpec & { kind: 'redis' }, parsed: URL): StoreSpec & { kind: 'redis' } {
  const listed = (parsed.searchParams.get('cluster') ?? '').split(',').map((seed) => seed.trim()).filter((seed) => seed !== '');
  for (const seed of listed) {
    const match = CLUSTER_SEED.exec(seed);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65_535) {
      throw new StoreUrlError(`finora-auth: store URL ${redactStoreUrl(spec.url)}: each ?cluster= seed must be host:port; got ${JSON.stringify(seed.slice(0, 80))}`);
    }
  }
  if (parsed.pathname !== '' && parsed.pathname !== '/') {
    throw new StoreUrlError(`finora-auth: store URL ${redactStoreUrl(spec.url)}: a Redis Cluster has only database 0; drop the ${parsed.pathname} path`);
  }
  const first = `${parsed.hostname}:${parsed.port || '6379'}`;
  const cluster = [...new Set([first, ...listed])].map((seed) => `redis://${seed}`);
  const clusterOptions: NonNullable<(StoreSpec & { kind: 'redis' })['clusterOptions']> = {};
  if (parsed.username) clusterOptions.username = decodeURIComponent(parsed.username);
  if (parsed.password) clusterOptions.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') clusterOptions.tls = {};
  return { ...spec, cluster, clusterOptions };
}

/**
 * A bare file path (`./keys.db`, `/var/lib/keys.db`, `keys.sqlite`): the newcomer's spelling of `sqlite:PATH`.
 * Only something that plainly is a path is echoed back; anything else may be a pasted secret.
 */
function looksLikeFilePath(text: string): boolean {
  return text.length <= 256 && !/[\s@]/.test(text) && (/^(\.{1,2}|~)?\//.test(text) || /\.(db|sqlite3?)$/i.test(text));
}

/** A store that failed to open or answer; the message is one line naming the (redacted) store. */
export class StoreUnreachableError extends Error {
  override readonly name = 'StoreUnreachableError';
}

function describeCause(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const firstLine = (message.split('\n')[0] ?? '').trim().replace(/^finora-auth:\s*/, '') || 'unknown error';
  return typeof code === 'string' && !firstLine.includes(code) ? `${firstLine} (${code})` : firstLine;
}

/** What ioredis says when it could not connect at all (rather than, say, a wrong password). */
const REDIS_NOT_CONNECTED =
  /max retries per request|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|Connection is closed|Stream isn't writeable|no answer within/i;

/** `host:port` of a Redis URL (no user, no password), 6379 when it names no port; a cluster's seeds. */
function redisAddress(url: string): string {
  try {
    const parsed = new URL(url);
    const seeds = parsed.searchParams.get('cluster');
    const first = `${parsed.hostname}:${parsed.port || '6379'}`;
    if (seeds !== null) return `${[first, ...seeds.split(',').map((s) => s.trim()).filter((s) => s !== '')].join(', ')} (Redis Cluster seeds)`;
    return first;
  } catch {
    return redactStoreUrl(url);
  }
}

/** Wraps a store failure as one line that names the store (never its password) and the cause. */
export function unreachable(spec: StoreSpec, error: unknown): StoreUnreachableError {
  if (spec.kind === 'redis' && REDIS_NOT_CONNECTED.test(describeCause(error))) {
    // ioredis' own words ("Reached the max retries per request limit") tell a newcomer nothing about what to do.
    return new StoreUnreachableError(
      `finora-auth: cannot reach Redis at ${redisAddress(spec.url)} (is it running? start it with redis-server, ` +
        'or fix the host and port in --store or FINORA_AUTH_STORE)',
      { cause: error },
    );
  }
  return new StoreUnreachableError(
    `finora-auth: cannot use the store at ${redactStoreUrl(spec.url)}: ${describeCause(error)}`,
    { cause: error },
  );
}

/**
 * The sqlite file's directory: created for the default store (so it works in an empty folder), and otherwise
 * required to exist, so a typo in `--store` is an error rather than a new directory tree holding an empty store.
 */
function prepareSqliteDirectory(spec: StoreSpec & { kind: 'sqlite' }): void {
  if (spec.path === ':memory:') return;
  const directory = dirname(spec.path);
  if (spec.url === DEFAULT_STORE_URL) {
    mkdirSync(directory, { recursive: true });
    return;
  }
  if (!existsSync(directory)) {
    throw new StoreUnreachableError(
      `finora-auth: cannot use the store at ${spec.url}: the directory ${directory} does not exist ` +
        `(create it first, or use another path; only the default ${DEFAULT_STORE_URL} is created for you)`,
    );
  }
}

/**
 * The URL pg connects with. pg takes the user from the URL, else $PGUSER, else $USER; with none of them (a
 * container, a CI job, systemd) the server answers "no PostgreSQL user name specified in startup packet".
 * Then the user is `postgres`, the name every PostgreSQL installation starts with.
 */
function postgresDriverUrl(driverUrl: string, env: Record<string, string | undefined>): string {
  if (env.PGUSER || env.USER) return driverUrl;
  const parsed = new URL(driverUrl);
  if (parsed.username || parsed.searchParams.has('user')) return driverUrl;
  parsed.username = 'postgres';
  return parsed.toString();
}

/** What to install for each optional store driver: the gateway's default install carries SQLite only. */
const DRIVER_PACKAGES = { redis: '@finora-auth/redis ioredis', postgres: '@finora-auth/postgres pg' } as const;

/** True when `error` says a package could not be found (ESM or CommonJS resolution). */
function isMissingModule(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/** A missing optional driver, said as what to type: `npm i @finora-auth/redis ioredis`. */
function missingDriver(spec: StoreSpec & { kind: 'redis' | 'postgres' }): StoreUnreachableError {
  const scheme = spec.kind === 'redis' ? 'redis://' : 'postgres://';
  return new StoreUnreachableError(
    `finora-auth: install ${DRIVER_PACKAGES[spec.kind]} to use ${scheme} stores ` +
      `(npm i ${DRIVER_PACKAGES[spec.kind]}, beside @finora-auth/gateway)`,
  );
}

/**
 * Opens the store a spec names, loading only the driver it needs (a sqlite user never loads pg or ioredis).
 * `env` is the environment the driver reads (for PostgreSQL's default user); `process.env` unless a test says otherwise.
 */
export async function openStore(spec: StoreSpec, env: Record<string, string | undefined> = process.env): Promise<KeyStore> {
  if (spec.kind === 'sqlite') prepareSqliteDirectory(spec);
  try {
    switch (spec.kind) {
      case 'sqlite': {
        const { SqliteKeyStore } = await import('@finora-auth/sqlite');
        return new SqliteKeyStore({ path: spec.path });
      }
      case 'redis': {
        const { RedisKeyStore } = await import('@finora-auth/redis');
        const prefix = spec.prefix === undefined ? {} : { prefix: spec.prefix };
        if (spec.cluster) return new RedisKeyStore({ cluster: spec.cluster, redisOptions: spec.clusterOptions ?? {}, ...prefix });
        return new RedisKeyStore({ url: spec.driverUrl, ...prefix });
      }
      case 'postgres': {
        const { PostgresKeyStore } = await import('@finora-auth/postgres');
        const connectionString = postgresDriverUrl(spec.driverUrl, env);
        return new PostgresKeyStore(spec.schema === undefined ? { connectionString } : { connectionString, schema: spec.schema });
      }
    }
  } catch (error) {
    if (spec.kind !== 'sqlite' && isMissingModule(error)) throw missingDriver(spec);
    throw unreachable(spec, error);
  }
}
