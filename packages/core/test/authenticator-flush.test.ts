// authenticator.flush(): usage and rate-window counts sent now, for runtimes whose timers die with the request (Workers).

import { describe, expect, it } from 'vitest';
import { createAuthenticator, createKeyManager, MemoryKeyStore, type UsageIncrement } from '../src/index';
import { bearer, clock } from './fixtures';

const NOW = Date.parse('2026-06-15T12:00:00Z');
const DAY = '2026-06-15';

async function setup(store = new MemoryKeyStore()) {
  const time = clock(NOW);
  const manager = createKeyManager({ store, now: time.now });
  await manager.putAccount({ id: 'acct_1', tier: 'premium' });
  const limited = await manager.issue({ accountId: 'acct_1', environment: 'live', rateLimit: { requests: 3, perSeconds: 60 } });
  const edge = () => createAuthenticator({ store, now: time.now });
  return { store, limited, edge };
}

describe('authenticator.flush', () => {
  it("sends the usage counted so far at once, not on the batch timer", async () => {
    const { store, limited, edge } = await setup();
    const authenticator = edge();
    for (let i = 0; i < 2; i++) expect((await authenticator.authenticate({ authorization: bearer(limited.apiKey) })).ok).toBe(true);
    expect(await store.listUsage('acct_1', DAY, DAY)).toEqual([]);
    await authenticator.flush();
    // Nothing but microtasks ran since the requests: the 1 s batch timer cannot have fired.
    expect(await store.listUsage('acct_1', DAY, DAY)).toEqual([
      { day: DAY, keyId: limited.key.id, environment: 'live', allowed: 2, creditsSpent: 0 },
    ]);
    await authenticator.close();
  });

  it('shares rate-limit counts between two edges that flush after each request', async () => {
    const { store, limited, edge } = await setup();
    const [one, two] = [edge(), edge()];
    const ask = async (authenticator: ReturnType<typeof edge>) => {
      const result = await authenticator.authenticate({ authorization: bearer(limited.apiKey) });
      await authenticator.flush(); // as ctx.waitUntil would, after the response
      return result.ok ? 'allowed' : result.error.code;
    };
    expect([await ask(one), await ask(one)]).toEqual(['allowed', 'allowed']);
    // two has heard nothing yet of this credential: its first request is judged alone (the fleet bound), and its
    // flush reads back the fleet's count.
    expect(await ask(two)).toBe('allowed');
    expect(await ask(two)).toBe('RATE_LIMITED');
    expect(await ask(one)).toBe('allowed'); // one's view is one flush old: the third of three
    expect(await ask(one)).toBe('RATE_LIMITED');
    expect(await ask(two)).toBe('RATE_LIMITED');
    expect(await store.incrementRateWindow(limited.key.id, NOW - (NOW % 60_000), 0, 1_000)).toBe(4);
    await Promise.all([one.close(), two.close()]);
  });

  it('never rejects: a failed send is kept and sent by the next flush', async () => {
    class FlakyStore extends MemoryKeyStore {
      down = true;
      override async addUsage(rows: readonly UsageIncrement[]): Promise<void> {
        if (this.down) throw new Error('connection refused');
        return super.addUsage(rows);
      }
    }
    const store = new FlakyStore();
    const { limited, edge } = await setup(store);
    const authenticator = edge();
    expect((await authenticator.authenticate({ authorization: bearer(limited.apiKey) })).ok).toBe(true);
    await expect(authenticator.flush()).resolves.toBeUndefined();
    store.down = false;
    await authenticator.flush();
    expect((await store.listUsage('acct_1', DAY, DAY))[0]?.allowed).toBe(1);
    await authenticator.close();
  });
});
