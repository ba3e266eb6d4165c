// `finora-auth credits …` and `finora-auth usage …`: credits, refills and usage through the key manager.

import type { UsageRow } from '@finora-auth/core';
import { administer, help, JSON_OPTION, printJson, STORE_OPTION, type Io } from './cli-admin';
import { oneOf, parse, requirePositional, requireValue, UsageError, wholeNumber } from './cli-args';
import { storeSpec } from './cli-store';
import { table } from './format';
import { HELP } from './help';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** `YYYY-MM-DD` as the start of that UTC day. */
function parseDay(value: string, option: string): Date {
  const date = new Date(`${value}T00:00:00Z`);
  if (!DATE.test(value) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    throw new UsageError(`${option} must be a date, YYYY-MM-DD (UTC); got ${JSON.stringify(value)}`);
  }
  return date;
}

export async function creditsCommand(sub: string | undefined, args: string[], io: Io): Promise<number> {
  if (sub === '--help' || sub === '-h') {
    io.out(HELP.credits ?? '');
    return 0;
  }
  if (sub === undefined) throw new UsageError('"credits" needs a command: grant, show, refill or unmeter (see: finora-auth credits --help)');
  const name = `credits ${sub}`;
  switch (sub) {
    case 'grant': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION }, 2);
      if (help(io, name, parsed)) return 0;
      const accountId = requirePositional(parsed, 0, 'an ACCOUNT_ID', name);
      const amount = wholeNumber(requirePositional(parsed, 1, 'an AMOUNT of credits', name), 'AMOUNT', 1);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const { balance } = await administer(spec, (manager) => manager.grantCredits(accountId, amount), accountId);
      if (parsed.values.json) printJson(io, { accountId, granted: amount, balance });
      else io.out(`Granted ${amount} credits to account ${accountId}: balance ${balance}. Its live requests now spend credits.\n`);
      return 0;
    }
    case 'show': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION }, 1);
      if (help(io, name, parsed)) return 0;
      const accountId = requirePositional(parsed, 0, 'an ACCOUNT_ID', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const credits = await administer(spec, (manager) => manager.credits(accountId), accountId);
      if (parsed.values.json) printJson(io, { accountId, ...credits });
      else if (!credits.metered) io.out(`Account ${accountId} is not metered: its requests cost no credits.\n`);
      else {
        const refill = credits.refill ? `, refilled to ${credits.refill.amount} every UTC ${credits.refill.period}` : '';
        io.out(`Account ${accountId}: ${credits.balance} credits${refill}. Gateways may hold a few hundred of them in leases.\n`);
      }
      return 0;
    }
    case 'refill': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION, amount: { type: 'string' }, every: { type: 'string' }, none: { type: 'boolean' } }, 1);
      if (help(io, name, parsed)) return 0;
      const accountId = requirePositional(parsed, 0, 'an ACCOUNT_ID', name);
      const stop = parsed.values.none === true;
      if (stop && (parsed.values.amount !== undefined || parsed.values.every !== undefined)) {
        throw new UsageError(`"${name}" takes --none or --amount with --every, not both`);
      }
      const refill = stop
        ? null
        : {
            amount: wholeNumber(requireValue(parsed, 'amount', name), '--amount', 1),
            period: oneOf(requireValue(parsed, 'every', name), ['day', 'month'] as const, '--every'),
          };
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const credits = await administer(spec, (manager) => manager.setCreditRefill(accountId, refill), accountId);
      if (parsed.values.json) printJson(io, { accountId, ...credits });
      else if (refill) io.out(`Account ${accountId} is refilled to ${refill.amount} credits every UTC ${refill.period}, first at its next request.\n`);
      else io.out(`Account ${accountId} is no longer refilled: balance ${credits.balance}.\n`);
      return 0;
    }
    case 'unmeter': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION }, 1);
      if (help(io, name, parsed)) return 0;
      const accountId = requirePositional(parsed, 0, 'an ACCOUNT_ID', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      await administer(spec, (manager) => manager.unmeter(accountId), accountId);
      if (parsed.values.json) printJson(io, { accountId, metered: false });
      else io.out(`Account ${accountId} is no longer metered: its requests cost no credits (usage is still counted).\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "credits ${sub}" (see: finora-auth credits --help)`);
  }
}

export function usageTable(rows: UsageRow[]): string {
  const body = rows.map((row) => [row.day, row.keyId, row.environment, row.module ?? '-', String(row.allowed), String(row.creditsSpent)]);
  const allowed = rows.reduce((sum, row) => sum + row.allowed, 0);
  const spent = rows.reduce((sum, row) => sum + row.creditsSpent, 0);
  return `${table(['DAY', 'CREDENTIAL', 'ENV', 'MODULE', 'ALLOWED', 'CREDITS'], [...body, ['total', '', '', '', String(allowed), String(spent)]])}`;
}

export async function usageCommand(first: string | undefined, args: string[], io: Io): Promise<number> {
  const name = 'usage';
  const parsed = parse(name, first === undefined ? args : [first, ...args], { ...STORE_OPTION, ...JSON_OPTION, since: { type: 'string' }, until: { type: 'string' } }, 1);
  if (help(io, name, parsed)) return 0;
  const accountId = requirePositional(parsed, 0, 'an ACCOUNT_ID', name);
  const since = parsed.values.since === undefined ? undefined : parseDay(String(parsed.values.since), '--since');
  const until = parsed.values.until === undefined ? undefined : parseDay(String(parsed.values.until), '--until');
  const spec = storeSpec(parsed.values.store, io.env, io.cwd);
  const range = { ...(since ? { since } : {}), ...(until ? { until } : {}) };
  const rows = await administer(spec, (manager) => manager.usage(accountId, range), accountId);
  if (parsed.values.json) printJson(io, rows);
  else io.out(rows.length === 0 ? `No usage for account ${accountId} in that range (default: the last 30 days).\n` : `${usageTable(rows)}\n`);
  return 0;
}
