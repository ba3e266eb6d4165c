// Per-credential rate limits: a sliding-window counter decided locally, its counts shared through the store in the background.

import { decimal } from './decimal';
import type { KeyStore } from './store';
import type { RateLimit } from './types';

/** What a limited request learns: allowed or not, and what the IETF `RateLimit` fields say. */
export interface RateDecision {
  allowed: boolean;
  /** Requests still allowed now (after this one, when allowed). */
  remaining: number;
  /** Seconds until the current window ends (the `t` of the `RateLimit` field). */
  resetSeconds: number;
  /** Refused only: seconds until a request would be allowed again (`Retry-After`), at least 1. */
  retryAfterSeconds: number;
}

export interface RateLimiterOptions {
  /** Where counts are shared; without `incrementRateWindow` the limits are per process. */
  store: Pick<KeyStore, 'incrementRateWindow'>;
  /** Clock in epoch ms. */
  now: () => number;
  /** How often local counts are pushed to the store and the fleet's counts read back, in ms. Default: 50. */
  syncMs?: number;
  /** Starts the background sync; returns the function that stops it. Default: an unref'd `setInterval`. */
  schedule?: (run: () => void, everyMs: number) => () => void;
}

interface Window {
  /** Epoch ms. */
  start: number;
  /** The fleet's count for this window as the store last said (ours included, as far as pushed). */
  synced: number;
  /** Counted here and not yet pushed. */
  unsynced: number;
  /** Counted here and being pushed now. */
  inflight: number;
}

interface Bucket {
  windowMs: number;
  current: Window;
  /** The whole count of the window before `current`, as far as this process knows. */
  previousTotal: number;
  /** Counts of windows this process left before pushing them. */
  late: Array<{ start: number; by: number }>;
  /** A request touched it since the last sync: read the fleet's count back even with nothing to push. */
  touched: boolean;
  /** The push in flight, if any: one at a time per bucket. */
  pushing: Promise<void> | undefined;
  /**
   * How many processes spend this bucket, as the last syncs suggest (1 + what the others added per request of ours).
   * Between two syncs a process takes only its share of what is left, so N processes do not each spend it all.
   */
  peers: number;
}

function defaultSchedule(run: () => void, everyMs: number): () => void {
  const timer = setInterval(run, everyMs) as unknown as { unref?: () => void };
  timer.unref?.();
  return () => clearInterval(timer as unknown as Parameters<typeof clearInterval>[0]);
}

/**
 * The estimate of a sliding window counter: the current fixed window's count plus the previous window's, weighted
 * by how much of the sliding window still overlaps it (Cloudflare's approximation, assuming the previous window's
 * requests were spread evenly).
 */
const estimate = (bucket: Bucket, now: number) =>
  bucket.previousTotal * (1 - (now - bucket.current.start) / bucket.windowMs) + localTotal(bucket.current);

const localTotal = (window: Window) => window.synced + window.inflight + window.unsynced;

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #store: RateLimiterOptions['store'];
  readonly #now: () => number;
  readonly #stop: () => void;
  #closed = false;
  /** The peers last seen on any bucket: where a new bucket starts, so a fleet does not overshoot its first window. */
  #peersHint = 1;

  constructor(options: RateLimiterOptions) {
    this.#store = options.store;
    this.#now = options.now;
    const syncMs = options.syncMs ?? 50;
    const shared = typeof options.store.incrementRateWindow === 'function';
    this.#stop = shared ? (options.schedule ?? defaultSchedule)(() => void this.sync(), syncMs) : () => {};
  }

  /**
   * Counts one request of `bucket` (a credential id) under `limit` when it is allowed; never waits for the store.
   * `now`: the clock's reading when the caller has one for this request already (a clock read is ~30 ns).
   */
  check(bucket: string, limit: RateLimit, now = this.#now()): RateDecision {
    const windowMs = limit.perSeconds * 1000;
    const state = this.#roll(bucket, windowMs, now);
    state.touched = true;
    const used = estimate(state, now);
    const resetSeconds = Math.max(1, Math.ceil((state.current.start + windowMs - now) / 1000));
    // This process's share of what was left at the last sync; alone (peers 1) it is all of it: exact.
    const share = (limit.requests - (used - state.current.unsynced)) / state.peers;
    if (used + 1 > limit.requests || state.current.unsynced + 1 > Math.max(1, share)) {
      return { allowed: false, remaining: 0, resetSeconds, retryAfterSeconds: this.#retryAfter(state, limit.requests, now) };
    }
    state.current.unsynced += 1;
    return { allowed: true, remaining: Math.max(0, Math.floor(limit.requests - used - 1)), resetSeconds, retryAfterSeconds: 0 };
  }

  /** Pushes local counts and reads the fleet's back, one store call per bucket; a failed push is kept for the next. */
  async sync(): Promise<void> {
    const increment = this.#store.incrementRateWindow?.bind(this.#store);
    if (!increment || this.#closed) return;
    const now = this.#now();
    const work: Promise<void>[] = [];
    for (const [id, bucket] of this.#buckets) {
      // Forget a bucket once neither its current nor its previous window can matter.
      if (now - bucket.current.start >= 2 * bucket.windowMs && bucket.late.length === 0 && bucket.current.unsynced === 0) {
        this.#buckets.delete(id);
        continue;
      }
      if (bucket.pushing || (!bucket.touched && bucket.current.unsynced === 0 && bucket.late.length === 0)) continue;
      bucket.touched = false;
      bucket.pushing = this.#push(id, bucket, increment).finally(() => (bucket.pushing = undefined));
      work.push(bucket.pushing);
    }
    await Promise.all(work);
  }

  /**
   * `sync` once the pushes in flight are done, so what this request counted is pushed too: for runtimes where no
   * timer outlives a request (Cloudflare Workers), which hand this to `waitUntil`. Never rejects.
   */
  async flush(): Promise<void> {
    await Promise.all(Array.from(this.#buckets.values(), (bucket) => bucket.pushing));
    await this.sync();
  }

  /** Stops syncing after one last push of what is counted here. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#stop();
    await this.sync();
    this.#closed = true;
  }

  async #push(id: string, bucket: Bucket, increment: NonNullable<KeyStore['incrementRateWindow']>): Promise<void> {
    const ttlMs = 2 * bucket.windowMs + 60_000;
    try {
      while (bucket.late.length > 0) {
        const late = bucket.late[0]!;
        await increment(id, late.start, late.by, ttlMs);
        bucket.late.shift();
      }
    } catch {
      // The store is down: limits hold per process until it is back, and nothing counted here is dropped.
      return;
    }
    const window = bucket.current;
    const by = window.unsynced;
    window.unsynced = 0;
    window.inflight = by;
    try {
      const seen = window.synced;
      const count = await increment(id, window.start, by, ttlMs);
      window.synced = Math.max(window.synced + by, count);
      if (by > 0 && bucket.current === window) {
        const others = Math.max(0, count - seen - by);
        bucket.peers = Math.min(64, Math.max(1, (bucket.peers + 1 + others / by) / 2));
        this.#peersHint = bucket.peers;
      }
      // A window that rolled meanwhile: the fleet's count of it is the previous window's total now.
      if (bucket.current.start === window.start + bucket.windowMs) bucket.previousTotal = Math.max(bucket.previousTotal, window.synced);
    } catch {
      // Pushed again later. If the store did add it and only its answer was lost, the fleet's count of this window
      // is `by` too high: stricter, never looser, for the rest of the window (and its weight in the next one).
      if (bucket.current === window) window.unsynced += by;
      else bucket.late.push({ start: window.start, by });
    } finally {
      window.inflight = 0;
    }
  }

  /** The bucket, its windows moved on to the one `now` falls in. */
  #roll(id: string, windowMs: number, now: number): Bucket {
    const start = Math.floor(now / windowMs) * windowMs;
    let bucket = this.#buckets.get(id);
    if (!bucket || bucket.windowMs !== windowMs) {
      bucket = {
        windowMs,
        current: { start, synced: 0, unsynced: 0, inflight: 0 },
        previousTotal: 0,
        late: [],
        touched: false,
        pushing: undefined,
        peers: this.#peersHint,
      };
      this.#buckets.set(id, bucket);
      return bucket;
    }
    if (bucket.current.start !== start) {
      const old = bucket.current;
      const total = localTotal(old);
      // What was not pushed yet is pushed later against its own window; a push in flight finishes on its own.
      if (old.unsynced > 0) bucket.late.push({ start: old.start, by: old.unsynced });
      old.unsynced = 0;
      bucket.previousTotal = start === old.start + windowMs ? total : 0;
      bucket.current = { start, synced: 0, unsynced: 0, inflight: 0 };
    }
    return bucket;
  }

  /** Seconds until the estimate leaves room for one request, if nothing else is counted meanwhile. */
  #retryAfter(bucket: Bucket, requests: number, now: number): number {
    const { windowMs } = bucket;
    const current = localTotal(bucket.current);
    const elapsed = now - bucket.current.start;
    let waitMs: number;
    if (current + 1 > requests) {
      // Only the next window helps: its estimate carries this window's count, weighted down as it passes.
      const fraction = current === 0 ? 0 : Math.max(0, 1 - (requests - 1) / current);
      waitMs = windowMs - elapsed + fraction * windowMs;
    } else {
      // The previous window's share must fall to what is left: previous * (1 - f) <= requests - 1 - current.
      const fraction = bucket.previousTotal === 0 ? 0 : 1 - (requests - 1 - current) / bucket.previousTotal;
      waitMs = fraction * windowMs - elapsed;
    }
    return Math.max(1, Math.ceil(waitMs / 1000));
  }
}

/** The `RateLimit-Policy` of a limit, made once per limit object (a cached credential keeps its own). */
const policies = new WeakMap<RateLimit, string>();

/** `RateLimit-Policy` and `RateLimit` as draft-ietf-httpapi-ratelimit-headers-09 writes them (structured fields). */
export function rateLimitHeaders(limit: RateLimit, decision: RateDecision): Record<string, string> {
  let policy = policies.get(limit);
  if (policy === undefined) policies.set(limit, (policy = `"default";q=${limit.requests};w=${limit.perSeconds}`));
  return { 'RateLimit-Policy': policy, RateLimit: `"default";r=${decimal(decision.remaining)};t=${decision.resetSeconds}` };
}
