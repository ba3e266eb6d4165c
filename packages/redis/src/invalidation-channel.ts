// Listens to the deployment's pub/sub channel on its own connection and tells the store's listeners what changed,
// and whether they can still trust what they cached.

import type { StoreEvents } from '@finora-auth/core';
import type { Redis } from 'ioredis';
import { openSubscriberConnection, reconnectNow } from './connection';
import type { ResolvedOptions } from './options';

const KEY_HASH = /^[0-9a-f]{64}$/;

export class InvalidationChannel {
  readonly #config: ResolvedOptions;
  readonly #events: StoreEvents;
  #client: Redis | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** True while subscribed: only then is every change certain to reach this process. */
  #live = false;
  /** Bumped on every connect and disconnect, so a subscription confirmed for an old connection is ignored. */
  #generation = 0;
  #closed = false;

  readonly #onReady: () => void;

  /** `onReady` runs each time the subscriber connection is up: proof that Redis answers again. */
  constructor(config: ResolvedOptions, events: StoreEvents, onReady: () => void) {
    this.#config = config;
    this.#events = events;
    this.#onReady = onReady;
  }

  get live(): boolean {
    return this.#live;
  }

  /** Opens the subscriber connection, once; until it is subscribed the channel is not live. */
  start(): void {
    if (this.#client || this.#closed) return;
    const client = openSubscriberConnection(this.#config);
    this.#client = client;
    client.on('ready', () => {
      this.#subscribe(client);
      this.#onReady();
    });
    client.on('close', () => {
      this.#generation++;
      this.#setLive(false);
    });
    client.on('message', (_channel: string, message: string) => this.#deliver(message));
    this.#heartbeat = setInterval(() => {
      // An unanswered ping trips the connection's socketTimeout, which drops it and so ends `live`.
      if (client.status === 'ready') client.ping().catch(() => {});
    }, this.#config.heartbeatMs);
    this.#heartbeat.unref?.();
    client.connect().catch(() => {
      // Reported through the 'error' listener; the connection keeps retrying on its own.
    });
  }

  /** Redis answers again (the other connection got through): end this connection's back-off wait now. */
  reconnectNow(): void {
    reconnectNow(this.#client);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#live = false;
    clearInterval(this.#heartbeat);
    const client = this.#client;
    if (!client) return;
    if (client.status === 'ready') {
      await client.quit().catch(() => client.disconnect());
    } else {
      client.disconnect();
    }
  }

  #subscribe(client: Redis): void {
    const generation = ++this.#generation;
    client.subscribe(this.#config.channel).then(
      () => {
        if (generation === this.#generation && !this.#closed) this.#setLive(true);
      },
      (error: unknown) => {
        if (generation !== this.#generation || this.#closed) return;
        this.#config.onError(error instanceof Error ? error : new Error(String(error)));
        // Not listening on a connection that is up: drop it, and subscribe again on the next one.
        client.disconnect(true);
      },
    );
  }

  #setLive(live: boolean): void {
    if (this.#closed || live === this.#live) return;
    this.#live = live;
    // Going down: nothing cached can be trusted. Coming back: events may have been missed while down.
    this.#events.emit({ type: 'reset', live });
  }

  #deliver(message: string): void {
    if (this.#closed) return;
    const body = message.slice(2);
    if (message.startsWith('k:') && KEY_HASH.test(body)) {
      this.#events.emit({ type: 'key-changed', keyHash: body });
    } else if (message.startsWith('a:') && body.length > 0) {
      this.#events.emit({ type: 'account-changed', accountId: body });
    } else if (this.#live) {
      // A message this version cannot read (a newer writer?) still means something changed: forget everything.
      this.#events.emit({ type: 'reset', live: true });
    }
  }
}
