// The dedicated LISTEN connection: connects lazily, reports when it goes down or comes back, reconnects with backoff.

import { randomUUID } from 'node:crypto';
import { Client, type Notification } from 'pg';
import { Heartbeat } from '@finora-auth/core';
import { ident } from './migrations';
import type { ResolvedOptions } from './options';

export interface ChannelHandlers {
  /** A notification arrived on the channel. */
  notification(payload: string): void;
  /** The channel went down (`false`) or is listening again after connecting (`true`). */
  live(live: boolean): void;
}

/**
 * One connection outside the pool: a pooled connection would lose its LISTEN when returned or replaced, and
 * must never be held for the life of the store.
 */
export class ChannelListener {
  readonly #options: ResolvedOptions;
  readonly #handlers: ChannelHandlers;
  #client: Client | undefined;
  #live = false;
  #started = false;
  #closed = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: Heartbeat | undefined;
  /**
   * This instance's own heartbeat channel, listened to on the same connection as the events channel: a NOTIFY on
   * it travels the same queue and socket as an invalidation, after every notification committed before it, yet
   * reaches this connection only (on the shared channel each instance would receive every other one's).
   */
  readonly #heartbeatChannel = `finora_hb_${randomUUID().replaceAll('-', '')}`;

  constructor(options: ResolvedOptions, handlers: ChannelHandlers) {
    this.#options = options;
    this.#handlers = handlers;
  }

  get live(): boolean {
    return this.#live;
  }

  /** Starts connecting, once; later calls do nothing. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#live = false;
    const client = this.#client;
    this.#drop(client);
    if (!client) return;
    // A server that stopped answering never confirms the end: give it a moment, then close the socket ourselves.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.min(this.#options.connectTimeoutMs, 1_000));
    });
    await Promise.race([client.end().catch(() => undefined), grace]);
    clearTimeout(timer);
    destroySocket(client);
  }

  #connect(): void {
    if (this.#closed) return;
    const options = this.#options;
    const client = new Client({
      connectionString: options.connectionString,
      application_name: `${options.applicationName}:listen`,
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      query_timeout: options.queryTimeoutMs,
      keepAlive: true,
    });
    this.#client = client;
    let failed = false;
    const fail = (error: Error) => {
      if (failed || this.#client !== client) return;
      failed = true;
      this.#drop(client);
      // Not awaited: a connection that stopped answering might never confirm its own end.
      client.end().catch(() => undefined);
      destroySocket(client);
      if (this.#closed) return;
      this.#options.onError(new Error(`finora-auth: PostgreSQL LISTEN connection lost: ${error.message}`, { cause: error }));
      if (this.#live) {
        this.#live = false;
        this.#handlers.live(false);
      }
      this.#scheduleReconnect();
    };
    client.on('error', fail);
    client.on('end', () => fail(new Error('connection ended')));
    client.on('notification', (message: Notification) => {
      if (this.#client !== client) return;
      if (message.channel === options.channel) this.#handlers.notification(message.payload ?? '');
      else if (message.channel === this.#heartbeatChannel) this.#heartbeat?.receive(message.payload ?? '');
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${ident(options.channel)}; LISTEN ${ident(this.#heartbeatChannel)}`))
      .then(
        () => {
          if (failed || this.#client !== client) return;
          this.#attempt = 0;
          this.#live = true;
          this.#startHeartbeat(client, fail);
          // Anything written before LISTEN took effect was not heard: the `true` reset makes every cache start over.
          this.#handlers.live(true);
        },
        (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
      );
  }

  /**
   * The NOTIFY goes out on this same connection and must come back on it: that proves both directions of its
   * socket and the server's delivery of notifications to it, which a query on a pooled connection would not.
   */
  #startHeartbeat(client: Client, fail: (error: Error) => void): void {
    const { heartbeatMs, heartbeatTimeoutMs } = this.#options;
    if (heartbeatMs === 0) return;
    const current = () => this.#client === client && !this.#closed;
    this.#heartbeat = new Heartbeat({
      intervalMs: heartbeatMs,
      timeoutMs: heartbeatTimeoutMs,
      send: (payload) =>
        client.query('SELECT pg_notify($1, $2)', [this.#heartbeatChannel, payload]).then(
          () => undefined,
          (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
        ),
      onSilent: () => {
        if (!current() || !this.#live) return;
        this.#live = false;
        this.#handlers.live(false);
      },
      onHeard: () => {
        if (!current() || this.#live) return;
        // Heard again on the same connection: listening all along, but what it said while silent may be late.
        this.#live = true;
        this.#handlers.live(true);
      },
      onLost: () => fail(new Error(`no heartbeat heard back for ${2 * heartbeatTimeoutMs} ms`)),
    });
    this.#heartbeat.start();
  }

  /** Detaches from a connection being given up: its late events must not touch the state of its successor. */
  #drop(client: Client | undefined): void {
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
    if (!client) return;
    client.removeAllListeners('notification');
    client.removeAllListeners('end');
    client.removeAllListeners('error');
    client.on('error', () => undefined);
    if (this.#client === client) this.#client = undefined;
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const { reconnectMinMs, reconnectMaxMs } = this.#options;
    const ceiling = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt += 1;
    // Jitter spreads the reconnections of a fleet that lost its database at the same moment.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }
}

/** Closes the socket at once; `end()` alone waits for a server that may never answer. */
function destroySocket(client: Client): void {
  const connection = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection;
  connection?.stream?.destroy?.();
}
