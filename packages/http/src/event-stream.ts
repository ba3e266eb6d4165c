// The gateway's change stream (/internal/events, Server-Sent Events): heard events out, a watchdog, reconnection with backoff.

import type { StoreEvent } from '@finora-auth/core';
import { HttpKeyStoreError } from './errors';
import { unauthorized } from './fetch-json';
import type { ResolvedHttpKeyStoreOptions } from './options';
import { SseParser, type SseMessage } from './sse-parser';

const HASH = /^[0-9a-f]{64}$/;
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** The store event a stream message carries; `undefined` for a message to ignore; throws for a garbled one. */
export function toStoreEvent(message: SseMessage): StoreEvent | 'ping' | undefined {
  if (message.event === 'ping') return 'ping';
  const known = ['ready', 'reset', 'key-changed', 'account-changed', 'service-account-changed'];
  if (!known.includes(message.event)) return undefined; // a later gateway's addition
  const data = JSON.parse(message.data) as Record<string, unknown> | null;
  if (!data || typeof data !== 'object') throw new Error(`garbled ${message.event} event`);
  switch (message.event) {
    case 'ready':
    case 'reset':
      if (typeof data.live !== 'boolean') break;
      return { type: 'reset', live: data.live };
    case 'key-changed':
      if (typeof data.keyHash !== 'string' || !HASH.test(data.keyHash)) break;
      return { type: 'key-changed', keyHash: data.keyHash };
    case 'account-changed':
      if (!isText(data.accountId)) break;
      return { type: 'account-changed', accountId: data.accountId };
    case 'service-account-changed':
      if (!isText(data.clientId)) break;
      return { type: 'service-account-changed', clientId: data.clientId };
  }
  throw new Error(`garbled ${message.event} event`);
}

/**
 * Keeps one stream open while started. Calls `emit` with each event heard, `{ reset, live: false }` when the stream
 * drops, goes quiet for `heartbeatTimeoutMs` or says the gateway's own store channel is down, and the gateway's
 * `ready` (as `{ reset, live }`) once a new stream is subscribed. `onError` hears why a stream ended.
 */
export class EventStream {
  #running: AbortController | undefined;
  #live = false;

  constructor(
    private readonly config: ResolvedHttpKeyStoreOptions,
    private readonly emit: (event: StoreEvent) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** True while a stream is open and the gateway says its store's channel is live. */
  get live(): boolean {
    return this.#live;
  }

  start(): void {
    if (this.#running) return;
    const running = new AbortController();
    this.#running = running;
    void this.#loop(running.signal);
  }

  stop(): void {
    this.#running?.abort();
    this.#running = undefined;
    this.#live = false;
  }

  #setLive(live: boolean): void {
    this.#live = live;
    this.emit({ type: 'reset', live });
  }

  async #loop(stopped: AbortSignal): Promise<void> {
    let failures = 0;
    while (!stopped.aborted) {
      const attempt = { ready: false };
      await this.#connect(stopped, attempt).catch((error: unknown) => {
        if (!stopped.aborted) this.onError(error);
      });
      if (stopped.aborted) return;
      if (this.#live) this.#setLive(false);
      failures = attempt.ready ? 0 : failures + 1;
      const ceiling = Math.min(this.config.maxReconnectDelayMs, this.config.reconnectDelayMs * 2 ** Math.min(failures, 20));
      // Jitter, so edge instances that lost the gateway together do not come back in one burst.
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2), stopped);
    }
  }

  /** One stream, until it ends; `attempt.ready` is set once the gateway says `ready` on it (a good connection). */
  async #connect(stopped: AbortSignal, attempt: { ready: boolean }): Promise<void> {
    const connection = new AbortController();
    const onStop = () => connection.abort();
    stopped.addEventListener('abort', onStop, { once: true });
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const quiet = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(
        () => connection.abort(new HttpKeyStoreError('TIMEOUT', `finora-auth http: the event stream from ${this.config.base} went quiet`)),
        this.config.heartbeatTimeoutMs,
      );
    };
    try {
      quiet();
      const response = await this.config.fetch(`${this.config.base}/internal/events`, {
        headers: { authorization: this.config.authorization, accept: 'text/event-stream' },
        redirect: 'manual',
        signal: connection.signal,
      });
      if (response.status === 401 || response.status === 403) throw unauthorized(this.config, response.status);
      const type = response.headers.get('content-type') ?? '';
      if (response.status !== 200 || !/^text\/event-stream\b/i.test(type) || !response.body) {
        await response.body?.cancel().catch(() => {});
        throw new HttpKeyStoreError('UNAVAILABLE', `finora-auth http: ${this.config.base}/internal/events answered ${response.status} ${type}`);
      }
      const parser = new SseParser((message) => {
        const event = toStoreEvent(message);
        if (event === undefined || event === 'ping') return;
        if (event.type === 'reset') {
          attempt.ready = true;
          this.#setLive(event.live);
        } else if (attempt.ready) {
          this.emit(event);
        }
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        quiet();
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch (error) {
      if (connection.signal.aborted && connection.signal.reason instanceof HttpKeyStoreError) throw connection.signal.reason;
      throw error;
    } finally {
      clearTimeout(watchdog);
      stopped.removeEventListener('abort', onStop);
      connection.abort();
    }
  }
}

function sleep(ms: number, stopped: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    stopped.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      stopped.removeEventListener('abort', done);
      resolve();
    }
  });
}
