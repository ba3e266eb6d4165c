// Fuzzes authenticate() against the contract's decision table (scripts/fuzz.mjs runs the same campaign 100,000 times).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAuthenticator, MemoryKeyStore } from '@finora-auth/core';
import { anyHeader, hugeHeader } from './support/fuzz-arbitraries';
import { coreCampaign } from './support/fuzz-campaign';
import { buildWorld, expectedFor } from './support/fuzz-world';
import { tapStore } from '@finora-auth/core/testing';

const RUNS = 4_000;

describe('fuzz: authenticate', () => {
  it('answers every generated header exactly as the contract says, and never lets a wrong key in', async () => {
    const result = await coreCampaign({ runs: RUNS });
    expect(result.findings, `seed ${result.seed}`).toEqual([]);
    // The generator must reach every row of the table, or the run proves little.
    for (const label of ['allowed', 'MISSING_API_KEY', 'INVALID_API_KEY', 'PREMIUM_REQUIRED', 'ENTERPRISE_ONLY']) {
      expect(result.tally[label] ?? 0, label).toBeGreaterThan(0);
    }
  });

  it('reads 64 KB values without a store lookup unless they hold one well-formed key', async () => {
    const store = tapStore(new MemoryKeyStore());
    const world = await buildWorld(store);
    const auth = createAuthenticator({ store, now: world.now });
    const keys = world.keys.map((k) => k.apiKey);
    await fc.assert(
      fc.asyncProperty(hugeHeader(keys), async (authorization) => {
        const before = store.lookups;
        const result = await auth.authenticate({ authorization });
        const expected = expectedFor(world, authorization);
        expect(result.ok ? 200 : result.error.status).toBe(expected.status);
        if (expected.key === undefined) expect(store.lookups).toBe(before);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a header that arrives as a list (repeated fields), whatever the values', async () => {
    const store = new MemoryKeyStore();
    const world = await buildWorld(store);
    const auth = createAuthenticator({ store, now: world.now });
    const keys = world.keys.map((k) => k.apiKey);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constantFrom(...keys.map((k) => `Bearer ${k}`)), anyHeader(keys)), { minLength: 1, maxLength: 4 }), async (values) => {
        const result = await auth.authenticate({ authorization: values as unknown as string });
        expect(result.ok).toBe(false);
        expect(!result.ok && result.error.status).toBe(401);
      }),
      { numRuns: 300 },
    );
  });

  it('never rejects for any request-like value, module aside', async () => {
    const store = new MemoryKeyStore();
    const world = await buildWorld(store);
    const auth = createAuthenticator({ store, now: world.now });
    await fc.assert(
      fc.asyncProperty(fc.anything(), fc.anything(), async (authorization, method) => {
        const result = await auth.authenticate({ authorization, method, origin: authorization } as never);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
