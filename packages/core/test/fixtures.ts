// Test fixtures: a store whose lookups can be counted, held and failed, and accounts and keys made through the public API.

import { createKeyManager, MemoryKeyStore, type KeyRecord, type StoreEvent, type StoreListener } from '../src/index';

export const DAY = 24 * 60 * 60 * 1000;
export const START = Date.parse('2026-01-01T00:00:00Z');

/** A MemoryKeyStore whose `findByHash` can be counted, held until released, failed or hung. */
export class ControlledStore extends MemoryKeyStore {
  lookups = 0;
  mode: 'normal' | 'fail' | 'hang' | 'garbage' = 'normal';
  #held: Array<() => void> = [];
  hold = false;

  override async findByHash(hash: string, options?: { signal?: AbortSignal }): Promise<KeyRecord | null> {
    this.lookups++;
    const read = await super.findByHash(hash);
    if (this.hold) await new Promise<void>((resolve) => this.#held.push(resolve));
    if (this.mode === 'fail') throw new Error('connection refused');
    if (this.mode === 'hang') {
      return new Promise((_, reject) => options?.signal?.addEventListener('abort', () => reject(options.signal?.reason)));
    }
    if (this.mode === 'garbage') return { key: { id: 42 }, account: null } as unknown as KeyRecord;
    return read;
  }

  readonly #listeners = new Set<StoreListener>();

  override subscribe(listener: StoreListener): () => void {
    const stop = super.subscribe(listener);
    this.#listeners.add(listener);
    return () => {
      stop();
      this.#listeners.delete(listener);
    };
  }

  /** Sends an event as a store's invalidation channel would (a reset when a subscription drops or returns). */
  broadcast(event: StoreEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  /** Lets every held lookup finish with what it read before it was held. */
  release(): void {
    this.hold = false;
    for (const resolve of this.#held.splice(0)) resolve();
  }

  get waiting(): number {
    return this.#held.length;
  }
}

export function clock(start = START) {
  const state = { now: start };
  return { now: () => state.now, advance: (ms: number) => (state.now += ms), set: (ms: number) => (state.now = ms) };
}

export async function seed(store: MemoryKeyStore, now: () => number) {
  const manager = createKeyManager({ store, now });
  await manager.putAccount({ id: 'acct_premium', tier: 'premium' });
  await manager.putAccount({ id: 'acct_ent', tier: 'accountant_pro', enterprise: true });
  const retail = await manager.issue({ accountId: 'acct_premium', environment: 'live', name: 'woo' });
  const test = await manager.issue({ accountId: 'acct_premium', environment: 'test' });
  const enterprise = await manager.issue({ accountId: 'acct_ent', environment: 'live', surface: 'enterprise' });
  return { manager, retail, test, enterprise };
}

export const bearer = (apiKey: string) => `Bearer ${apiKey}`;
