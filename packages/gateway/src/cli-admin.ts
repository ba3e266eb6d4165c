// `finora-auth accounts …` and `finora-auth keys …`: key administration through the core's key manager.

import { createKeyManager, KeyManagerError, type KeyManager, type KeyStore, type RateLimit } from '@finora-auth/core';
import { oneOf, parse, requirePositional, requireValue, UsageError, wholeNumber, type Parsed } from './cli-args';
import { parseRateLimit } from './cli-rate-limit';
import { closeQuietly, openReachableStore, storeSpec, withDeadline, type Env } from './cli-store';
import { accountsTable, describeAccount, issuedKeyText, keysTable } from './format';
import { HELP } from './help';
import { unreachable, type StoreSpec } from './store-url';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Env;
  cwd: string;
  now(): number;
}

export const STORE_OPTION = { store: { type: 'string' } } as const;
export const JSON_OPTION = { json: { type: 'boolean' } } as const;

const TIERS = ['free', 'premium', 'accountant_pro'] as const;
export const ENVIRONMENTS = ['live', 'test'] as const;
const SURFACES = ['retail', 'enterprise'] as const;

/** A key manager refusal, with the account it was about when the command knows it (for the hint). */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(
    override readonly cause: KeyManagerError,
    readonly accountId: string | undefined,
    /** The account's tier when the hint needs it (ENTERPRISE_ONLY: provisioning must not change the tier). */
    readonly tier?: string,
  ) {
    super(cause.message);
  }
}

/** The key manager's own refusals (unknown account, free tier…) pass through as one line; anything else is the store failing. */
export async function administer<T>(
  spec: StoreSpec,
  work: (manager: KeyManager, store: KeyStore) => Promise<T>,
  accountId?: string,
): Promise<T> {
  const store = await openReachableStore(spec);
  try {
    return await withDeadline(spec, work(createKeyManager({ store }), store));
  } catch (error) {
    if (error instanceof KeyManagerError) {
      const tier =
        error.code === 'ENTERPRISE_ONLY' && accountId !== undefined
          ? (await store.getAccount(accountId).catch(() => null))?.tier
          : undefined;
      throw new AdminError(error, accountId, tier);
    }
    throw unreachable(spec, error);
  } finally {
    await closeQuietly(store);
  }
}

/**
 * The scopes `--scope` (repeatable, or comma-separated) and `--read-only` ask for; `undefined` is full access.
 * Both together is a usage error rather than one silently narrowing the other: the operator meant one of them.
 */
export function requestedScopes(parsed: Parsed, command: string): string[] | undefined {
  const scopes = (parsed.lists.scope ?? []).flatMap((item) => item.split(',')).map((item) => item.trim()).filter(Boolean);
  const readOnly = parsed.values['read-only'] === true;
  if (readOnly && scopes.length > 0) {
    throw new UsageError(
      `"${command}" takes --read-only or --scope, not both: --read-only is --scope read; for some modules only, give --scope MODULE:read for each`,
    );
  }
  if (readOnly) return ['read'];
  if ((parsed.lists.scope ?? []).length > 0 && scopes.length === 0) {
    throw new UsageError(`--scope needs a scope: read, write, MODULE:read or MODULE:write (see: finora-auth ${command} --help)`);
  }
  return scopes.length > 0 ? scopes : undefined;
}

export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

export function help(io: Io, name: string, parsed: Parsed): boolean {
  if (parsed.help) io.out(HELP[name] ?? HELP.main ?? '');
  return parsed.help;
}

export async function accountsCommand(sub: string | undefined, args: string[], io: Io): Promise<number> {
  if (sub === '--help' || sub === '-h') {
    io.out(HELP.accounts ?? '');
    return 0;
  }
  if (sub === undefined) throw new UsageError('"accounts" needs a command: set or list (see: finora-auth accounts --help)');
  if (sub === 'list') return listAccounts(args, io);
  if (sub !== 'set') throw new UsageError(`unknown command "accounts ${sub}" (see: finora-auth accounts --help)`);
  const name = 'accounts set';
  const parsed = parse(
    name,
    args,
    { ...STORE_OPTION, ...JSON_OPTION, tier: { type: 'string' }, enterprise: { type: 'boolean' }, 'rate-limit': { type: 'string' } },
    1,
  );
  if (help(io, name, parsed)) return 0;
  const id = requirePositional(parsed, 0, 'an ACCOUNT_ID', name);
  const tier = oneOf(requireValue(parsed, 'tier', name), TIERS, '--tier');
  const enterprise = parsed.values.enterprise as boolean | undefined;
  const limitText = parsed.values['rate-limit'] as string | undefined;
  const rateLimit = limitText === undefined ? undefined : parseRateLimit(limitText, '--rate-limit', true);
  const spec = storeSpec(parsed.values.store, io.env, io.cwd);
  const account = await administer(spec, (manager) => saveAccount(manager, id, tier, enterprise, rateLimit), id);
  if (parsed.values.json) printJson(io, account);
  else io.out(`Saved ${describeAccount(account)}.\n`);
  return 0;
}

/** `accounts list`: through the store's own listing (v2), which the key manager does not wrap. */
async function listAccounts(args: string[], io: Io): Promise<number> {
  const name = 'accounts list';
  const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION });
  if (help(io, name, parsed)) return 0;
  const spec = storeSpec(parsed.values.store, io.env, io.cwd);
  const accounts = await administer(spec, async (_manager, store) => {
    if (typeof store.listAccounts !== 'function') {
      throw new KeyManagerError('NOT_SUPPORTED', 'finora-auth: this store has no listAccounts(); upgrade it for v2 features');
    }
    return (await store.listAccounts()).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  });
  if (parsed.values.json) printJson(io, accounts);
  else io.out(accounts.length === 0 ? 'No accounts yet (create one with: finora-auth accounts set ACCOUNT_ID --tier premium).\n' : `${accountsTable(accounts)}\n`);
  return 0;
}

/**
 * An existing account changes through `updateAccount`, which changes only the fields named, atomically: two
 * operators (or an operator and the console) writing at once never undo each other. A new one is created.
 */
async function saveAccount(
  manager: KeyManager,
  id: string,
  tier: (typeof TIERS)[number],
  enterprise: boolean | undefined,
  rateLimit: RateLimit | null | undefined,
) {
  const patch = { tier, ...(enterprise === undefined ? {} : { enterprise }), ...(rateLimit === undefined ? {} : { rateLimit }) };
  try {
    return await manager.updateAccount(id, patch);
  } catch (error) {
    if (!(error instanceof KeyManagerError) || error.code !== 'ACCOUNT_NOT_FOUND') throw error;
    return manager.putAccount({ id, ...patch });
  }
}

export async function keysCommand(sub: string | undefined, args: string[], io: Io): Promise<number> {
  if (sub === '--help' || sub === '-h') {
    io.out(HELP.keys ?? '');
    return 0;
  }
  if (sub === undefined) {
    throw new UsageError('"keys" needs a command: create, list, revoke, rotate or expiring (see: finora-auth keys --help)');
  }
  const name = `keys ${sub}`;
  switch (sub) {
    case 'create': {
      const parsed = parse(name, args, {
        ...STORE_OPTION,
        ...JSON_OPTION,
        account: { type: 'string' },
        env: { type: 'string' },
        surface: { type: 'string' },
        name: { type: 'string' },
        scope: { type: 'string', multiple: true },
        'read-only': { type: 'boolean' },
        'rate-limit': { type: 'string' },
      });
      if (help(io, name, parsed)) return 0;
      const accountId = requireValue(parsed, 'account', name);
      const environment = oneOf(requireValue(parsed, 'env', name), ENVIRONMENTS, '--env');
      const surface = oneOf((parsed.values.surface as string | undefined) ?? 'retail', SURFACES, '--surface');
      const keyName = parsed.values.name as string | undefined;
      const scopes = requestedScopes(parsed, name);
      const limitText = parsed.values['rate-limit'] as string | undefined;
      const rateLimit = limitText === undefined ? undefined : parseRateLimit(limitText, '--rate-limit', false);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const issued = await administer(
        spec,
        (manager) =>
          manager.issue({
            accountId,
            environment,
            surface,
            ...(keyName === undefined ? {} : { name: keyName }),
            ...(scopes === undefined ? {} : { scopes }),
            ...(rateLimit ? { rateLimit } : {}),
          }),
        accountId,
      );
      if (parsed.values.json) printJson(io, issued);
      else io.out(`${issuedKeyText(issued.apiKey, issued.key, 'Created')}\n`);
      return 0;
    }
    case 'list': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION, account: { type: 'string' } });
      if (help(io, name, parsed)) return 0;
      const accountId = requireValue(parsed, 'account', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const keys = await administer(spec, (manager) => manager.list(accountId), accountId);
      if (parsed.values.json) printJson(io, keys);
      else io.out(keys.length === 0 ? `Account ${accountId} has no keys.\n` : `${keysTable(keys, io.now())}\n`);
      return 0;
    }
    case 'revoke': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION }, 1);
      if (help(io, name, parsed)) return 0;
      const keyId = requirePositional(parsed, 0, 'a KEY_ID', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      await administer(spec, (manager) => manager.revoke(keyId));
      if (parsed.values.json) printJson(io, { revoked: keyId });
      else io.out(`Revoked key ${keyId}: requests with it are refused from now on.\n`);
      return 0;
    }
    case 'rotate': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION }, 1);
      if (help(io, name, parsed)) return 0;
      const keyId = requirePositional(parsed, 0, 'a KEY_ID', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const issued = await administer(spec, (manager) => manager.rotate(keyId));
      if (parsed.values.json) printJson(io, { ...issued, replaces: keyId });
      else io.out(`${issuedKeyText(issued.apiKey, issued.key, 'Rotated', keyId)}\n`);
      return 0;
    }
    case 'expiring': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION, within: { type: 'string' } });
      if (help(io, name, parsed)) return 0;
      const within = wholeNumber((parsed.values.within as string | undefined) ?? '14', '--within', 0, 36_500);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const keys = await administer(spec, (manager) => manager.expiring(within));
      if (parsed.values.json) printJson(io, keys);
      else io.out(keys.length === 0 ? `No key expires within ${within} days.\n` : `${keysTable(keys, io.now(), true)}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "keys ${sub}" (see: finora-auth keys --help)`);
  }
}
