// Credits spent from local leases: one atomic take from the store per lease, not one round trip per request.

import type { KeyStore } from './store';

/** What a spend came to. `unavailable`: the store failed or was slow and the lease in hand could not pay. */
export type SpendResult =
  | { ok: true; /** The account's balance as this process sees it: the store's after our last take, plus our lease. */ remaining?: number }
  | { ok: false; reason: 'exhausted' | 'unavailable' };

export interface CreditLeasesOptions {
  store: Pick<KeyStore, 'takeCredits' | 'returnCredits'>;
  /** Clock in epoch ms (refill periods are judged by the store against it). */
  now: () => number;
  /** A take slower than this answers 503 to the requests waiting on it (its credits still join the lease). Default: 2,000. */
  timeoutMs?: number;
  /** Most credits one lease takes. Default: 500. */
  maxLease?: number;
  /** A lease is sized to this many ms of the account's observed spending. Default: 1,000. */
  leaseMs?: number;
}

type TakeOutcome = 'ok' | 'exhausted' | 'unavailable' | 'unmetered';

interface Lease {
  /** Credits in hand, taken from the store and not yet spent. */
  held: number;
  /** The store's balance after our last take (what is left for everyone else). */
  balance: number;
  /** The take in flight, which every request short of credits waits on. */
  pending?: Promise<TakeOutcome>;
  /** Spent since `since`, to size the next lease. */
  spent: number;
  since: number;
  /**
   * Once `held` falls below this, the next take starts in the background, so requests keep paying from the lease
   * in hand instead of waiting at its end. 0: none is due (one is in flight, or the last take brought nothing).
   */
  ahead: number;
}

const MIN_LEASE = 1;

export class CreditLeases {
  readonly #leases = new Map<string, Lease>();
  readonly #store: CreditLeasesOptions['store'];
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #maxLease: number;
  readonly #leaseMs: number;
  #closed = false;

  constructor(options: CreditLeasesOptions) {
    this.#store = options.store;
    this.#now = options.now;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#maxLease = options.maxLease ?? 500;
    this.#leaseMs = options.leaseMs ?? 1_000;
  }

  /** Credits held here for `accountId` (for tests and metrics). */
  held(accountId: string): number {
    return this.#leases.get(accountId)?.held ?? 0;
  }

  /**
   * Spends `cost` (a whole number > 0) of `accountId`'s credits: synchronously from the lease when it covers it,
   * else after one coalesced take from the store.
   */
  spend(accountId: string, cost: number): SpendResult | Promise<SpendResult> {
    const remaining = this.spendNow(accountId, cost);
    if (remaining !== undefined) return { ok: true, remaining };
    if (this.#closed) return { ok: false, reason: 'unavailable' };
    let lease = this.#leases.get(accountId);
    if (!lease) {
      lease = { held: 0, balance: 0, spent: 0, since: this.#now(), ahead: 0 };
      this.#leases.set(accountId, lease);
    }
    return this.#refill(accountId, lease, cost);
  }

  /**
   * {@link spend}'s synchronous case, with no result object: the balance after paying `cost` from the lease in
   * hand, or `undefined` (nothing spent) when the lease does not cover it or this is closed.
   */
  spendNow(accountId: string, cost: number): number | undefined {
    const lease = this.#closed ? undefined : this.#leases.get(accountId);
    if (!lease || lease.held < cost) return undefined;
    lease.held -= cost;
    lease.spent += cost;
    if (lease.held < lease.ahead) this.#takeAhead(accountId, lease);
    return lease.balance + lease.held;
  }

  /** Gives the credits held for `accountId` back to the store (its metering changed, or it is idle). */
  async release(accountId: string): Promise<void> {
    const lease = this.#leases.get(accountId);
    if (!lease) return;
    await lease.pending;
    this.#leases.delete(accountId);
    await this.#giveBack(accountId, lease);
  }

  /** Gives every lease back (a graceful shutdown): no credit taken here is lost. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#leases.keys()].map((accountId) => this.release(accountId)));
  }

  #pay(lease: Lease, cost: number): SpendResult {
    lease.held -= cost;
    lease.spent += cost;
    return { ok: true, remaining: lease.balance + lease.held };
  }

  async #refill(accountId: string, lease: Lease, cost: number): Promise<SpendResult> {
    for (;;) {
      const outcome = await this.#within(lease.pending ?? this.#start(accountId, lease, cost));
      if (outcome === 'unmetered') return { ok: true };
      // Another waiter may have taken what this take brought; each successful take brings at least one credit.
      if (lease.held >= cost) return this.#pay(lease, cost);
      if (outcome !== 'ok') return { ok: false, reason: outcome };
    }
  }

  /** Starts the take every request short of credits waits on: `cost` is what the first of them needs. */
  #start(accountId: string, lease: Lease, cost: number): Promise<TakeOutcome> {
    const pending = this.#take(accountId, lease, cost);
    lease.pending = pending;
    void pending.finally(() => {
      if (lease.pending === pending) delete lease.pending;
    });
    return pending;
  }

  /**
   * The lease in hand runs low: its successor is taken now, while requests still pay from what is left. No request
   * waits on it (so no timer), and it is at most one per take: one that fails or brings nothing leaves the next take
   * to the request the lease no longer covers, as without it.
   */
  #takeAhead(accountId: string, lease: Lease): void {
    lease.ahead = 0;
    if (!lease.pending) void this.#start(accountId, lease, 0);
  }

  /**
   * One take, topping the lease up to about `leaseMs` of the observed spending (at most `maxLease`, so a process
   * never holds more than one lease), and at least what `cost` still lacks. What it grants joins the lease even
   * when its waiters gave up on it.
   */
  async #take(accountId: string, lease: Lease, cost: number): Promise<TakeOutcome> {
    const take = this.#store.takeCredits?.bind(this.#store);
    if (!take) return 'unavailable';
    const now = this.#now();
    const elapsed = Math.max(1, now - lease.since);
    const size = Math.min(this.#maxLease, Math.max(MIN_LEASE, Math.ceil((lease.spent / elapsed) * this.#leaseMs)));
    lease.spent = 0;
    lease.since = now;
    lease.ahead = 0;
    const min = Math.max(1, cost - lease.held);
    try {
      const answer = await take(accountId, Math.max(size - lease.held, min), min, now);
      if (!answer.metered) return 'unmetered';
      lease.held += answer.granted;
      lease.balance = answer.balance;
      if (answer.granted > 0) lease.ahead = Math.ceil(size / 4);
      // A lease given up while this take was in flight gives its grant straight back.
      if (this.#closed || this.#leases.get(accountId) !== lease) await this.#giveBack(accountId, lease);
      return answer.granted > 0 ? 'ok' : 'exhausted';
    } catch {
      return 'unavailable';
    }
  }

  #within(pending: Promise<TakeOutcome>): Promise<TakeOutcome> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<TakeOutcome>((resolve) => {
      timer = setTimeout(() => resolve('unavailable'), this.#timeoutMs);
    });
    return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
  }

  async #giveBack(accountId: string, lease: Lease): Promise<void> {
    const amount = lease.held;
    if (amount <= 0 || !this.#store.returnCredits) return;
    lease.held = 0;
    try {
      await this.#store.returnCredits(accountId, amount);
    } catch {
      // The store is down at shutdown: these credits stay spent (never served free), as after a crash.
    }
  }
}
