// `finora-auth credits`, `usage` and `--rate-limit`: run as a user would, against the built binary on a SQLite store.

import { SqliteKeyStore } from '@finora-auth/sqlite';
import { describe, expect, it } from 'vitest';
import { cliJson, runCli } from './support';
import { cliSuite, expectOneLineError } from './support/cli-suite';

const { temp, store } = cliSuite(({ store }) => cliJson(['accounts', 'set', 'metered-co', '--tier', 'premium', ...store]));

describe('credits', () => {
  it('grants, adds up and shows credits, as text and JSON', async () => {
    expect(await cliJson(['credits', 'show', 'metered-co', ...store])).toEqual({ accountId: 'metered-co', metered: false, balance: null });
    const granted = await runCli(['credits', 'grant', 'metered-co', '1000', ...store]);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toMatch(/^Granted 1000 credits to account metered-co: balance 1000\./);
    expect(await cliJson(['credits', 'grant', 'metered-co', '500', ...store])).toEqual({ accountId: 'metered-co', granted: 500, balance: 1500 });
    const shown = await runCli(['credits', 'show', 'metered-co', ...store]);
    expect(shown.stdout).toMatch(/^Account metered-co: 1500 credits\./);
    const listed = await runCli(['accounts', 'list', ...store]);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ACCOUNT\s+TIER\s+ENTERPRISE\s+RATE LIMIT\s+CREDITS$/);
    expect(listed.stdout.split('\n').find((line) => line.startsWith('metered-co'))).toMatch(/\smetered$/);
  });

  it('refuses a grant that is not a whole number of 1 or more, and an unknown account, in one line', async () => {
    for (const amount of ['0', '1.5', 'lots', '1e3', '9007199254740992']) {
      expectOneLineError(await runCli(['credits', 'grant', 'metered-co', amount, ...store]), 2, /^finora-auth: AMOUNT must be/);
    }
    expectOneLineError(await runCli(['credits', 'grant', 'metered-co', '-5', ...store]), 2, /^finora-auth: unknown option -5/);
    expect(await cliJson(['credits', 'show', 'metered-co', ...store])).toMatchObject({ balance: 1500 });
    expectOneLineError(await runCli(['credits', 'grant', 'metered-co', ...store]), 2, /needs an AMOUNT/);
    expectOneLineError(await runCli(['credits', 'grant', 'nobody', '5', ...store]), 1, /no account "nobody" \(create it with/);
  });

  it('sets and stops a refill, and unmeters', async () => {
    await cliJson(['accounts', 'set', 'refill-co', '--tier', 'premium', ...store]);
    expectOneLineError(await runCli(['credits', 'refill', 'refill-co', '--amount', '10', '--every', 'day', ...store]), 1, /not metered.*credits grant refill-co/);
    await cliJson(['credits', 'grant', 'refill-co', '3', ...store]);
    expect(await cliJson(['credits', 'refill', 'refill-co', '--amount', '100', '--every', 'month', ...store])).toEqual({
      accountId: 'refill-co', metered: true, balance: 3, refill: { amount: 100, period: 'month' },
    });
    expectOneLineError(await runCli(['credits', 'refill', 'refill-co', '--amount', '10', '--every', 'week', ...store]), 2, /--every must be one of day, month/);
    expect(await cliJson(['credits', 'refill', 'refill-co', '--none', ...store])).toEqual({ accountId: 'refill-co', metered: true, balance: 3 });
    expect(await cliJson(['credits', 'unmeter', 'refill-co', ...store])).toEqual({ accountId: 'refill-co', metered: false });
    expect(await cliJson(['credits', 'show', 'refill-co', ...store])).toEqual({ accountId: 'refill-co', metered: false, balance: null });
  });
});

describe('--rate-limit', () => {
  it('sets, keeps and removes an account\'s limit, and gives a key its own', async () => {
    await cliJson(['accounts', 'set', 'limited-co', '--tier', 'premium', '--rate-limit', '100/60', ...store]);
    expect(await cliJson(['accounts', 'set', 'limited-co', '--tier', 'accountant_pro', ...store])).toMatchObject({
      rateLimit: { requests: 100, perSeconds: 60 },
    });
    const text = await runCli(['accounts', 'set', 'limited-co', '--tier', 'premium', '--rate-limit', '5/1', ...store]);
    expect(text.stdout).toMatch(/rate limit 5\/1s per credential/);
    const created = await cliJson(['keys', 'create', '--account', 'limited-co', '--env', 'live', '--rate-limit', '10/2', ...store]);
    expect(created.key.rateLimit).toEqual({ requests: 10, perSeconds: 2 });
    const rotated = await cliJson(['keys', 'rotate', created.key.id, ...store]);
    expect(rotated.key.rateLimit).toEqual({ requests: 10, perSeconds: 2 });
    const removed = await cliJson(['accounts', 'set', 'limited-co', '--tier', 'premium', '--rate-limit', 'none', ...store]);
    expect(removed).not.toHaveProperty('rateLimit');
  });

  it('refuses a malformed limit in one line, naming the option', async () => {
    for (const limit of ['100', '0/60', '10/0', '1.5/60', 'ten/60', '10/60/2']) {
      expectOneLineError(await runCli(['accounts', 'set', 'limited-co', '--tier', 'premium', '--rate-limit', limit, ...store]), 2, /--rate-limit/);
    }
    expectOneLineError(await runCli(['keys', 'create', '--account', 'limited-co', '--env', 'live', '--rate-limit', 'none', ...store]), 2, /--rate-limit must be N\/SECONDS/);
  });
});

describe('usage', () => {
  it('shows an account\'s usage rows as a table with a total, or JSON, within the range given', async () => {
    const direct = new SqliteKeyStore({ path: temp.storeUrl.replace(/^sqlite:/, '') });
    try {
      await direct.putAccount({ id: 'usage-co', tier: 'premium', enterprise: false });
      const row = { accountId: 'usage-co', keyId: 'key_aaaa', environment: 'live' as const };
      await direct.addUsage([
        { ...row, day: '2026-03-01', module: 'invoices', allowed: 5, creditsSpent: 5 },
        { ...row, day: '2026-03-02', allowed: 2, creditsSpent: 2 },
        { ...row, day: '2026-03-02', environment: 'test', module: 'reports', allowed: 7, creditsSpent: 0 },
        { ...row, day: '2026-04-01', allowed: 1, creditsSpent: 1 },
      ]);
    } finally {
      await direct.close();
    }
    const range = ['--since', '2026-03-01', '--until', '2026-03-31'];
    expect(await cliJson(['usage', 'usage-co', ...range, ...store])).toEqual([
      { day: '2026-03-01', keyId: 'key_aaaa', environment: 'live', module: 'invoices', allowed: 5, creditsSpent: 5 },
      { day: '2026-03-02', keyId: 'key_aaaa', environment: 'live', allowed: 2, creditsSpent: 2 },
      { day: '2026-03-02', keyId: 'key_aaaa', environment: 'test', module: 'reports', allowed: 7, creditsSpent: 0 },
    ]);
    const table = await runCli(['usage', 'usage-co', ...range, ...store]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^DAY\s+CREDENTIAL\s+ENV\s+MODULE\s+ALLOWED\s+CREDITS$/);
    expect(lines[1]).toMatch(/^2026-03-01\s+key_aaaa\s+live\s+invoices\s+5\s+5$/);
    expect(lines.at(-1)).toMatch(/^total\s+14\s+7$/);
    const none = await runCli(['usage', 'usage-co', ...store]);
    expect(none.stdout).toMatch(/^No usage for account usage-co/);
  });

  it('refuses a date that is not YYYY-MM-DD, and an unknown account', async () => {
    expectOneLineError(await runCli(['usage', 'usage-co', '--since', '2026-02-30', ...store]), 2, /--since must be a date/);
    expectOneLineError(await runCli(['usage', 'usage-co', '--until', 'yesterday', ...store]), 2, /--until must be a date/);
    expectOneLineError(await runCli(['usage', ...store]), 2, /needs an ACCOUNT_ID/);
    expectOneLineError(await runCli(['usage', 'nobody', ...store]), 1, /no account "nobody"/);
  });
});
