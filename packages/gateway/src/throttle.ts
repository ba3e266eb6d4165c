// Optional per-client-IP throttling of failed authentications: a key guesser gets 429 instead of more answers.

import { LRUCache } from 'lru-cache';

export interface ThrottleOptions {
  /** Failed authentications (401 answers) one client address may get within `windowMs` before it gets 429. */
  failures: number;
  /** The window, in ms, counted from an address's first failure. Default: 60,000. */
  windowMs?: number;
  /** Most client addresses remembered; the least recently seen is forgotten first. Default: 100,000. */
  maxClients?: number;
}

interface Window {
  failures: number;
  /** Epoch ms at which the window ends and the count starts again. */
  endsAt: number;
}

/** Fixed windows per client address, in an LRU so a flood of addresses cannot grow memory without bound. */
export class FailureThrottle {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #windows: LRUCache<string, Window>;

  constructor(options: ThrottleOptions, now: () => number = Date.now) {
    const windowMs = options.windowMs ?? 60_000;
    const maxClients = options.maxClients ?? 100_000;
    for (const [name, value] of [['failures', options.failures], ['windowMs', windowMs], ['maxClients', maxClients]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new TypeError(`finora-auth: gateway option throttle.${name} must be a whole number > 0; got ${String(value)}`);
    }
    this.#limit = options.failures;
    this.#windowMs = windowMs;
    this.#now = now;
    this.#windows = new LRUCache({ max: maxClients });
  }

  /** Whole seconds until `client` may try again, or 0 when it may try now. */
  retryAfter(client: string): number {
    const window = this.#windows.get(client);
    const now = this.#now();
    if (!window || now >= window.endsAt || window.failures < this.#limit) return 0;
    return Math.max(1, Math.ceil((window.endsAt - now) / 1000));
  }

  /** Counts one failed authentication for `client`. */
  fail(client: string): void {
    const now = this.#now();
    const window = this.#windows.get(client);
    if (!window || now >= window.endsAt) this.#windows.set(client, { failures: 1, endsAt: now + this.#windowMs });
    else window.failures++;
  }
}
