// The SQL behind credits, usage and rate windows (v2): each operation one statement, its rows as records.

import type { QueryConfig, QueryResultRow } from 'pg';
import type { CreditRefill, CreditState, UsageIncrement, UsageRow } from '@finora-auth/core';
import { ident, statementName } from './migrations';

export interface CreditsRow extends QueryResultRow {
  /** NULL: not metered. */
  balance: number | null;
  refill_amount: number | null;
  refill_period: CreditRefill['period'] | null;
  refilled_period: string | null;
}

export interface UsageDbRow extends QueryResultRow {
  day: string;
  key_id: string;
  environment: UsageRow['environment'];
  /** '' for none. */
  module: string;
  allowed: number;
  credits_spent: number;
}

// bigint columns come back as text from pg; float8 is exact up to Number.MAX_SAFE_INTEGER, which grants never pass.
const CREDIT_COLUMNS = 'credit_balance::float8 AS balance, refill_amount::float8 AS refill_amount, refill_period, refilled_period';

export function meteringStatements(schema: string) {
  const s = ident(schema);
  const accounts = `${s}.accounts`;
  const named = (name: string, text: string) => ({ name: statementName(schema, name), text });
  const notifyAccount = (row: string, channel: string, origin: string) =>
    `pg_notify(${channel}, json_build_object('o', ${origin}::text, 't', 'a', 'a', ${row}.id)::text)::text`;
  // A refill is due when the period of `now` ($4 as a day, $5 as a month) is later than the one last applied:
  // periods only move forward, so a process whose clock is behind never refills twice. "C": compare as bytes.
  const due = `(c.refill_amount IS NOT NULL AND c.period IS NOT NULL AND (c.refilled_period IS NULL OR c.period > c.refilled_period COLLATE "C"))`;
  return {
    // The row is locked first (FOR UPDATE), so whether it was metered and the new balance come from the same version.
    grantCredits: named(
      'grant-credits',
      `WITH before AS (SELECT id, credit_balance IS NULL AS was_unmetered FROM ${accounts} WHERE id = $1 FOR UPDATE), ` +
        `granted AS (UPDATE ${accounts} a SET credit_balance = coalesce(a.credit_balance, 0) + $2::bigint FROM before ` +
        `WHERE a.id = before.id RETURNING a.id, a.credit_balance, before.was_unmetered) ` +
        `SELECT credit_balance::float8 AS balance, CASE WHEN was_unmetered THEN ${notifyAccount('granted', '$3', '$4')} END AS notified FROM granted`,
    ),
    getCredits: named('get-credits', `SELECT ${CREDIT_COLUMNS} FROM ${accounts} WHERE id = $1`),
    // A new or changed refill applies at the next take, then once per period: the period applied is forgotten.
    setCreditRefill: named(
      'set-credit-refill',
      `UPDATE ${accounts} SET refill_amount = $2::bigint, refill_period = $3::text, refilled_period = NULL ` +
        `WHERE id = $1 AND credit_balance IS NOT NULL RETURNING ${CREDIT_COLUMNS}`,
    ),
    unmeter: named(
      'unmeter',
      `WITH changed AS (UPDATE ${accounts} SET credit_balance = NULL, refill_amount = NULL, refill_period = NULL, refilled_period = NULL ` +
        `WHERE id = $1 RETURNING id) SELECT ${notifyAccount('changed', '$2', '$3')} AS notified FROM changed`,
    ),
    // One statement: lock the row, apply a due refill, take min(want, balance) if balance >= min, write it back.
    takeCredits: named(
      'take-credits',
      `WITH c AS (SELECT id, credit_balance, refill_amount, refilled_period, ` +
        `CASE refill_period WHEN 'day' THEN $4::text WHEN 'month' THEN $5::text END AS period ` +
        `FROM ${accounts} WHERE id = $1 AND credit_balance IS NOT NULL FOR UPDATE), ` +
        `r AS (SELECT id, CASE WHEN ${due} THEN c.refill_amount ELSE c.credit_balance END AS balance, ` +
        `CASE WHEN ${due} THEN c.period ELSE c.refilled_period END AS refilled FROM c), ` +
        `t AS (SELECT id, balance, refilled, CASE WHEN balance >= $3::bigint THEN least($2::bigint, balance) ELSE 0 END AS granted FROM r) ` +
        `UPDATE ${accounts} a SET credit_balance = t.balance - t.granted, refilled_period = t.refilled FROM t WHERE a.id = t.id ` +
        `RETURNING t.granted::float8 AS granted, a.credit_balance::float8 AS balance`,
    ),
    returnCredits: named(
      'return-credits',
      `UPDATE ${accounts} SET credit_balance = credit_balance + $2::bigint WHERE id = $1 AND credit_balance IS NOT NULL`,
    ),
    // The whole batch in one statement (rows merged first: ON CONFLICT cannot touch one row twice).
    addUsage: named(
      'add-usage',
      `INSERT INTO ${s}.usage AS u (account_id, day, key_id, environment, module, allowed, credits_spent) ` +
        `SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[]) ` +
        `ON CONFLICT (account_id, day, key_id, environment, module) DO UPDATE ` +
        `SET allowed = u.allowed + EXCLUDED.allowed, credits_spent = u.credits_spent + EXCLUDED.credits_spent`,
    ),
    listUsage: named(
      'list-usage',
      `SELECT day, key_id, environment, module, allowed::float8 AS allowed, credits_spent::float8 AS credits_spent FROM ${s}.usage ` +
        `WHERE account_id = $1 AND day >= $2 AND day <= $3 ` +
        `ORDER BY day COLLATE "C", key_id COLLATE "C", environment, module COLLATE "C"`,
    ),
    incrementRateWindow: named(
      'increment-rate-window',
      `INSERT INTO ${s}.rate_windows AS w (bucket, window_start, count, expires_at) ` +
        `VALUES ($1, $2::bigint, $3::bigint, now() + $4::float8 * interval '1 millisecond') ` +
        `ON CONFLICT (bucket, window_start) DO UPDATE SET count = w.count + EXCLUDED.count, expires_at = EXCLUDED.expires_at ` +
        `RETURNING count::float8 AS count`,
    ),
    pruneRateWindows: named('prune-rate-windows', `DELETE FROM ${s}.rate_windows WHERE expires_at < now()`),
  } satisfies Record<string, QueryConfig>;
}

/** The period a refill at `now` belongs to, as a day and as a month (UTC): the statement picks the one it needs. */
export function refillPeriods(now: number): [day: string, month: string] {
  const day = new Date(now).toISOString().slice(0, 10);
  return [day, day.slice(0, 7)];
}

export function toCreditState(row: CreditsRow): CreditState {
  if (row.balance === null) return { metered: false, balance: null };
  const state: CreditState = { metered: true, balance: row.balance };
  if (row.refill_amount !== null && row.refill_period !== null) state.refill = { amount: row.refill_amount, period: row.refill_period };
  if (row.refilled_period !== null) state.refilledPeriod = row.refilled_period;
  return state;
}

/** A batch as the statement's column arrays, one entry per row (repeats merged), module '' for none. */
export function toUsageColumns(increments: readonly UsageIncrement[]): unknown[][] {
  const rows = new Map<string, [string, string, string, string, string, number, number]>();
  for (const inc of increments) {
    const module = inc.module ?? '';
    const id = JSON.stringify([inc.accountId, inc.day, inc.keyId, inc.environment, module]);
    const row = rows.get(id);
    if (row) {
      row[5] += inc.allowed;
      row[6] += inc.creditsSpent;
    } else {
      rows.set(id, [inc.accountId, inc.day, inc.keyId, inc.environment, module, inc.allowed, inc.creditsSpent]);
    }
  }
  const columns: unknown[][] = [[], [], [], [], [], [], []];
  for (const row of rows.values()) row.forEach((value, i) => columns[i]!.push(value));
  return columns;
}

export function toUsageRow(row: UsageDbRow): UsageRow {
  const usage: UsageRow = { day: row.day, keyId: row.key_id, environment: row.environment, allowed: row.allowed, creditsSpent: row.credits_spent };
  if (row.module !== '') usage.module = row.module;
  return usage;
}
