// Contract rows 7r and 7c, after every pure check allowed a request: its rate limit, then its credits; then its usage count.

import type { Credential, Refusal } from './checks';
import { CreditLeases } from './credit-leases';
import { decimal } from './decimal';
import { RateLimiter, rateLimitHeaders } from './rate-limiter';
import { messages, renderFailure } from './responses';
import type { KeyStore } from './store';
import { UsageBatcher } from './usage-batcher';

/** The response header of an allowed request of a metered account. */
export const CREDITS_REMAINING_HEADER = 'Finora-Credits-Remaining';

/** What rows 7r and 7c came to: a refusal, or the headers and balance an allowed request carries. */
export type Admission =
  | { refusal: Refusal }
  | { refusal?: undefined; headers: Record<string, string> | undefined; creditsRemaining: number | undefined };

export interface MeteringOptions<R> {
  store: KeyStore;
  now: () => number;
  /** Credits an allowed live request of a metered account costs. Default: 1. */
  cost: ((request: R) => number) | undefined;
  /** How long a credit take may take before the requests waiting on it get 503, in ms. */
  timeoutMs: number;
  /** `Retry-After` of a 503, in seconds. */
  retryAfterSeconds: number;
}

/**
 * Cloudflare Workers run no timer past the request that set it (its fetch dies with the request), so there the
 * batcher and the rate limiter set none: counts leave through `flush()`, which the app hands to `ctx.waitUntil`.
 * A timer-started push cut off with its request would stay "in flight" for good and block every later one.
 */
const NO_TIMERS = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent === 'Cloudflare-Workers';
const noTimer = () => () => {};

const ALLOWED: Admission = Object.freeze({ headers: undefined, creditsRemaining: undefined });

/** A cost is a whole number of credits, 0 or more; anything else (or a throw) refuses with 503 rather than serving free. */
function costOf<R>(cost: ((request: R) => number) | undefined, request: R): number | undefined {
  if (!cost) return 1;
  let value: unknown;
  try {
    value = cost(request);
  } catch {
    return undefined;
  }
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

export class Metering<R> {
  readonly #options: MeteringOptions<R>;
  readonly #leases: CreditLeases;
  readonly #usage: UsageBatcher;
  readonly #unavailable: Refusal;
  readonly #exhausted: Refusal;
  readonly #costInvalid: Refusal;
  /** Made on the first rate-limited request, so a deployment without limits runs no sync timer. */
  #limiter: RateLimiter | undefined;

  constructor(options: MeteringOptions<R>) {
    this.#options = options;
    this.#leases = new CreditLeases({ store: options.store, now: options.now, timeoutMs: options.timeoutMs });
    this.#usage = new UsageBatcher({ store: options.store, now: options.now, ...(NO_TIMERS && { schedule: noTimer }) });
    const unavailable = renderFailure('AUTH_UNAVAILABLE', messages.unavailable, options.retryAfterSeconds);
    this.#unavailable = { failure: unavailable, reason: 'store-error' };
    this.#costInvalid = { failure: unavailable, reason: 'cost-invalid' };
    this.#exhausted = { failure: renderFailure('CREDITS_EXHAUSTED', messages.creditsExhausted), reason: 'credits-exhausted' };
  }

  /**
   * Rows 7r then 7c for a request every earlier row allowed; an allowed one is counted. Synchronous unless a lease
   * must be taken. `now`: when the request was judged (the clock is read once per request, not once per part).
   */
  admit(credential: Credential, request: R, module: string | undefined, now = this.#options.now()): Admission | Promise<Admission> {
    const limit = credential.rateLimit;
    let headers: Record<string, string> | undefined;
    if (limit) {
      this.#limiter ??= new RateLimiter({ store: this.#options.store, now: this.#options.now, ...(NO_TIMERS && { schedule: noTimer }) });
      const decision = this.#limiter.check(credential.id, limit, now);
      headers = rateLimitHeaders(limit, decision);
      if (!decision.allowed) {
        const failure = renderFailure('RATE_LIMITED', messages.rateLimited(limit.requests, limit.perSeconds, decision.retryAfterSeconds), {
          retryAfterSeconds: decision.retryAfterSeconds,
          headers,
        });
        return { refusal: { failure, reason: 'rate-limited' } };
      }
    }
    // Test credentials never spend and are never refused for credits.
    if (credential.environment !== 'live' || credential.account.metered !== true) {
      this.#count(credential, module, 0, now);
      return headers ? { headers, creditsRemaining: undefined } : ALLOWED;
    }
    const cost = costOf(this.#options.cost, request);
    if (cost === undefined) return { refusal: this.#costInvalid };
    if (cost === 0) {
      this.#count(credential, module, 0, now);
      return headers ? { headers, creditsRemaining: undefined } : ALLOWED;
    }
    // Most requests are paid from the lease in hand: no result object to unwrap.
    const remaining = this.#leases.spendNow(credential.account.id, cost);
    if (remaining !== undefined) return this.#paid(credential, module, cost, headers, remaining, now);
    const spent = this.#leases.spend(credential.account.id, cost);
    if (spent instanceof Promise) return spent.then((result) => this.#settle(credential, module, cost, headers, result));
    return this.#settle(credential, module, cost, headers, spent);
  }

  /** An account's metering changed: give back what this process holds for it. */
  accountChanged(accountId: string): void {
    void this.#leases.release(accountId);
  }

  /** Sends the usage counted so far and this process's rate-window counts now; leases stay. Never rejects. */
  async flush(): Promise<void> {
    await Promise.all([this.#usage.flush(), this.#limiter?.flush()]);
  }

  /** Gives every lease back, sends the last usage counts and rate-window counts. */
  async close(): Promise<void> {
    await Promise.all([this.#leases.close(), this.#usage.close(), this.#limiter?.close()]);
  }

  #settle(
    credential: Credential,
    module: string | undefined,
    cost: number,
    headers: Record<string, string> | undefined,
    result: Awaited<ReturnType<CreditLeases['spend']>>,
  ): Admission {
    if (!result.ok) return { refusal: result.reason === 'exhausted' ? this.#exhausted : this.#unavailable };
    if (result.remaining !== undefined) return this.#paid(credential, module, cost, headers, result.remaining);
    // The store said the account is no longer metered (its change is on its way): nothing was spent.
    this.#count(credential, module, 0);
    return headers ? { headers, creditsRemaining: undefined } : ALLOWED;
  }

  /** `cost` was paid and `remaining` is left: counted, and the balance header added. */
  #paid(
    credential: Credential,
    module: string | undefined,
    cost: number,
    headers: Record<string, string> | undefined,
    remaining: number,
    now = this.#options.now(),
  ): Admission {
    this.#count(credential, module, cost, now);
    const balance = decimal(remaining);
    // A literal with a fixed key: a computed key in a spread is several times slower, and this runs per request.
    const withBalance: Record<string, string> = headers ? Object.assign({}, headers) : { 'Finora-Credits-Remaining': balance };
    if (headers) withBalance[CREDITS_REMAINING_HEADER] = balance;
    return { headers: withBalance, creditsRemaining: remaining };
  }

  #count(credential: Credential, module: string | undefined, creditsSpent: number, now?: number): void {
    this.#usage.add(credential.account.id, credential.id, credential.environment, module, creditsSpent, now);
  }
}
