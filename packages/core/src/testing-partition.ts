// The silent-partition check a store with a live invalidation channel runs: a revocation made while the network is
// frozen (sockets open, nothing flowing) stops being served from a cache within the heartbeat bound, and is seen
// once the network heals.

import { expect } from 'vitest';
import { createAuthenticator } from './authenticator';
import { createKeyManager } from './key-manager';
import type { KeyStore, StoreEvent } from './store';
import { eventually } from './testing-eventually';

export interface PartitionHarness {
  /** Names the store in the line the check logs (how many wrong allows, how late the last one). */
  label: string;
  /** A store whose every connection runs through the proxy `freeze` and `thaw` control, opened with the defaults. */
  partitioned: KeyStore;
  /** A second store on the same data that does not go through the proxy: the revocation is made through it. */
  direct: KeyStore;
  /** Stops every byte through the proxy, leaving its sockets open. */
  freeze(): void;
  /** Lets the bytes through again. */
  thaw(): void;
  /** Passed to the authenticator; a short one only makes the check ask more often while the store cannot answer. */
  lookupTimeoutMs?: number;
  /** How long the store may take to first report its channel live, and again after the thaw, in ms. */
  liveWithinMs: number;
  thawWithinMs: number;
}

/** The default bound (heartbeatTimeoutMs), and what a loaded 2-core machine may add to a timer. */
const BOUND_MS = 1_000;
const SLACK_MS = 500;

const yieldToTimers = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Runs the check; call it inside an `it`. The caller closes both stores and the proxy. */
export async function expectPartitionBound(harness: PartitionHarness): Promise<void> {
  const { partitioned, direct } = harness;
  const events: StoreEvent[] = [];
  partitioned.subscribe((event) => events.push(event));
  const cacheOutcomes: string[] = [];
  const authenticator = createAuthenticator({
    store: partitioned,
    cache: { ttlMs: 600_000 },
    ...(harness.lookupTimeoutMs === undefined ? {} : { lookupTimeoutMs: harness.lookupTimeoutMs }),
    onDecision: (decision) => cacheOutcomes.push(decision.cache),
  });
  try {
    // Listening before the keys exist, so their creation is heard.
    await eventually(() => events.some((e) => e.type === 'reset' && e.live), harness.liveWithinMs);
    const manager = createKeyManager({ store: direct });
    await manager.putAccount({ id: 'acct-partition', tier: 'premium' });
    const revoked = await manager.issue({ accountId: 'acct-partition', environment: 'live' });
    const kept = await manager.issue({ accountId: 'acct-partition', environment: 'live' });
    const ask = (apiKey: string) => authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
    // Both keys' creation heard first: a late "key created" would drop the entry cached below.
    await eventually(() => events.filter((e) => e.type === 'key-changed').length >= 2, 5_000);
    for (const { apiKey } of [revoked, kept]) {
      expect((await ask(apiKey)).ok).toBe(true);
      expect((await ask(apiKey)).ok).toBe(true);
      expect(cacheOutcomes.at(-1)).toBe('hit');
    }

    const frozenAt = performance.now();
    harness.freeze();
    await manager.revoke(revoked.key.id);
    const revokedAt = performance.now();
    let wrongAllows = 0;
    let lastWrongAllow = -Infinity;
    const refusals = new Set<number>();
    while (performance.now() - frozenAt < BOUND_MS + SLACK_MS + 500) {
      const result = await ask(revoked.apiKey);
      if (result.ok) {
        wrongAllows++;
        lastWrongAllow = performance.now();
      } else {
        refusals.add(result.error.status);
      }
      await yieldToTimers();
    }
    console.info(
      `[${harness.label} partition] ${wrongAllows} wrong allows, the last ${(lastWrongAllow - revokedAt).toFixed(0)} ms ` +
        `after the revocation (${(lastWrongAllow - frozenAt).toFixed(0)} ms after the freeze)`,
    );
    expect(lastWrongAllow - frozenAt).toBeLessThan(BOUND_MS + SLACK_MS);
    // Refused, and only as the contract allows while the store cannot be reached: 503, or 401 once it can.
    expect(refusals.size).toBeGreaterThan(0);
    for (const status of refusals) expect([401, 503]).toContain(status);
    expect(events).toContainEqual({ type: 'reset', live: false });

    const thawedAt = events.length;
    harness.thaw();
    await eventually(() => events.slice(thawedAt).some((e) => e.type === 'reset' && e.live), harness.thawWithinMs);
    await eventually(async () => {
      const result = await ask(revoked.apiKey);
      return !result.ok && result.error.code === 'INVALID_API_KEY';
    }, 5_000);
    await eventually(async () => (await ask(kept.apiKey)).ok, 5_000);
  } finally {
    await authenticator.close();
  }
}
