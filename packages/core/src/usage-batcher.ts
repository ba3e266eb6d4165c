// Usage counting: allowed requests added up in memory per UTC day, credential, environment and module, flushed in batches.

import type { KeyStore } from './store';
import type { Environment, UsageIncrement } from './types';

export interface UsageBatcherOptions {
  store: Pick<KeyStore, 'addUsage'>;
  /** Clock in epoch ms: the UTC day a request is counted on. */
  now: () => number;
  /** A batch is flushed once it has this many rows. Default: 1,000. */
  maxRows?: number;
  /** …or this many ms after its first count. Default: 1,000. */
  flushMs?: number;
  /** Most rows kept while flushes fail; counts for new rows past it are dropped (and counted in `dropped`). Default: 100,000. */
  maxPendingRows?: number;
  /** Runs `flush` after `ms`; returns the function that cancels it. Default: an unref'd `setTimeout`. */
  schedule?: (run: () => void, ms: number) => () => void;
}

export interface UsageCount {
  accountId: string;
  keyId: string;
  environment: Environment;
  /** `undefined`: a request judged without a module. */
  module: string | undefined;
  creditsSpent: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function defaultSchedule(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms) as unknown as { unref?: () => void };
  timer.unref?.();
  return () => clearTimeout(timer as unknown as Parameters<typeof clearTimeout>[0]);
}

export class UsageBatcher {
  #rows = new Map<string, UsageIncrement>();
  readonly #store: UsageBatcherOptions['store'];
  readonly #now: () => number;
  readonly #maxRows: number;
  readonly #flushMs: number;
  readonly #maxPendingRows: number;
  readonly #schedule: NonNullable<UsageBatcherOptions['schedule']>;
  #cancel: (() => void) | undefined;
  /**
   * Today's rows of the current batch by environment, credential id, then module (`''` for none): found without
   * building a key string per request. A credential id fixes its account.
   */
  readonly #index: Record<Environment, Map<string, Map<string, UsageIncrement>>> = { live: new Map(), test: new Map() };
  /** The UTC day last counted on, and where it starts, so most counts make no Date. */
  #day = '';
  #dayStart = Number.POSITIVE_INFINITY;
  #flushing: Promise<void> | undefined;
  /** A flush failed: a full batch waits for the retry timer (or an explicit flush) instead of calling the store at once. */
  #retrying = false;
  /** Counts given up because flushes kept failing and the pending rows reached their bound. */
  dropped = 0;

  constructor(options: UsageBatcherOptions) {
    this.#store = options.store;
    this.#now = options.now;
    this.#maxRows = options.maxRows ?? 1_000;
    this.#flushMs = options.flushMs ?? 1_000;
    this.#maxPendingRows = options.maxPendingRows ?? 100_000;
    this.#schedule = options.schedule ?? defaultSchedule;
  }

  /** Counts one allowed request; never waits for the store. */
  count(usage: UsageCount): void {
    this.add(usage.accountId, usage.keyId, usage.environment, usage.module, usage.creditsSpent);
  }

  /**
   * {@link count} with its fields as arguments: no object made per request on the hot path. `now`: the clock's
   * reading when the caller has one for this request already.
   */
  add(accountId: string, keyId: string, environment: Environment, module: string | undefined, creditsSpent: number, now = this.#now()): void {
    if (!this.#store.addUsage) return;
    if (now < this.#dayStart || now >= this.#dayStart + DAY_MS) {
      this.#dayStart = now - (((now % DAY_MS) + DAY_MS) % DAY_MS);
      this.#day = new Date(this.#dayStart).toISOString().slice(0, 10);
      this.#clearIndex();
    }
    const row = this.#index[environment].get(keyId)?.get(module ?? '') ?? this.#row(accountId, keyId, environment, module);
    if (!row) {
      this.dropped += 1;
      return;
    }
    row.allowed += 1;
    row.creditsSpent += creditsSpent;
    if (this.#rows.size >= this.#maxRows) {
      // One flush at a time; after a failure the store is left alone until the retry timer.
      if (!this.#flushing && !this.#retrying) void this.flush();
    } else this.#cancel ??= this.#schedule(() => void this.flush(), this.#flushMs);
  }

  /** The batch's row for today, made (counts 0) and indexed if new; `undefined` when the pending rows are at their bound. */
  #row(accountId: string, keyId: string, environment: Environment, module: string | undefined): UsageIncrement | undefined {
    const day = this.#day;
    const key = `${day}\u0000${accountId}\u0000${keyId}\u0000${environment}\u0000${module ?? ''}`;
    let row = this.#rows.get(key);
    if (!row) {
      if (this.#rows.size >= this.#maxPendingRows) return undefined;
      row = { day, accountId, keyId, environment, allowed: 0, creditsSpent: 0 };
      if (module !== undefined) row.module = module;
      this.#rows.set(key, row);
    }
    const byKey = this.#index[environment];
    let modules = byKey.get(keyId);
    if (!modules) byKey.set(keyId, (modules = new Map()));
    modules.set(module ?? '', row);
    return row;
  }

  #clearIndex(): void {
    this.#index.live.clear();
    this.#index.test.clear();
  }

  /**
   * Sends what is counted, in calls of at most `maxRows` rows, one after another. A chunk leaves the pending rows
   * before it is sent and does not come back once it landed, so a later chunk's failure resends only itself and what
   * was not sent yet (still pending: never taken out); a failed chunk is merged back for the next flush. One flush at a time; it sends
   * at most the chunks pending when it began, so it ends under steady load.
   */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#cancel?.();
    this.#cancel = undefined;
    this.#retrying = false;
    if (this.#rows.size === 0 || !this.#store.addUsage) return;
    this.#flushing = this.#sendChunks(Math.ceil(this.#rows.size / this.#maxRows));
    await this.#flushing;
    this.#flushing = undefined;
    // Full batches counted meanwhile go at once, in a flush of their own (this one ends, even under steady load).
    if (this.#rows.size >= this.#maxRows && !this.#retrying) void this.flush();
  }

  /** Flushes what is left (a graceful shutdown). */
  async close(): Promise<void> {
    await this.flush();
  }

  async #sendChunks(chunks: number): Promise<void> {
    for (let i = 0; i < chunks && this.#rows.size > 0; i++) {
      const chunk = this.#takeChunk();
      try {
        await this.#store.addUsage!([...chunk.values()]);
      } catch {
        // Kept for the next flush, merged with what was counted meanwhile; retried on the next count's timer.
        this.#mergeBack(chunk);
        this.#retrying = true;
        if (this.#rows.size > 0) this.#cancel ??= this.#schedule(() => void this.flush(), this.#flushMs);
        return;
      }
    }
  }

  /** The oldest `maxRows` pending rows, out of the pending rows (and the index, so new counts make new rows). */
  #takeChunk(): Map<string, UsageIncrement> {
    this.#clearIndex();
    if (this.#rows.size <= this.#maxRows) {
      const all = this.#rows;
      this.#rows = new Map();
      return all;
    }
    const chunk = new Map<string, UsageIncrement>();
    for (const [key, row] of this.#rows) {
      if (chunk.size === this.#maxRows) break;
      chunk.set(key, row);
      this.#rows.delete(key);
    }
    return chunk;
  }

  #mergeBack(chunk: Map<string, UsageIncrement>): void {
    for (const [key, row] of chunk) {
      const newer = this.#rows.get(key);
      if (newer) {
        newer.allowed += row.allowed;
        newer.creditsSpent += row.creditsSpent;
      } else {
        this.#rows.set(key, row);
      }
    }
  }
}
