// The usage batcher: counts add up per UTC day, credential, environment and module, flushed by size, time and close.

import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../src/index';
import { UsageBatcher } from '../src/usage-batcher';
import { clock, DAY } from './fixtures';

function manualTimer() {
  const timers: Array<{ run: () => void; cancelled: boolean }> = [];
  return {
    timers,
    schedule: (run: () => void) => {
      const timer = { run, cancelled: false };
      timers.push(timer);
      return () => (timer.cancelled = true);
    },
    fire: () => timers.splice(0).filter((t) => !t.cancelled).forEach((t) => t.run()),
  };
}

const live = (keyId: string, module?: string, creditsSpent = 1) => ({ accountId: 'acct_1', keyId, environment: 'live' as const, creditsSpent, module });

describe('UsageBatcher', () => {
  it('adds up counts per day, credential, environment and module, and flushes on the timer', async () => {
    const store = new MemoryKeyStore();
    const time = clock(Date.parse('2026-06-15T23:59:59Z'));
    const timer = manualTimer();
    const usage = new UsageBatcher({ store, now: time.now, schedule: timer.schedule });
    usage.count(live('key_a', 'invoices'));
    usage.count(live('key_a', 'invoices', 2));
    usage.count(live('key_a'));
    usage.count({ accountId: 'acct_1', keyId: 'key_a', environment: 'test', module: 'invoices', creditsSpent: 0 });
    time.advance(1_000); // the next UTC day
    usage.count(live('key_a', 'invoices'));
    expect(timer.timers.length).toBe(1);
    expect(await store.listUsage('acct_1', '2026-06-01', '2026-06-30')).toEqual([]);
    timer.fire();
    await usage.flush();
    expect(await store.listUsage('acct_1', '2026-06-01', '2026-06-30')).toEqual([
      { day: '2026-06-15', keyId: 'key_a', environment: 'live', allowed: 1, creditsSpent: 1 },
      { day: '2026-06-15', keyId: 'key_a', environment: 'live', module: 'invoices', allowed: 2, creditsSpent: 3 },
      { day: '2026-06-15', keyId: 'key_a', environment: 'test', module: 'invoices', allowed: 1, creditsSpent: 0 },
      { day: '2026-06-16', keyId: 'key_a', environment: 'live', module: 'invoices', allowed: 1, creditsSpent: 1 },
    ]);
  });

  it('flushes when a batch reaches maxRows, without waiting for the timer, and never sends more than maxRows at once', async () => {
    const store = new MemoryKeyStore();
    const calls: number[] = [];
    const counting = { addUsage: (rows: Parameters<MemoryKeyStore['addUsage']>[0]) => (calls.push(rows.length), store.addUsage(rows)) };
    const usage = new UsageBatcher({ store: counting, now: clock().now, maxRows: 10, schedule: manualTimer().schedule });
    for (let i = 0; i < 9; i++) usage.count(live(`key_${i}`));
    expect(calls).toEqual([]);
    usage.count(live('key_9'));
    expect(calls).toEqual([10]); // sent at once, on the count that filled the batch
    for (let i = 10; i < 35; i++) usage.count(live(`key_${i}`));
    await usage.flush();
    // Counts made while a batch is in flight go out after it, in calls of at most maxRows.
    expect(calls).toEqual([10, 10, 10, 5]);
    const rows = await store.listUsage('acct_1', '2000-01-01', '2100-01-01');
    expect(rows.length).toBe(35);
  });

  it('sends a backlog in chunks of maxRows: when the 2nd chunk fails, the 1st is not sent again', async () => {
    const store = new MemoryKeyStore();
    const sent: string[][] = [];
    let down = true;
    let refused = 0;
    const flaky = {
      addUsage: (rows: Parameters<MemoryKeyStore['addUsage']>[0]) => {
        if (down) return (refused++, Promise.reject(new Error('down')));
        sent.push(rows.map((row) => row.keyId));
        return sent.length === 2 ? Promise.reject(new Error('lost')) : store.addUsage(rows);
      },
    };
    const time = clock();
    const timer = manualTimer();
    const usage = new UsageBatcher({ store: flaky, now: time.now, maxRows: 4, schedule: timer.schedule });
    for (let i = 0; i < 8; i++) usage.count(live(`key_${i}`)); // the 4th count sends a full batch: it fails
    await usage.flush(); // an explicit flush tries again: still down
    expect(refused).toBe(2);
    for (let i = 8; i < 10; i++) usage.count(live(`key_${i}`));
    expect(refused).toBe(2); // after a failure, full batches wait for the retry timer instead of calling the store at once
    down = false;
    await usage.flush(); // a backlog of 10 rows, 3 chunks: the 1st lands, the 2nd fails, the 3rd waits
    expect(sent.map((chunk) => chunk.length)).toEqual([4, 4]);
    timer.fire(); // the retry: what failed and what was not tried, once each
    await usage.flush();
    expect(sent.map((chunk) => chunk.length)).toEqual([4, 4, 4, 2]);
    const all = Array.from({ length: 10 }, (_, i) => `key_${i}`).sort();
    expect(sent.slice(2).flat().sort()).toEqual(all.filter((keyId) => !sent[0]!.includes(keyId)));
    const day = new Date(time.now()).toISOString().slice(0, 10);
    const rows = await store.listUsage('acct_1', day, day);
    expect(rows.map((row) => row.keyId).sort()).toEqual(all);
    expect(rows.every((row) => row.allowed === 1 && row.creditsSpent === 1)).toBe(true); // nothing counted twice, nothing lost
  });

  it('keeps a failed batch and sends it with the next, losing no count', async () => {
    const store = new MemoryKeyStore();
    let down = true;
    const flaky = { addUsage: (rows: Parameters<MemoryKeyStore['addUsage']>[0]) => (down ? Promise.reject(new Error('down')) : store.addUsage(rows)) };
    const timer = manualTimer();
    const time = clock();
    const usage = new UsageBatcher({ store: flaky, now: time.now, schedule: timer.schedule });
    for (let i = 0; i < 5; i++) usage.count(live('key_a'));
    await usage.flush();
    expect(timer.timers.filter((t) => !t.cancelled).length).toBe(1); // a retry is scheduled
    for (let i = 0; i < 3; i++) usage.count(live('key_a'));
    down = false;
    await usage.close();
    const day = new Date(time.now()).toISOString().slice(0, 10);
    expect(await store.listUsage('acct_1', day, day)).toEqual([
      { day, keyId: 'key_a', environment: 'live', allowed: 8, creditsSpent: 8 },
    ]);
  });

  it('bounds what it keeps while the store is down, and says how much it dropped', async () => {
    const failing = { addUsage: () => Promise.reject(new Error('down')) };
    const usage = new UsageBatcher({ store: failing, now: clock().now, maxPendingRows: 3, maxRows: 1_000, schedule: manualTimer().schedule });
    for (let i = 0; i < 5; i++) usage.count(live(`key_${i}`));
    usage.count(live('key_0'));
    expect(usage.dropped).toBe(2);
  });

  it('flushes on close', async () => {
    const store = new MemoryKeyStore();
    const time = clock();
    const usage = new UsageBatcher({ store, now: time.now, schedule: manualTimer().schedule });
    usage.count(live('key_a', 'reports', 0));
    await usage.close();
    const day = new Date(time.now()).toISOString().slice(0, 10);
    expect(await store.listUsage('acct_1', day, new Date(time.now() + DAY).toISOString().slice(0, 10))).toEqual([
      { day, keyId: 'key_a', environment: 'live', module: 'reports', allowed: 1, creditsSpent: 0 },
    ]);
  });
});
