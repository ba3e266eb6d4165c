// Opens ioredis connections that fail fast while Redis is down and reconnect on their own, never queueing without bound.

import { Redis } from 'ioredis';
import type { ResolvedOptions } from './options';

/** Backoff from 50 ms, doubling, capped; never gives up, so a store outlives any outage. */
function retryStrategy(maxDelayMs: number) {
  return (attempt: number) => Math.min(50 * 2 ** Math.min(attempt - 1, 16), maxDelayMs);
}

/**
 * The connection that runs commands. Commands sent while a connection attempt is under way wait for it (so a
 * store can be used the moment it is built); each waits at most `commandTimeoutMs`, and every waiting or
 * unanswered command is rejected as soon as that attempt or the connection fails (`maxRetriesPerRequest: 0`),
 * so nothing piles up behind a Redis that is down. Nothing is replayed after a reconnection: the caller already
 * got its rejection.
 */
export function openCommandConnection(config: ResolvedOptions): Redis {
  const client = new Redis(config.url, {
    ...config.redisOptions,
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
 */
export function openSubscriberConnection(config: ResolvedOptions): Redis {
  const client = new Redis(config.url, {
    ...config.redisOptions,
    lazyConnect: true,
    connectTimeout: config.connectTimeoutMs,
    socketTimeout: config.heartbeatTimeoutMs,
    retryStrategy: retryStrategy(config.maxReconnectDelayMs),
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    // The channel re-subscribes itself on every `ready`, so it knows when it is listening again.
    autoResubscribe: false,
  });
  client.on('error', config.onError);
  return client;
}

/**
 * Starts a connection attempt at once if `client` is waiting out its back-off, else does nothing. Called only when
 * the store's other connection has just got through, so it never hammers a Redis that is down.
 */
export function reconnectNow(client: Redis | undefined): void {
  if (client?.status === 'reconnecting') {
    client.connect().catch(() => {
      // Reported through the 'error' listener; the back-off timer still stands behind this attempt.
    });
  }
}
