// Listens to the deployment's pub/sub channel on its own connection and tells the store's listeners what changed,
// and whether they can still trust what they cached.

import { randomUUID } from 'node:crypto';
import { Heartbeat, type StoreEvents } from '@finora-auth/core';
import { openSubscriberConnection, reconnectNow, type Connection } from './connection';
import type { ResolvedOptions } from './options';

const KEY_HASH = /^[0-9a-f]{64}$/;

export class InvalidationChannel {
  readonly #config: ResolvedOptions;
  readonly #events: StoreEvents;
  #client: Connection | undefined;
  /**
   * This instance's own heartbeat channel, subscribed on the same connection as the events channel: what is
   * published to it comes back through the same server and socket as an invalidation, after every message Redis
   * handled before it, yet reaches this instance only (a shared channel would cost each process every other one's).
   */
  readonly #heartbeatChannel: string;
  readonly #heartbeat: Heartbeat;
  /** Subscribed (until the connection closes), whatever the heartbeat says. */
  #subscribed = false;
  /** True while subscribed and a heartbeat came back recently: only then is every change certain to reach this process. */
  #live = false;
  /** Bumped on every connect and disconnect, so a subscription confirmed for an old connection is ignored. */
  #generation = 0;
  #closed = false;

  readonly #onReady: () => void;

  /**
   * `onReady` runs each time the subscriber connection is up: proof that Redis answers again. `publish` sends a
   * message on the store's command connection (a subscribed connection cannot publish).
   */
  constructor(
    config: ResolvedOptions,
    events: StoreEvents,
    onReady: () => void,
    publish: (channel: string, message: string) => Promise<unknown>,
  ) {
    this.#config = config;
    this.#events = events;
    this.#onReady = onReady;
    this.#heartbeatChannel = `${config.prefix}heartbeat:${randomUUID()}`;
    this.#heartbeat = new Heartbeat({
      intervalMs: config.heartbeatMs,
      timeoutMs: config.heartbeatTimeoutMs,
      send: (payload) =>
        publish(this.#heartbeatChannel, payload).then(
          () => undefined,
          () => undefined, // Not heard back, which is what the heartbeat counts.
        ),
      onSilent: () => this.#setLive(false),
      onHeard: () => this.#setLive(this.#subscribed),
      // Silent for twice the bound: not a delay but a dead socket (a half-open connection, say). Reopen it.
      onLost: () => this.#client?.disconnect(true),
    });
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
      this.#subscribed = false;
      this.#heartbeat.stop();
      this.#setLive(false);
    });
    client.on('message', (channel: string, message: string) => {
      if (channel === this.#heartbeatChannel) this.#heartbeat.receive(message);
      else this.#deliver(message);
    });
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
    this.#subscribed = false;
    this.#heartbeat.stop();
    const client = this.#client;
    if (!client) return;
    if (client.status === 'ready') {
      await client.quit().catch(() => client.disconnect());
    } else {
      client.disconnect();
    }
  }

  #subscribe(client: Connection): void {
    const generation = ++this.#generation;
    client.subscribe(this.#config.channel, this.#heartbeatChannel).then(
      () => {
        if (generation !== this.#generation || this.#closed) return;
        this.#subscribed = true;
        // Subscribed this moment: the proof the heartbeat then keeps renewing.
        this.#heartbeat.start();
        this.#setLive(true);
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
    } else if (message.startsWith('s:') && body.length > 0) {
      this.#events.emit({ type: 'service-account-changed', clientId: body });
    } else if (this.#live) {
      // A message this version cannot read (a newer writer?) still means something changed: forget everything.
      this.#events.emit({ type: 'reset', live: true });
    }
  }
}
