// `/healthz`: is the store reachable? One cheap read at most once a second, however often it is asked.

import type { KeyStore } from '@finora-auth/core';

export class StoreHealth {
  #at = 0;
  #ok = false;
  #pending: Promise<boolean> | undefined;

  constructor(
    private readonly store: KeyStore,
    /** How long the read may take before the store counts as unreachable, in ms. */
    private readonly timeoutMs: number,
    /** The clock the 1 s reuse is measured on (the authenticator's, so a test can move it). Default: `Date.now`. */
    private readonly now: () => number = Date.now,
  ) {}

  /** `/healthz` needs no key, so it must not be a way to load the store: answers are reused for 1 s. */
  reachable(): Promise<boolean> {
    if (this.now() - this.#at < 1_000) return Promise.resolve(this.#ok);
    this.#pending ??= this.#read().then((ok) => {
      this.#at = this.now();
      this.#ok = ok;
      this.#pending = undefined;
      return ok;
    });
    return this.#pending;
  }

  async #read(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.store.getAccount('__finora_healthz__'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), this.timeoutMs);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The `/healthz` answer: 200 when serving and the store answers, else 503. */
export async function healthAnswer(health: StoreHealth, shuttingDown: boolean): Promise<{ status: 200 | 503; body: string }> {
  const store = (await health.reachable()) ? 'ok' : 'unreachable';
  const status = shuttingDown ? 'shutting-down' : store === 'ok' ? 'ok' : 'degraded';
  return { status: status === 'ok' ? 200 : 503, body: JSON.stringify({ status, store }) };
}
