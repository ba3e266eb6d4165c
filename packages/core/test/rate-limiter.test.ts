// The rate limiter: exact in one process, shared through the store in the background, with the IETF fields it renders.

import { describe, expect, it } from 'vitest';
import { MemoryKeyStore, type KeyStore } from '../src/index';
import { RateLimiter, rateLimitHeaders } from '../src/rate-limiter';
import { clock } from './fixtures';

const manual = () => {
  const runs: Array<() => void> = [];
  return { schedule: (run: () => void) => (runs.push(run), () => runs.splice(0)), runs };
};

const WINDOW_START = Date.parse('2026-06-15T12:00:00Z'); // a multiple of every window used here

function limiter(store: Pick<KeyStore, 'incrementRateWindow'> = {}, time = clock(WINDOW_START)) {
  const { schedule } = manual();
  return { limiter: new RateLimiter({ store, now: time.now, schedule }), time };
}

const allowedOf = (limiter: RateLimiter, n: number, bucket = 'key_a', limit = { requests: 5, perSeconds: 10 }) =>
  Array.from({ length: n }, () => limiter.check(bucket, limit).allowed).filter(Boolean).length;

describe('RateLimiter in one process', () => {
  it('allows exactly `requests` in a window, then refuses with Retry-After until room is back', () => {
    const { limiter: l, time } = limiter();
    const limit = { requests: 5, perSeconds: 10 };
    const decisions = Array.from({ length: 5 }, () => l.check('key_a', limit));
    expect(decisions.map((d) => [d.allowed, d.remaining])).toEqual([[true, 4], [true, 3], [true, 2], [true, 1], [true, 0]]);
    const refused = l.check('key_a', limit);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, resetSeconds: 10 });
    // 5 in this window: the next window's estimate carries them, weighted down; room for one at 10 s + 2 s.
    expect(refused.retryAfterSeconds).toBe(12);
    time.advance(11_999);
    expect(l.check('key_a', limit).allowed).toBe(false);
    time.advance(1);
    expect(l.check('key_a', limit).allowed).toBe(true);
    expect(l.check('key_a', limit).allowed).toBe(false);
  });

  it('counts each credential separately, and a refused request costs nothing', () => {
    const { limiter: l } = limiter();
    expect(allowedOf(l, 20, 'key_a')).toBe(5);
    expect(allowedOf(l, 20, 'key_b')).toBe(5);
  });

  it('slides: half-way into the next window, half of the previous window still counts', () => {
    const { limiter: l, time } = limiter();
    const limit = { requests: 10, perSeconds: 10 };
    expect(allowedOf(l, 10, 'key_a', limit)).toBe(10);
    time.advance(15_000); // 5 s into the next window: 10 * 0.5 = 5 still counted
    expect(allowedOf(l, 20, 'key_a', limit)).toBe(5);
    time.advance(20_000); // two windows on: nothing carried
    expect(allowedOf(l, 20, 'key_a', limit)).toBe(10);
  });

  it('waits only for the previous window to fade when the current one has room', () => {
    const { limiter: l, time } = limiter();
    const limit = { requests: 4, perSeconds: 10 };
    expect(allowedOf(l, 4, 'key_a', limit)).toBe(4);
    time.advance(10_000); // next window, start: estimate 4
    const refused = l.check('key_a', limit);
    expect(refused.allowed).toBe(false);
    // 4 * (1 - f) <= 3 at f = 1/4: 2.5 s, rounded up.
    expect(refused.retryAfterSeconds).toBe(3);
    time.advance(2_500);
    expect(l.check('key_a', limit).allowed).toBe(true);
  });

  it('renders RateLimit-Policy and RateLimit as structured fields', () => {
    const { limiter: l } = limiter();
    const limit = { requests: 100, perSeconds: 60 };
    const decision = l.check('key_a', limit);
    expect(rateLimitHeaders(limit, decision)).toEqual({ 'RateLimit-Policy': '"default";q=100;w=60', RateLimit: '"default";r=99;t=60' });
  });

  it('gives each limit its own policy when credentials of different limits alternate', () => {
    const { limiter: l } = limiter();
    const small = { requests: 5, perSeconds: 1 };
    const large = { requests: 1_500_000, perSeconds: 3600 };
    for (let i = 0; i < 3; i++) {
      expect(rateLimitHeaders(small, l.check('key_small', small))['RateLimit-Policy']).toBe('"default";q=5;w=1');
      expect(rateLimitHeaders(large, l.check('key_large', large))).toEqual({
        'RateLimit-Policy': '"default";q=1500000;w=3600',
        RateLimit: `"default";r=${1_500_000 - i - 1};t=3600`,
      });
    }
  });
});

describe('RateLimiter across processes', () => {
  it('pushes local counts and learns the others\' on sync, never on the request path', async () => {
    const store = new MemoryKeyStore();
    const time = clock(WINDOW_START);
    let calls = 0;
    const counting = { incrementRateWindow: (...args: Parameters<MemoryKeyStore['incrementRateWindow']>) => (calls++, store.incrementRateWindow(...args)) };
    const one = limiter(counting, time).limiter;
    const two = limiter(counting, time).limiter;
    const limit = { requests: 10, perSeconds: 60 };
    expect(allowedOf(one, 6, 'key_a', limit)).toBe(6);
    expect(calls).toBe(0);
    await one.sync();
    await two.sync(); // two has nothing to push and has not seen the key: nothing asked
    expect(calls).toBe(1);
    two.check('key_a', limit); // two's first request: its own count, 1
    await two.sync(); // pushes 1, learns 7: another process spent 6 for its 1, so it takes a share of what is left
    const afterSyncs: number[] = [];
    for (let i = 0; i < 4; i++) {
      afterSyncs.push(allowedOf(two, 10, 'key_a', limit));
      await two.sync();
    }
    // Never the 3 left all at once between two syncs; all 3 over a few syncs, as its share grows back.
    expect(afterSyncs).toEqual([1, 1, 1, 0]);
    // one has not synced since its own requests: until its next sync it judges on its stale view (6 of 10), the
    // overshoot the fleet bound allows (one process's requests within a sync interval).
    expect(allowedOf(one, 1, 'key_a', limit)).toBe(1);
    await one.sync(); // pushes 1, learns 11
    expect(allowedOf(one, 10, 'key_a', limit)).toBe(0);
    expect(allowedOf(two, 1, 'key_a', limit)).toBe(0);
    expect(await store.incrementRateWindow('key_a', WINDOW_START, 0, 1_000)).toBe(11);
  });

  it('takes only its share of what is left between syncs when others spend the same bucket', async () => {
    const store = new MemoryKeyStore();
    const time = clock(WINDOW_START);
    const fleet = Array.from({ length: 4 }, () => limiter(store, time).limiter);
    const limit = { requests: 1_000, perSeconds: 60 };
    // Every process is offered 200 requests a second, far over the limit; they sync once a second.
    for (let tick = 0; tick < 180; tick++) {
      for (const l of fleet) allowedOf(l, 200, 'key_a', limit);
      await Promise.all(fleet.map((l) => l.sync()));
      time.advance(1_000);
    }
    const [first, ...steady] = await Promise.all([0, 1, 2].map((w) => store.incrementRateWindow('key_a', WINDOW_START + w * 60_000, 0, 1_000)));
    // The first window: no process knows of the others until its first sync; without shares it is 1,600 (4 x 200 twice).
    expect(first).toBeLessThan(1_600);
    // Once the processes know they share it, the fleet stays within the limit.
    for (const count of steady) {
      expect(count).toBeGreaterThan(900);
      expect(count).toBeLessThanOrEqual(1_000);
    }
  });

  it('keeps counts through a failed push and pushes them later, once', async () => {
    const store = new MemoryKeyStore();
    let down = true;
    const flaky = {
      incrementRateWindow: (...args: Parameters<MemoryKeyStore['incrementRateWindow']>) =>
        down ? Promise.reject(new Error('connection refused')) : store.incrementRateWindow(...args),
    };
    const time = clock(WINDOW_START);
    const { limiter: l } = limiter(flaky, time);
    const limit = { requests: 100, perSeconds: 10 };
    expect(allowedOf(l, 7, 'key_a', limit)).toBe(7);
    await l.sync();
    expect(allowedOf(l, 2, 'key_a', limit)).toBe(2);
    time.advance(10_000); // the window rolls while the store is down: its 9 are pushed against their own window
    expect(allowedOf(l, 1, 'key_a', limit)).toBe(1);
    down = false;
    await l.sync();
    await l.sync();
    expect(await store.incrementRateWindow('key_a', WINDOW_START, 0, 1_000)).toBe(9);
    expect(await store.incrementRateWindow('key_a', WINDOW_START + 10_000, 0, 1_000)).toBe(1);
  });

  it('flush waits for the push in flight, then pushes what was counted since', async () => {
    const store = new MemoryKeyStore();
    const pushed: number[] = [];
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    const held = {
      incrementRateWindow: async (...args: Parameters<MemoryKeyStore['incrementRateWindow']>) => {
        pushed.push(args[2]);
        if (pushed.length === 1) await hold; // the first push hangs until released
        return store.incrementRateWindow(...args);
      },
    };
    const { limiter: l } = limiter(held);
    allowedOf(l, 2);
    const order: string[] = [];
    const background = l.sync().then(() => order.push('background push')); // the timer's push of 2, held
    allowedOf(l, 1); // counted while it is in flight
    const flush = l.flush().then(() => order.push('flush'));
    release();
    await Promise.all([background, flush]);
    expect(order).toEqual(['background push', 'flush']);
    expect(pushed).toEqual([2, 1]); // a sync alone would have skipped the bucket in flight, leaving the 1 behind
    expect(await store.incrementRateWindow('key_a', WINDOW_START, 0, 1_000)).toBe(3);
  });

  it('a push whose answer was lost is pushed again: the fleet count is too high by it, refusing sooner, never later', async () => {
    const store = new MemoryKeyStore();
    let loseAnswer = true;
    const lossy = {
      incrementRateWindow: async (...args: Parameters<MemoryKeyStore['incrementRateWindow']>) => {
        const count = await store.incrementRateWindow(...args);
        if (loseAnswer) throw new Error('socket hang up');
        return count;
      },
    };
    const { limiter: l } = limiter(lossy);
    const limit = { requests: 10, perSeconds: 10 };
    expect(allowedOf(l, 4, 'key_a', limit)).toBe(4);
    await l.sync(); // landed, answer lost: kept as unsent
    loseAnswer = false;
    await l.sync();
    expect(await store.incrementRateWindow('key_a', WINDOW_START, 0, 1_000)).toBe(8); // the 4 counted twice
    // So at most 2 more, not 6 (the double count also reads as another process spending: a smaller share between syncs).
    expect(allowedOf(l, 10, 'key_a', limit)).toBeLessThanOrEqual(2);
  });

  it('pushes what is left on close', async () => {
    const store = new MemoryKeyStore();
    const { limiter: l } = limiter(store);
    allowedOf(l, 3);
    await l.close();
    expect(await store.incrementRateWindow('key_a', WINDOW_START, 0, 1_000)).toBe(3);
  });

  it('is per process on a store without incrementRateWindow, and schedules nothing', () => {
    const { schedule, runs } = manual();
    const l = new RateLimiter({ store: {}, now: () => WINDOW_START, schedule });
    expect(runs).toEqual([]);
    expect(allowedOf(l, 9)).toBe(5);
  });
});
