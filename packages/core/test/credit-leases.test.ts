// Credit leases: requests spend from a local lease, one coalesced take refills it, unused credits go back.

import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../src/index';
import { CreditLeases } from '../src/credit-leases';
import { clock } from './fixtures';

async function metered(balance: number) {
  const store = new MemoryKeyStore();
  await store.putAccount({ id: 'acct_1', tier: 'premium', enterprise: false });
  await store.grantCredits('acct_1', balance);
  return store;
}

/** A store whose takes are counted and can be held, failed or hung. */
function controlled(store: MemoryKeyStore) {
  const state = { takes: 0, wants: [] as number[], mode: 'normal' as 'normal' | 'fail' | 'hang', held: [] as Array<() => void>, hold: false };
  return {
    state,
    release: () => state.held.splice(0).forEach((go) => go()),
    store: {
      takeCredits: async (...args: Parameters<MemoryKeyStore['takeCredits']>) => {
        state.takes++;
        state.wants.push(args[1]);
        if (state.hold) await new Promise<void>((go) => state.held.push(go));
        if (state.mode === 'fail') throw new Error('connection refused');
        if (state.mode === 'hang') return new Promise<never>(() => {});
        return store.takeCredits(...args);
      },
      returnCredits: (...args: Parameters<MemoryKeyStore['returnCredits']>) => store.returnCredits(...args),
    },
  };
}

/** `count` requests of 1 credit, one a millisecond, each awaited: steady traffic that sizes the leases. */
async function spendSteadily(leases: CreditLeases, time: ReturnType<typeof clock>, count: number) {
  for (let i = 0; i < count; i++) {
    time.advance(1);
    await leases.spend('acct_1', 1);
  }
}

describe('CreditLeases', () => {
  it('takes one lease from the store and spends from it synchronously, reporting the balance it sees', async () => {
    const store = await metered(1_000);
    const fake = controlled(store);
    const time = clock();
    const leases = new CreditLeases({ store: fake.store, now: time.now });
    expect(await leases.spend('acct_1', 1)).toEqual({ ok: true, remaining: 999 });
    let synchronous = 0;
    let last: unknown;
    for (let i = 0; i < 100; i++) {
      time.advance(1);
      const result = leases.spend('acct_1', 1);
      if (!(result instanceof Promise)) synchronous++;
      last = await result;
    }
    expect(synchronous).toBeGreaterThan(80);
    expect(fake.state.takes).toBeLessThan(20);
    const balance = (await store.getCredits('acct_1'))!.balance!;
    expect(balance + leases.held('acct_1')).toBe(1_000 - 101);
    expect(last).toEqual({ ok: true, remaining: 1_000 - 101 });
  });

  it('sizes leases to the observed rate, up to maxLease, and never holds more than one', async () => {
    const store = await metered(100_000);
    const fake = controlled(store);
    const time = clock();
    const leases = new CreditLeases({ store: fake.store, now: time.now, maxLease: 300 });
    await leases.spend('acct_1', 1);
    let most = 0;
    for (let i = 0; i < 2_000; i++) {
      time.advance(1); // 1,000 requests a second
      expect(await leases.spend('acct_1', 1)).toMatchObject({ ok: true });
      most = Math.max(most, leases.held('acct_1'));
    }
    // The leases grow with the rate (1 credit/ms for leaseMs = 1,000 ms) up to the cap, and stay there.
    expect(fake.state.wants[0]).toBe(1);
    expect(Math.max(...fake.state.wants)).toBeLessThanOrEqual(300);
    expect(fake.state.wants.slice(-3).every((want) => want > 200)).toBe(true);
    expect(fake.state.takes).toBeLessThan(40);
    expect(most).toBeLessThanOrEqual(300);
    expect(leases.held('acct_1') + (await store.getCredits('acct_1'))!.balance!).toBe(100_000 - 2_001);
  });

  it('takes the next lease ahead, so steady traffic never waits at the end of one', async () => {
    const store = await metered(100_000);
    const fake = controlled(store);
    const time = clock();
    const leases = new CreditLeases({ store: fake.store, now: time.now, maxLease: 100 });
    await spendSteadily(leases, time, 300);
    const takes = fake.state.takes;
    let waited = 0;
    for (let i = 0; i < 2_000; i++) {
      time.advance(1);
      const result = leases.spend('acct_1', 1);
      if (result instanceof Promise) waited++;
      expect(await result).toMatchObject({ ok: true });
    }
    expect(waited).toBe(0);
    expect(fake.state.takes - takes).toBeGreaterThanOrEqual(20); // 2,000 credits in leases of at most 100
    expect(leases.held('acct_1')).toBeLessThanOrEqual(100);
    expect(leases.held('acct_1') + (await store.getCredits('acct_1'))!.balance!).toBe(100_000 - 2_300);
  });

  it('a take ahead that fails refuses nothing the lease covers and is not retried per request', async () => {
    const store = await metered(100_000);
    const fake = controlled(store);
    const time = clock();
    const leases = new CreditLeases({ store: fake.store, now: time.now, maxLease: 100 });
    await spendSteadily(leases, time, 300);
    fake.state.mode = 'fail';
    const takes = fake.state.takes;
    const held = leases.held('acct_1');
    const results = [];
    for (let i = 0; i < held; i++) {
      time.advance(1);
      results.push(await leases.spend('acct_1', 1));
    }
    expect(results.every((result) => result.ok)).toBe(true);
    expect(fake.state.takes - takes).toBeLessThanOrEqual(1);
    // The lease is spent and the store is still down: 503, not free.
    expect(await leases.spend('acct_1', 1)).toEqual({ ok: false, reason: 'unavailable' });
  });

  it('a release while a take ahead is in flight gives its grant back', async () => {
    const store = await metered(10_000);
    const fake = controlled(store);
    const time = clock();
    const leases = new CreditLeases({ store: fake.store, now: time.now, maxLease: 100 });
    await spendSteadily(leases, time, 300);
    fake.state.hold = true;
    while (fake.state.held.length === 0) {
      time.advance(1);
      expect(leases.spend('acct_1', 1)).toMatchObject({ ok: true }); // paid from the lease: the take ahead is held
    }
    const spent = 10_000 - leases.held('acct_1') - (await store.getCredits('acct_1'))!.balance!;
    const releasing = leases.release('acct_1');
    fake.state.hold = false;
    fake.release();
    await releasing;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(leases.held('acct_1')).toBe(0);
    expect((await store.getCredits('acct_1'))?.balance).toBe(10_000 - spent);
  });

  it('coalesces: many requests short of credits wait on one take', async () => {
    const store = await metered(50);
    const fake = controlled(store);
    fake.state.hold = true;
    const leases = new CreditLeases({ store: fake.store, now: clock().now });
    const waiting = Array.from({ length: 20 }, () => leases.spend('acct_1', 1));
    expect(fake.state.takes).toBe(1);
    fake.release();
    fake.state.hold = false;
    const results = await Promise.all(waiting);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(fake.state.takes).toBeLessThanOrEqual(20);
    expect(leases.held('acct_1') + (await store.getCredits('acct_1'))!.balance!).toBe(30);
  });

  it('refuses with exhausted when the store cannot pay the cost, and never goes below zero', async () => {
    const store = await metered(10);
    const leases = new CreditLeases({ store, now: clock().now });
    const results = [];
    for (let i = 0; i < 15; i++) results.push(await leases.spend('acct_1', 1));
    expect(results.filter((r) => r.ok).length).toBe(10);
    expect(results.at(-1)).toEqual({ ok: false, reason: 'exhausted' });
    expect(await leases.spend('acct_1', 3)).toEqual({ ok: false, reason: 'exhausted' });
    expect((await store.getCredits('acct_1'))?.balance).toBe(0);
  });

  it('takes a larger cost only when the balance covers it, keeping what it holds', async () => {
    const store = await metered(5);
    const leases = new CreditLeases({ store, now: clock().now });
    expect(await leases.spend('acct_1', 7)).toEqual({ ok: false, reason: 'exhausted' });
    expect(await leases.spend('acct_1', 5)).toEqual({ ok: true, remaining: 0 });
    expect((await store.getCredits('acct_1'))?.balance).toBe(0);
  });

  it('answers unavailable when the store fails or hangs and the lease cannot pay; the late grant is kept', async () => {
    const store = await metered(100);
    const fake = controlled(store);
    const leases = new CreditLeases({ store: fake.store, now: clock().now, timeoutMs: 20 });
    fake.state.mode = 'fail';
    expect(await leases.spend('acct_1', 1)).toEqual({ ok: false, reason: 'unavailable' });
    fake.state.mode = 'normal';
    fake.state.hold = true;
    expect(await leases.spend('acct_1', 1)).toEqual({ ok: false, reason: 'unavailable' }); // timed out
    fake.state.hold = false;
    fake.release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const held = leases.held('acct_1');
    expect(held).toBeGreaterThan(0);
    // The store goes down: the lease in hand still pays.
    fake.state.mode = 'fail';
    expect(leases.spend('acct_1', 1)).toEqual({ ok: true, remaining: 100 - held + held - 1 });
  });

  it('lets an account the store says is unmetered through, spending nothing', async () => {
    const store = await metered(1);
    await store.unmeter('acct_1');
    const leases = new CreditLeases({ store, now: clock().now });
    expect(await leases.spend('acct_1', 1)).toEqual({ ok: true });
  });

  it('gives unused credits back on release and on close, so none is lost', async () => {
    const store = await metered(10_000);
    const time = clock();
    const leases = new CreditLeases({ store, now: time.now });
    let spent = 0;
    for (let i = 0; i < 1_000; i++) {
      time.advance(1);
      const result = await leases.spend('acct_1', 1);
      if (result.ok) spent++;
    }
    expect(leases.held('acct_1')).toBeGreaterThan(0);
    await leases.release('acct_1');
    expect(leases.held('acct_1')).toBe(0);
    expect((await store.getCredits('acct_1'))?.balance).toBe(10_000 - spent);
    await leases.spend('acct_1', 1);
    await leases.close();
    expect((await store.getCredits('acct_1'))?.balance).toBe(10_000 - spent - 1);
    expect(leases.spend('acct_1', 1)).toEqual({ ok: false, reason: 'unavailable' });
  });
});
