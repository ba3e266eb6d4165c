// Turns usage increments and credit fields into Redis hash fields and back (v2).

import type { CreditState, UsageIncrement, UsageRow } from '@finora-auth/core';

/** The field suffix of one usage row in its account-day hash: the JSON of [keyId, environment, module or null]. */
export function encodeUsage(row: UsageIncrement): string {
  return JSON.stringify([row.keyId, row.environment, row.module ?? null]);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The rows of `{day, hash fields}` pairs, sorted by day, key, environment and module (none first). A field that
 * does not parse is a store fault, never a guess.
 */
export function decodeUsage(days: [string, string[]][]): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const [day, fields] of days) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const field = fields[i]!;
      const kind = field[0];
      const parsed: unknown = JSON.parse(field.slice(1));
      if ((kind !== 'a' && kind !== 'c') || !Array.isArray(parsed)) throw new Error('finora-auth: RedisKeyStore read a garbled usage record');
      const [keyId, environment, module] = parsed as [string, UsageRow['environment'], string | null];
      const id = `${day}\n${field.slice(1)}`;
      let row = rows.get(id);
      if (!row) {
        row = { day, keyId, environment, allowed: 0, creditsSpent: 0 };
        if (module !== null) row.module = module;
        rows.set(id, row);
      }
      if (kind === 'a') row.allowed = Number(fields[i + 1]);
      else row.creditsSpent = Number(fields[i + 1]);
    }
  }
  return [...rows.values()].sort(
    (a, b) =>
      compare(a.day, b.day) ||
      compare(a.keyId, b.keyId) ||
      compare(a.environment, b.environment) ||
      (a.module === undefined ? (b.module === undefined ? 0 : -1) : b.module === undefined ? 1 : compare(a.module, b.module)),
  );
}

/** HMGET of id, balance, refillAmount, refillPeriod, refilledPeriod as the account's credits. */
export function decodeCredits([, balance, refillAmount, refillPeriod, refilledPeriod]: (string | null)[]): CreditState {
  if (balance === null || balance === undefined) return { metered: false, balance: null };
  const state: CreditState = { metered: true, balance: Number(balance) };
  if (refillAmount && (refillPeriod === 'day' || refillPeriod === 'month')) state.refill = { amount: Number(refillAmount), period: refillPeriod };
  if (refilledPeriod) state.refilledPeriod = refilledPeriod;
  return state;
}
