// Abuse over HTTP: a flood of random keys costs at most one store lookup each and cannot evict the valid keys.

import { describe, expect, it } from 'vitest';
import { createAuthenticator, generateApiKey, MemoryKeyStore, type DecisionEvent } from '@finora-auth/core';
import { adapterMiddleware, FRAMEWORKS, startApp } from './support/fuzz-apps';
import { buildRequest, RawPool } from '../packages/gateway/test/support/raw-http';
import { buildWorld } from './support/fuzz-world';
import { tapStore } from '@finora-auth/core/testing';

const FLOOD = 1_000;

describe.each(FRAMEWORKS)('a flood of random keys through the %s adapter', (framework) => {
  it('costs one store lookup per distinct key at most, none for junk, and leaves the valid keys cached', async () => {
    const store = tapStore(new MemoryKeyStore());
    const world = await buildWorld(store);
    const events: DecisionEvent[] = [];
    // A deliberately small cache: the flood is 20 times larger than both parts of it.
    const authenticator = createAuthenticator({
      store,
      now: world.now,
      cache: { max: 50, negativeMax: 50 },
      onDecision: (e) => events.push(e),
    });
    const app = await startApp(framework, { middleware: adapterMiddleware(framework, authenticator) });
    const pool = new RawPool(app.port, 8);
    const send = (authorization: string, path = '/v1/invoices/1') => pool.send(buildRequest(path, [['Authorization', authorization]]));
    try {
      const valid = world.keys.filter((k) => k.state === 'ok').map((k) => `Bearer ${k.apiKey}`);
      for (const header of valid) expect((await send(header)).status).toBe(200);
      const warm = store.lookups;
      expect(warm).toBe(valid.length);

      // Distinct random keys, eight at a time, each sent twice in a row: the repeat is answered from the negative
      // cache (a repeat that came after 50 other unknown keys would be looked up again: that cache is bounded too).
      const flood = Array.from({ length: FLOOD }, () => `Bearer ${generateApiKey(Math.random() < 0.5 ? 'live' : 'test')}`);
      const statuses: number[] = [];
      for (let i = 0; i < flood.length; i += 8) {
        const batch = flood.slice(i, i + 8);
        for (const pair of await Promise.all(batch.map(async (header) => [(await send(header)).status, (await send(header)).status]))) {
          statuses.push(...pair);
        }
      }
      expect(new Set(statuses)).toEqual(new Set([401]));
      expect(store.lookups - warm).toBe(FLOOD);

      // Junk costs nothing at all: no lookup is made for a header that is not a key.
      const before = store.lookups;
      await Promise.all(
        Array.from({ length: 300 }, (_, i) => send(i % 3 ? `Bearer ${'f'.repeat(i % 97)}` : `Bearer live_sk_${'0'.repeat(47)}`)),
      );
      expect(store.lookups).toBe(before);

      // The valid keys were never evicted by the flood: answered from the cache, no lookup.
      for (const header of valid) expect((await send(header)).status).toBe(200);
      expect(store.lookups).toBe(before);
      expect(events.filter((e) => e.outcome === 'allowed').at(-1)?.cache).toBe('hit');
    } finally {
      pool.close();
      await app.close();
      await authenticator.close();
    }
  });
});
