// Opens ioredis connections (one server or a Redis Cluster) that fail fast while Redis is down and reconnect on
// their own, never queueing without bound.

import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ResolvedOptions } from './options';

/** A connection to one server or to a cluster: the store uses only what both offer. */
export type Connection = Redis | Cluster;

/** Backoff from 50 ms, doubling, capped; never gives up, so a store outlives any outage. */
function retryStrategy(maxDelayMs: number) {
  return (attempt: number) => Math.min(50 * 2 ** Math.min(attempt - 1, 16), maxDelayMs);
}

function open(config: ResolvedOptions, options: RedisOptions): Connection {
  const { target } = config;
  if ('url' in target) return new Redis(target.url, { ...config.redisOptions, ...options });
  // Each node connection fails fast like a single server's; the cluster re-learns its slots after a failover or a
  // MOVED answer, and retries a command a few times only when Redis said it did not run it (MOVED, ASK, TRYAGAIN,
  // CLUSTERDOWN). A command whose connection closed under it is never sent again (retryDelayOnFailover 0): it may
  // have run, and a debit or a count run twice would be lost or doubled. Its caller gets the error instead.
  const { retryStrategy: nodeRetry, lazyConnect, enableOfflineQueue, ...nodeOptions } = options;
  return new Cluster(target.cluster, {
    lazyConnect,
    enableOfflineQueue,
    clusterRetryStrategy: nodeRetry ?? null,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: 8,
    slotsRefreshTimeout: config.connectTimeoutMs,
    redisOptions: { ...config.redisOptions, ...nodeOptions },
  });
}

/**
 * The connection that runs commands. Commands sent while a connection attempt is under way wait for it (so a
 * store can be used the moment it is built); each waits at most `commandTimeoutMs`, and every waiting or
 * unanswered command is rejected as soon as that attempt or the connection fails (`maxRetriesPerRequest: 0`),
 * so nothing piles up behind a Redis that is down. Nothing is replayed after a reconnection: the caller already
 * got its rejection.
 */
export function openCommandConnection(config: ResolvedOptions): Connection {
  const client = open(config, {
    lazyConnect: true,
    connectTimeout: config.connectTimeoutMs,
    commandTimeout: config.commandTimeoutMs,
    // A connection that answers nothing for as long as a command may wait is dead (a half-open socket, a frozen
    // server): drop it, which rejects everything on it at once, and reconnect.
    socketTimeout: config.commandTimeoutMs,
    retryStrategy: retryStrategy(config.maxReconnectDelayMs),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
  });
  client.on('error', config.onError);
  return client;
}

/**
 * The connection that listens to the invalidation channel. It queues nothing: it subscribes after each `ready`
 * and sends no other command; the channel's heartbeat (published on the command connection) proves it hears.
 * A command of its own (the ready check, SUBSCRIBE) unanswered for `heartbeatTimeoutMs` drops the socket.
 * On a cluster, a PUBLISH on any node reaches subscribers on every node; ioredis moves the subscription to
 * another node when its node goes (the heartbeat meanwhile reports the channel silent).
 */
export function openSubscriberConnection(config: ResolvedOptions): Connection {
  const client = open(config, {
    lazyConnect: true,
    connectTimeout: config.connectTimeoutMs,
    socketTimeout: config.heartbeatTimeoutMs,
    retryStrategy: retryStrategy(config.maxReconnectDelayMs),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: 'url' in config.target ? false : true,
    autoResendUnfulfilledCommands: false,
    // The channel re-subscribes itself on every `ready`, so it knows when it is listening again.
    autoResubscribe: 'url' in config.target ? false : true,
  });
  client.on('error', config.onError);
  return client;
}

/**
 * Starts a connection attempt at once if `client` is waiting out its back-off, else does nothing. Called only when
 * the store's other connection has just got through, so it never hammers a Redis that is down.
 */
export function reconnectNow(client: Connection | undefined): void {
  if (client?.status === 'reconnecting') {
    client.connect().catch(() => {
      // Reported through the 'error' listener; the back-off timer still stands behind this attempt.
    });
  }
}
