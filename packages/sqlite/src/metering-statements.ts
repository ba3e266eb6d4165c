// The SQL behind credits, usage and rate windows (v2), prepared once per connection, and their rows as records.

import type Database from 'better-sqlite3';
import type { CreditRefill, CreditState, UsageIncrement, UsageRow } from '@finora-auth/core';

type Statement<Params extends unknown[], Row = unknown> = Database.Statement<Params, Row>;

export interface CreditsRow {
  /** NULL: the account is not metered. */
  credit_balance: number | null;
  refill_amount: number | null;
  refill_period: CreditRefill['period'] | null;
  refilled_period: string | null;
}

export interface UsageDbRow {
  account_id: string;
  day: string;
  key_id: string;
  environment: UsageRow['environment'];
  /** '' for no module: a primary-key column cannot usefully hold NULL. */
  module: string;
  allowed: number;
  credits_spent: number;
}

export interface MeteringStatements {
  getCredits: Statement<[string], CreditsRow>;
  setBalance: Statement<[number, string | null, string]>;
  grantCredits: Statement<[number, string], { credit_balance: number }>;
  setCreditRefill: Statement<[number | null, string | null, string], CreditsRow>;
  unmeter: Statement<[string]>;
  returnCredits: Statement<[number, string]>;
  addUsage: Statement<[UsageDbRow]>;
  listUsage: Statement<[string, string, string], UsageDbRow>;
  incrementRateWindow: Statement<[string, number, number, number], number>;
  pruneRateWindows: Statement<[number]>;
}

const CREDIT_COLUMNS = 'credit_balance, refill_amount, refill_period, refilled_period';

export function prepareMeteringStatements(db: Database.Database): MeteringStatements {
  return {
    getCredits: db.prepare<[string], CreditsRow>(`SELECT ${CREDIT_COLUMNS} FROM finora_accounts WHERE id = ?`),
    // takeCredits' write, inside the transaction that read the row: the IMMEDIATE lock keeps both in one step.
    setBalance: db.prepare<[number, string | null, string]>(
      'UPDATE finora_accounts SET credit_balance = ?, refilled_period = ? WHERE id = ?',
    ),
    // From NULL (unmetered) the balance starts at 0, so the first grant both meters the account and funds it.
    grantCredits: db.prepare<[number, string], { credit_balance: number }>(
      'UPDATE finora_accounts SET credit_balance = coalesce(credit_balance, 0) + ? WHERE id = ? RETURNING credit_balance',
    ),
    // A new or changed refill applies at the next take, then once per period: the period applied is forgotten.
    setCreditRefill: db.prepare<[number | null, string | null, string], CreditsRow>(
      `UPDATE finora_accounts SET refill_amount = ?, refill_period = ?, refilled_period = NULL
        WHERE id = ? AND credit_balance IS NOT NULL RETURNING ${CREDIT_COLUMNS}`,
    ),
    unmeter: db.prepare<[string]>(
      `UPDATE finora_accounts SET credit_balance = NULL, refill_amount = NULL, refill_period = NULL, refilled_period = NULL
        WHERE id = ?`,
    ),
    returnCredits: db.prepare<[number, string]>(
      'UPDATE finora_accounts SET credit_balance = credit_balance + ? WHERE id = ? AND credit_balance IS NOT NULL',
    ),
    addUsage: db.prepare<[UsageDbRow]>(
      `INSERT INTO finora_usage (account_id, day, key_id, environment, module, allowed, credits_spent)
       VALUES (@account_id, @day, @key_id, @environment, @module, @allowed, @credits_spent)
       ON CONFLICT (account_id, day, key_id, environment, module) DO UPDATE
         SET allowed = allowed + excluded.allowed, credits_spent = credits_spent + excluded.credits_spent`,
    ),
    // The primary key's order after the account: day, key, environment, module ('' = none, first).
    listUsage: db.prepare<[string, string, string], UsageDbRow>(
      `SELECT account_id, day, key_id, environment, module, allowed, credits_spent FROM finora_usage
        WHERE account_id = ? AND day >= ? AND day <= ? ORDER BY day, key_id, environment, module`,
    ),
    incrementRateWindow: db
      .prepare<[string, number, number, number], number>(
        `INSERT INTO finora_rate_windows (bucket, window_start, count, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + excluded.count, expires_at = excluded.expires_at
         RETURNING count`,
      )
      .pluck(),
    pruneRateWindows: db.prepare<[number]>('DELETE FROM finora_rate_windows WHERE expires_at < ?'),
  };
}

/** The period a refill at `now` belongs to: `YYYY-MM-DD` or `YYYY-MM`, UTC; later periods compare greater. */
export function refillPeriod(period: CreditRefill['period'], now: number): string {
  const day = new Date(now).toISOString().slice(0, 10);
  return period === 'day' ? day : day.slice(0, 7);
}

export function toCreditState(row: CreditsRow): CreditState {
  if (row.credit_balance === null) return { metered: false, balance: null };
  const state: CreditState = { metered: true, balance: row.credit_balance };
  if (row.refill_amount !== null && row.refill_period !== null) state.refill = { amount: row.refill_amount, period: row.refill_period };
  if (row.refilled_period !== null) state.refilledPeriod = row.refilled_period;
  return state;
}

/**
 * One increment per row: a batch may name a row more than once, and the counts must add up whatever the order.
 * Module '' stands for none.
 */
export function toUsageRows(increments: readonly UsageIncrement[]): UsageDbRow[] {
  const rows = new Map<string, UsageDbRow>();
  for (const inc of increments) {
    const module = inc.module ?? '';
    const id = JSON.stringify([inc.accountId, inc.day, inc.keyId, inc.environment, module]);
    const row = rows.get(id);
    if (row) {
      row.allowed += inc.allowed;
      row.credits_spent += inc.creditsSpent;
    } else {
      rows.set(id, {
        account_id: inc.accountId,
        day: inc.day,
        key_id: inc.keyId,
        environment: inc.environment,
        module,
        allowed: inc.allowed,
        credits_spent: inc.creditsSpent,
      });
    }
  }
  return [...rows.values()];
}

export function toUsageRow(row: UsageDbRow): UsageRow {
  const usage: UsageRow = {
    day: row.day,
    keyId: row.key_id,
    environment: row.environment,
    allowed: row.allowed,
    creditsSpent: row.credits_spent,
  };
  if (row.module !== '') usage.module = row.module;
  return usage;
}
