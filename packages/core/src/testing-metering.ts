// Store-level checks of the v2 metering methods (credits, refills, usage, rate windows, rate limits, listAccounts)
// that every store package runs against its own backend, with two instances on the same data.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, keyHint, sha256Hex } from './keys';
import type { KeyStore, StoreEvent } from './store';
import type { StoredKey } from './types';

export interface MeteringHarness {
  /** A new store instance on the suite's shared data (a second process, as far as the data is concerned). */
  open(): Promise<KeyStore> | KeyStore;
  /** Drops what the suite created; stores opened through `open` are closed first. */
  cleanup?(): Promise<void>;
}

const DAY = 86_400_000;
const NOON = Date.UTC(2026, 11, 1, 12);

type Full = Required<Pick<KeyStore, 'grantCredits' | 'setCreditRefill' | 'getCredits' | 'unmeter' | 'takeCredits' | 'returnCredits' | 'addUsage' | 'listUsage' | 'incrementRateWindow' | 'listAccounts' | 'updateAccount'>> & KeyStore;

export function describeMeteringChecks(label: string, harness: () => MeteringHarness | Promise<MeteringHarness>): void {
  describe(`${label}: v2 credits, usage, rate windows and rate limits`, () => {
    let h: MeteringHarness;
    let one: Full;
    let two: Full;
    const run = Math.random().toString(36).slice(2, 8);
    let counter = 0;
    const accountId = (name: string) => `acct-${run}-${name}-${++counter}`;

    beforeAll(async () => {
      h = await harness();
      one = (await h.open()) as Full;
      two = (await h.open()) as Full;
    });
    afterAll(async () => {
      await one?.close();
      await two?.close();
      await h?.cleanup?.();
    });

    const account = async (name: string) => {
      const id = accountId(name);
      await one.putAccount({ id, tier: 'premium', enterprise: false });
      return id;
    };

    const keyFor = async (id: string, extra: Partial<StoredKey> = {}): Promise<StoredKey> => {
      const apiKey = generateApiKey('live');
      return {
        id: `key_${crypto.randomUUID().replaceAll('-', '')}`, accountId: id, hash: await sha256Hex(apiKey), hint: keyHint(apiKey), environment: 'live',
        surface: 'retail', createdAt: NOON, expiresAt: NOON + 90 * DAY, ...extra,
      };
    };

    it('keeps rate limits on accounts and keys, and reads them and the metered flag with every lookup', async () => {
      const id = accountId('rate');
      await one.putAccount({ id, tier: 'premium', enterprise: false, rateLimit: { requests: 100, perSeconds: 60 } });
      expect(await one.getAccount(id)).toEqual({ id, tier: 'premium', enterprise: false, rateLimit: { requests: 100, perSeconds: 60 } });
      const limited = await keyFor(id, { rateLimit: { requests: 5, perSeconds: 1 } });
      const plain = await keyFor(id, { createdAt: NOON + 1 });
      await one.insertKey(limited);
      await one.insertKey(plain);
      expect(await two.getKey(limited.id)).toEqual(limited);
      expect((await two.listKeys(id)).map((k) => k.id)).toEqual([limited.id, plain.id]);
      expect((await two.listKeys(id))[1]).not.toHaveProperty('rateLimit');
      expect(await two.findByHash(limited.hash)).toEqual({ key: limited, account: { id, tier: 'premium', enterprise: false, rateLimit: { requests: 100, perSeconds: 60 } } });

      // Only the named fields change: a rate-limit write keeps the tier, and null removes the limit.
      expect(await two.updateAccount(id, { rateLimit: { requests: 7, perSeconds: 2 } })).toEqual({ id, tier: 'premium', enterprise: false, rateLimit: { requests: 7, perSeconds: 2 } });
      expect(await one.updateAccount(id, { tier: 'free' })).toEqual({ id, tier: 'free', enterprise: false, rateLimit: { requests: 7, perSeconds: 2 } });
      const removed = await one.updateAccount(id, { rateLimit: null });
      expect(removed).toEqual({ id, tier: 'free', enterprise: false });
      expect(removed).not.toHaveProperty('rateLimit');

      await one.grantCredits(id, 10);
      expect((await two.findByHash(plain.hash))?.account).toEqual({ id, tier: 'free', enterprise: false, metered: true });
      // putAccount replaces what the account is, never its credits.
      await two.putAccount({ id, tier: 'premium', enterprise: true, metered: false });
      expect(await one.getAccount(id)).toEqual({ id, tier: 'premium', enterprise: true, metered: true });
      expect((await one.getCredits(id))?.balance).toBe(10);
    });

    it('lists every account by id', async () => {
      const ids = [await account('list-b'), await account('list-a')];
      await one.grantCredits(ids[0]!, 1);
      const listed = (await two.listAccounts()).filter((a) => ids.includes(a.id));
      expect(listed.map((a) => a.id)).toEqual([...ids].sort());
      expect(listed.find((a) => a.id === ids[0])).toEqual({ id: ids[0], tier: 'premium', enterprise: false, metered: true });
      const all = (await two.listAccounts()).map((a) => a.id);
      expect(all).toEqual([...all].sort());
    });

    it('meters an account on its first grant (telling listeners), adds later grants, and knows no unknown account', async () => {
      const id = await account('grant');
      const events: StoreEvent[] = [];
      const stop = one.subscribe((event) => events.push(event));
      try {
        expect(await one.getCredits(id)).toEqual({ metered: false, balance: null });
        expect(await one.grantCredits(id, 250)).toEqual({ balance: 250 });
        expect(events).toContainEqual({ type: 'account-changed', accountId: id });
        expect(await two.grantCredits(id, 50)).toEqual({ balance: 300 });
        expect(await one.getCredits(id)).toEqual({ metered: true, balance: 300 });
        expect(await one.grantCredits(accountId('nobody'), 5)).toBeNull();
        expect(await one.getCredits(accountId('nobody'))).toBeNull();
      } finally {
        stop();
      }
    });

    it('never grants more than the balance to concurrent takes from two instances', async () => {
      const id = await account('race');
      await one.grantCredits(id, 1_000);
      const takes = Array.from({ length: 60 }, (_, i) => (i % 2 ? one : two).takeCredits(id, 37, 1, NOON));
      const results = await Promise.all(takes);
      expect(results.reduce((sum, r) => sum + r.granted, 0)).toBe(1_000);
      expect(results.every((r) => r.metered && r.granted <= 37 && r.balance >= 0)).toBe(true);
      expect((await one.getCredits(id))?.balance).toBe(0);
      // Less than `min` left: nothing is taken at all.
      await one.returnCredits(id, 3);
      expect(await two.takeCredits(id, 10, 5, NOON)).toEqual({ granted: 0, balance: 3, metered: true });
      expect(await two.takeCredits(id, 10, 2, NOON)).toEqual({ granted: 3, balance: 0, metered: true });
    });

    it('grants nothing for an unknown or unmetered account, and unmeters (telling listeners)', async () => {
      const id = await account('unmeter');
      expect(await one.takeCredits(id, 10, 1, NOON)).toEqual({ granted: 0, balance: 0, metered: false });
      expect(await one.takeCredits(accountId('nobody'), 10, 1, NOON)).toEqual({ granted: 0, balance: 0, metered: false });
      await one.grantCredits(id, 40);
      await one.setCreditRefill(id, { amount: 100, period: 'month' });
      const events: StoreEvent[] = [];
      const stop = two.subscribe((event) => events.push(event));
      try {
        expect(await two.unmeter(id)).toBe(true);
        expect(events).toContainEqual({ type: 'account-changed', accountId: id });
      } finally {
        stop();
      }
      expect(await one.getCredits(id)).toEqual({ metered: false, balance: null });
      expect(await one.getAccount(id)).toEqual({ id, tier: 'premium', enterprise: false });
      await one.returnCredits(id, 5);
      expect(await one.getCredits(id)).toEqual({ metered: false, balance: null });
      expect(await one.takeCredits(id, 10, 1, NOON)).toEqual({ granted: 0, balance: 0, metered: false });
      expect(await one.unmeter(accountId('nobody'))).toBe(false);
      expect(await one.setCreditRefill(id, { amount: 5, period: 'day' })).toBeNull();
    });

    it('gives lease credits back', async () => {
      const id = await account('return');
      await one.grantCredits(id, 100);
      expect((await one.takeCredits(id, 60, 1, NOON)).granted).toBe(60);
      await two.returnCredits(id, 25);
      expect(await one.getCredits(id)).toEqual({ metered: true, balance: 65 });
    });

    it('refills once per period whatever many instances with skewed clocks ask, and never for a clock behind', async () => {
      const id = await account('refill');
      await one.grantCredits(id, 5);
      expect(await one.setCreditRefill(id, { amount: 100, period: 'day' })).toEqual({ metered: true, balance: 5, refill: { amount: 100, period: 'day' } });
      const skews = [-30_000, -1_000, 0, 1_000, 20_000, 45_000];
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) => (i % 2 ? one : two).takeCredits(id, 3, 1, NOON + skews[i % skews.length]!)),
      );
      // One refill to 100 (the 5 granted before it are replaced), then 24 takes of 3.
      expect(results.reduce((sum, r) => sum + r.granted, 0)).toBe(72);
      expect(await two.getCredits(id)).toEqual({ metered: true, balance: 28, refill: { amount: 100, period: 'day' }, refilledPeriod: '2026-12-01' });
      // A clock a day behind finds its period already past: no refill.
      expect(await one.takeCredits(id, 1, 1, NOON - DAY)).toEqual({ granted: 1, balance: 27, metered: true });
      // The next UTC day refills once, from each instance's first take.
      const nextDay = await Promise.all([one.takeCredits(id, 10, 1, NOON + DAY), two.takeCredits(id, 10, 1, NOON + DAY + 5)]);
      expect(nextDay.reduce((sum, r) => sum + r.granted, 0)).toBe(20);
      expect((await one.getCredits(id))?.balance).toBe(80);
      expect((await one.getCredits(id))?.refilledPeriod).toBe('2026-12-02');
      // A monthly refill replaces it and applies at the next take, with a month as its period.
      await one.setCreditRefill(id, { amount: 1_000, period: 'month' });
      expect(await two.takeCredits(id, 1, 1, NOON + DAY)).toEqual({ granted: 1, balance: 999, metered: true });
      expect(await two.takeCredits(id, 1, 1, NOON + 2 * DAY)).toEqual({ granted: 1, balance: 998, metered: true });
      expect((await one.getCredits(id))?.refilledPeriod).toBe('2026-12');
      // Removing the refill keeps the balance.
      expect(await one.setCreditRefill(id, null)).toEqual({ metered: true, balance: 998 });
    });

    it('adds usage up from two instances and lists it by day, key, environment and module within the range', async () => {
      const id = await account('usage');
      const other = await account('usage-other');
      const base = { accountId: id, environment: 'live' as const, creditsSpent: 0 };
      await Promise.all([
        one.addUsage([
          { ...base, day: '2026-12-02', keyId: 'key_b', allowed: 2, creditsSpent: 2 },
          { ...base, day: '2026-12-01', keyId: 'key_b', module: 'payments', allowed: 1 },
          { ...base, day: '2026-12-02', keyId: 'key_b', allowed: 3, creditsSpent: 3 },
        ]),
        two.addUsage([
          { ...base, day: '2026-12-02', keyId: 'key_b', allowed: 5, creditsSpent: 4 },
          { ...base, day: '2026-12-01', keyId: 'key_a', environment: 'test', allowed: 7 },
          { ...base, day: '2026-12-01', keyId: 'key_b', allowed: 1 },
          { ...base, day: '2026-11-30', keyId: 'key_a', allowed: 9 },
          { ...base, accountId: other, day: '2026-12-01', keyId: 'key_z', allowed: 4 },
        ]),
      ]);
      await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).addUsage([{ ...base, day: '2026-12-03', keyId: 'key_a', module: 'invoices', allowed: 1, creditsSpent: 1 }])));
      await one.addUsage([]);
      expect(await two.listUsage(id, '2026-12-01', '2026-12-03')).toEqual([
        { day: '2026-12-01', keyId: 'key_a', environment: 'test', allowed: 7, creditsSpent: 0 },
        { day: '2026-12-01', keyId: 'key_b', environment: 'live', allowed: 1, creditsSpent: 0 },
        { day: '2026-12-01', keyId: 'key_b', environment: 'live', module: 'payments', allowed: 1, creditsSpent: 0 },
        { day: '2026-12-02', keyId: 'key_b', environment: 'live', allowed: 10, creditsSpent: 9 },
        { day: '2026-12-03', keyId: 'key_a', environment: 'live', module: 'invoices', allowed: 10, creditsSpent: 10 },
      ]);
      const listed = await one.listUsage(id, '2026-11-30', '2026-11-30');
      expect(listed).toEqual([{ day: '2026-11-30', keyId: 'key_a', environment: 'live', allowed: 9, creditsSpent: 0 }]);
      expect(listed[0]).not.toHaveProperty('module');
      expect(await one.listUsage(id, '2026-12-04', '2026-12-31')).toEqual([]);
    });

    it('counts a rate window from two instances, per bucket and window, and reads it with by 0', async () => {
      const bucket = `key_${run}_rate`;
      const counts = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? one : two).incrementRateWindow(bucket, 60_000, 3, 10_000)));
      expect(Math.max(...counts)).toBe(120);
      expect(new Set(counts).size).toBe(40);
      expect(await one.incrementRateWindow(bucket, 60_000, 0, 10_000)).toBe(120);
      expect(await two.incrementRateWindow(bucket, 120_000, 2, 10_000)).toBe(2);
      expect(await two.incrementRateWindow(`${bucket}-other`, 60_000, 1, 10_000)).toBe(1);
    });
  });
}
