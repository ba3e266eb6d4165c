// `finora-auth store copy --from URL --to URL`: every account, key digest, service account, signing key, credit and count, rerunnable.

import type {
  Account,
  CreditState,
  KeyStore,
  StoredKey,
  StoredServiceAccount,
  StoredSigningKey,
  UsageRow,
} from '@finora-auth/core';
import { help, JSON_OPTION, printJson, type Io } from './cli-admin';
import { CommandError, parse, requireValue, UsageError } from './cli-args';
import { closeQuietly, openReachableStore, storeSpec } from './cli-store';
import { table } from './format';
import { HELP } from './help';
import { redactStoreUrl, type StoreSpec } from './store-url';

const KINDS = ['accounts', 'credits', 'keys', 'service accounts', 'signing keys', 'usage rows'] as const;
type Kind = (typeof KINDS)[number];

interface Tally {
  /** Written to the target: it had none. */
  copied: number;
  /** The target already held the same. */
  unchanged: number;
  /** The target held an older state the source moved on from: a revocation, a retirement, more usage. */
  updated: number;
  /** The target holds something else: left as it is, and named here. */
  conflicts: string[];
}

export interface CopyReport {
  tallies: Record<Kind, Tally>;
  /** Per kind, how many the source holds and how many of them the target now holds alike. */
  verified: Record<Kind, { source: number; target: number }>;
}

/**
 * Accounts, and each account's keys, are copied this many at a time: a network store's round trip and commit (about
 * 2 ms on PostgreSQL) one after another would make a million keys an hour. Each row's own steps stay in order.
 */
const IN_FLIGHT = 16;

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/** Every usage day a store can hold. */
const ALL_DAYS = ['0000-01-01', '9999-12-31'] as const;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** Key order and absent-versus-undefined do not make two records differ. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, item]) => [name, canonical(item)]),
    );
  }
  return value;
}

/** What `putAccount` writes: the metered flag travels with the credits, not the account. */
const accountFields = ({ id, tier, enterprise, rateLimit }: Account): Account => ({ id, tier, enterprise, ...(rateLimit ? { rateLimit } : {}) });
const withoutRevocation = <T extends { revokedAt?: number }>({ revokedAt: _revokedAt, ...rest }: T) => rest;
const usageId = (row: UsageRow) => JSON.stringify([row.day, row.keyId, row.environment, row.module ?? null]);

/** A store that lacks a v2 method cannot take part in a whole copy: said up front, before anything is written. */
function requireMethods(store: KeyStore, role: string): Required<KeyStore> {
  const needed = ['listAccounts', 'getCredits', 'grantCredits', 'setCreditRefill', 'takeCredits', 'listServiceAccounts',
    'findServiceAccount', 'insertServiceAccount', 'revokeServiceAccount', 'listSigningKeys', 'insertSigningKey',
    'retireSigningKey', 'listUsage', 'addUsage'] as const;
  const missing = needed.filter((name) => typeof store[name] !== 'function');
  if (missing.length > 0) throw new CommandError(`the ${role} store cannot be copied whole: it lacks ${missing.join(', ')}`);
  return store as Required<KeyStore>;
}

/** The start of the UTC period a refill mark names (`YYYY-MM-DD` or `YYYY-MM`), for `takeCredits`' clock. */
const periodStart = (period: string): number => Date.parse(period.length === 7 ? `${period}-01T00:00:00Z` : `${period}T00:00:00Z`);

/**
 * Makes an unmetered target account hold the source's credits exactly: balance, refill and the last refilled period
 * (without which the target would refill once more than the source did). Only grants, refills and takes exist,
 * so the balance is reached through them, in an order in which no refill fires by surprise.
 */
async function copyCredits(to: Required<KeyStore>, accountId: string, source: CreditState, now: number): Promise<void> {
  const target = source.balance ?? 0;
  let balance = (await to.grantCredits(accountId, 1))?.balance ?? 1;
  let clock = now;
  if (source.refill && source.refilledPeriod) {
    await to.setCreditRefill(accountId, source.refill);
    clock = periodStart(source.refilledPeriod);
    balance = (await to.takeCredits(accountId, 0, 0, clock)).balance;
  }
  if (target > balance) balance = (await to.grantCredits(accountId, target - balance))?.balance ?? balance;
  else if (target < balance) balance = (await to.takeCredits(accountId, balance - target, balance - target, clock)).balance;
  if (source.refill && !source.refilledPeriod) await to.setCreditRefill(accountId, source.refill);
}

/**
 * Copies `fromStore` into `toStore`. Only rows the target lacks are written (each with the one event its store
 * always sends for a new row, so a cached "no such key" goes); a row the target holds alike is not touched and
 * tells no one, so a second run sends running gateways nothing. Nothing is unsealed and no plaintext exists here:
 * keys and secrets travel as the digests the stores hold, signing keys as the sealed text.
 */
export async function copyStore(fromStore: KeyStore, toStore: KeyStore, now: number): Promise<CopyReport> {
  const from = requireMethods(fromStore, 'source');
  const to = requireMethods(toStore, 'target');
  const tallies = Object.fromEntries(KINDS.map((kind) => [kind, { copied: 0, unchanged: 0, updated: 0, conflicts: [] }])) as unknown as Record<Kind, Tally>;

  const accounts = await from.listAccounts();
  await inBatches(accounts, IN_FLIGHT, async (account) => {
    const existing = await to.getAccount(account.id);
    if (!existing) {
      await to.putAccount(accountFields(account));
      tallies.accounts.copied += 1;
    } else if (same(accountFields(existing), accountFields(account))) tallies.accounts.unchanged += 1;
    else tallies.accounts.conflicts.push(`account ${account.id}: the target's tier, provisioning or rate limit differ`);

    const credits = await from.getCredits(account.id);
    const held = await to.getCredits(account.id);
    if (credits?.metered) {
      if (!held?.metered) {
        await copyCredits(to, account.id, credits, now);
        tallies.credits.copied += 1;
      } else if (same(held, credits)) tallies.credits.unchanged += 1;
      // A balance is money being spent: a target that meters the account already is never overwritten.
      else tallies.credits.conflicts.push(`credits of account ${account.id}: the target meters it with another balance or refill`);
    }

    await inBatches(await from.listKeys(account.id), IN_FLIGHT, (key) => copyKey(to, key, tallies.keys));
    await inBatches(await from.listServiceAccounts(account.id), IN_FLIGHT, (sa) => copyServiceAccount(to, sa, tallies['service accounts']));
    await copyUsage(await from.listUsage(account.id, ...ALL_DAYS), await to.listUsage(account.id, ...ALL_DAYS), to, account.id, tallies['usage rows']);
  });

  const targetSigningKeys = new Map((await to.listSigningKeys()).map((key) => [key.kid, key]));
  for (const key of await from.listSigningKeys()) await copySigningKey(to, key, targetSigningKeys.get(key.kid), tallies['signing keys']);

  return { tallies, verified: await verify(from, to, accounts) };
}

async function copyKey(to: Required<KeyStore>, key: StoredKey, tally: Tally): Promise<void> {
  const existing = await to.getKey(key.id);
  if (!existing) {
    try {
      await to.insertKey(key);
      tally.copied += 1;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'DUPLICATE_KEY') throw error;
      tally.conflicts.push(`key ${key.id}: the target holds another key with the same digest`);
    }
    return;
  }
  if (same(existing, key)) tally.unchanged += 1;
  else if (key.revokedAt !== undefined && existing.revokedAt === undefined && same(existing, withoutRevocation(key))) {
    // Revoked in the source since the last copy: a revocation always travels.
    await to.revokeKey(key.id, key.revokedAt);
    tally.updated += 1;
  } else tally.conflicts.push(`key ${key.id}: the target holds it with other fields${existing.revokedAt !== undefined && key.revokedAt === undefined ? ' (revoked there; never unrevoked)' : ''}`);
}

async function copyServiceAccount(to: Required<KeyStore>, serviceAccount: StoredServiceAccount, tally: Tally): Promise<void> {
  const existing = (await to.findServiceAccount(serviceAccount.clientId))?.serviceAccount;
  if (!existing) {
    await to.insertServiceAccount(serviceAccount);
    tally.copied += 1;
  } else if (same(existing, serviceAccount)) tally.unchanged += 1;
  else if (serviceAccount.revokedAt !== undefined && existing.revokedAt === undefined && same(existing, withoutRevocation(serviceAccount))) {
    await to.revokeServiceAccount(serviceAccount.clientId, serviceAccount.revokedAt);
    tally.updated += 1;
  } else tally.conflicts.push(`service account ${serviceAccount.clientId}: the target holds it with another secret or fields`);
}

async function copySigningKey(to: Required<KeyStore>, key: StoredSigningKey, existing: StoredSigningKey | undefined, tally: Tally): Promise<void> {
  if (!existing) {
    await to.insertSigningKey(key);
    tally.copied += 1;
  } else if (same(existing, key)) tally.unchanged += 1;
  else if (key.retiredAt !== undefined && existing.retiredAt === undefined && same(existing, { ...key, retiredAt: undefined })) {
    await to.retireSigningKey(key.kid, key.retiredAt);
    tally.updated += 1;
  } else tally.conflicts.push(`signing key ${key.kid}: the target holds another key under this kid`);
}

/** Usage only grows, so a target row below the source's is topped up to it; one above it is a conflict. */
async function copyUsage(source: UsageRow[], target: UsageRow[], to: Required<KeyStore>, accountId: string, tally: Tally): Promise<void> {
  const held = new Map(target.map((row) => [usageId(row), row]));
  const increments = [];
  for (const row of source) {
    const existing = held.get(usageId(row));
    const allowed = row.allowed - (existing?.allowed ?? 0);
    const creditsSpent = row.creditsSpent - (existing?.creditsSpent ?? 0);
    if (allowed < 0 || creditsSpent < 0) {
      tally.conflicts.push(`usage of ${row.keyId} on ${row.day}: the target counts more than the source`);
      continue;
    }
    if (allowed === 0 && creditsSpent === 0) {
      tally.unchanged += 1;
      continue;
    }
    if (existing) tally.updated += 1;
    else tally.copied += 1;
    const { module, ...rest } = row;
    increments.push({ ...rest, ...(module === undefined ? {} : { module }), accountId, allowed, creditsSpent });
  }
  if (increments.length > 0) await to.addUsage(increments);
}

/** Reads both stores again: every source row must now be in the target, alike. */
async function verify(from: Required<KeyStore>, to: Required<KeyStore>, accounts: Account[]): Promise<CopyReport['verified']> {
  const verified = Object.fromEntries(KINDS.map((kind) => [kind, { source: 0, target: 0 }])) as Record<Kind, { source: number; target: number }>;
  const count = (kind: Kind, alike: boolean) => {
    verified[kind].source += 1;
    if (alike) verified[kind].target += 1;
  };
  for (const account of accounts) {
    const held = await to.getAccount(account.id);
    count('accounts', !!held && same(accountFields(held), accountFields(account)));
    const credits = await from.getCredits(account.id);
    if (credits?.metered) count('credits', same(await to.getCredits(account.id), credits));
    const keys = new Map((await to.listKeys(account.id)).map((key) => [key.id, key]));
    for (const key of await from.listKeys(account.id)) count('keys', same(keys.get(key.id), key));
    const serviceAccounts = new Map((await to.listServiceAccounts(account.id)).map((sa) => [sa.clientId, sa]));
    for (const sa of await from.listServiceAccounts(account.id)) count('service accounts', same(serviceAccounts.get(sa.clientId), sa));
    const usage = new Map((await to.listUsage(account.id, ...ALL_DAYS)).map((row) => [usageId(row), row]));
    for (const row of await from.listUsage(account.id, ...ALL_DAYS)) count('usage rows', same(usage.get(usageId(row)), row));
  }
  const signingKeys = new Map((await to.listSigningKeys()).map((key) => [key.kid, key]));
  for (const key of await from.listSigningKeys()) count('signing keys', same(signingKeys.get(key.kid), key));
  return verified;
}

function reportText(report: CopyReport, from: StoreSpec, to: StoreSpec): string {
  const rows = KINDS.map((kind) => {
    const tally = report.tallies[kind];
    const { source, target } = report.verified[kind];
    return [kind, String(tally.copied), String(tally.unchanged), String(tally.updated), String(tally.conflicts.length), `${target}/${source}`];
  });
  const lines = [`Copied ${redactStoreUrl(from.url)} to ${redactStoreUrl(to.url)}:`, table(['WHAT', 'COPIED', 'ALREADY THERE', 'UPDATED', 'CONFLICTS', 'VERIFIED'], rows)];
  for (const kind of KINDS) for (const conflict of report.tallies[kind].conflicts) lines.push(`conflict: ${conflict} (left as it is)`);
  return `${lines.join('\n')}\n`;
}

/** True when every source row is in the target alike and nothing conflicted. */
const complete = (report: CopyReport): boolean =>
  KINDS.every((kind) => report.tallies[kind].conflicts.length === 0 && report.verified[kind].source === report.verified[kind].target);

export async function storeCommand(sub: string | undefined, args: string[], io: Io): Promise<number> {
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) throw new UsageError('"store" needs a command: copy (see: finora-auth store --help)');
    io.out(HELP.store ?? '');
    return 0;
  }
  if (sub !== 'copy') throw new UsageError(`unknown command "store ${sub}" (see: finora-auth store --help)`);
  const name = 'store copy';
  const parsed = parse(name, args, { from: { type: 'string' }, to: { type: 'string' }, ...JSON_OPTION });
  if (help(io, name, parsed)) return 0;
  const from = storeSpec(requireValue(parsed, 'from', name), io.env, io.cwd);
  const to = storeSpec(requireValue(parsed, 'to', name), io.env, io.cwd);
  if (from.kind === to.kind && (from.kind === 'sqlite' ? from.path === (to as typeof from).path : from.url === to.url)) {
    throw new UsageError('"store copy" needs two different stores: --from and --to name the same one');
  }
  const source = await openReachableStore(from);
  try {
    const target = await openReachableStore(to);
    let report: CopyReport;
    try {
      report = await copyStore(source, target, io.now());
    } catch (error) {
      if (error instanceof CommandError) throw error;
      const detail = (error instanceof Error ? error.message : String(error)).replace(/^finora-auth:\s*/, '');
      throw new CommandError(`store copy stopped (rerun it to carry on: rows already copied are skipped): ${detail}`, { cause: error });
    } finally {
      await closeQuietly(target);
    }
    if (parsed.values.json) printJson(io, { complete: complete(report), ...report });
    else io.out(reportText(report, from, to));
    if (!complete(report)) io.err('finora-auth: store copy did not copy everything: see the conflicts and the VERIFIED column\n');
    return complete(report) ? 0 : 1;
  } finally {
    await closeQuietly(source);
  }
}
