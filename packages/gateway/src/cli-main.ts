// The `finora-auth` command line: dispatches to a command, and turns every failure into one line and an exit status.

import { ENTERPRISE_MODULES, KeyManagerError, RETAIL_MODULES } from '@finora-auth/core';
import { accountsCommand, AdminError, keysCommand } from './cli-admin';
import { CommandError, UsageError } from './cli-args';
import { creditsCommand, usageCommand } from './cli-credits';
import { serviceAccountsCommand } from './cli-service-accounts';
import { storeCommand } from './cli-store-copy';
import type { ServeIo } from './cli-serve';
import { version } from '../package.json';
import { HELP } from './help';
import { StoreUnreachableError } from './store-url';

const HINTS: Partial<Record<KeyManagerError['code'], (account: string, tier?: string) => string>> = {
  ACCOUNT_NOT_FOUND: (account) => ` (create it with: finora-auth accounts set ${account} --tier premium)`,
  PREMIUM_REQUIRED: (account) => ` (the account is on the free tier: finora-auth accounts set ${account} --tier premium)`,
  // `accounts set` needs a tier: the account's own, so provisioning never downgrades an accountant_pro account.
  ENTERPRISE_ONLY: (account, tier) =>
    ` (provision it with: finora-auth accounts set ${account} --tier ${tier === 'accountant_pro' ? 'accountant_pro' : 'premium'} --enterprise)`,
  INVALID_SCOPE: () => ` (MODULE is one of: ${RETAIL_MODULES.join(', ')}; enterprise: ${ENTERPRISE_MODULES.join(', ')})`,
  KEY_REVOKED: () => ' (finora-auth keys create --account ACCOUNT_ID --env live|test)',
  SERVICE_ACCOUNT_NOT_FOUND: (account) => ` (list them with: finora-auth service-accounts list --account ${account})`,
  SERVICE_ACCOUNT_REVOKED: (account) => ` (finora-auth service-accounts create --account ${account} --env live|test)`,
  NOT_METERED: (account) => ` (grant credits first: finora-auth credits grant ${account} AMOUNT)`,
};

/** Account ids are 1-128 of letters, digits and . _ : @ -; anything else is not echoed into a command line. */
const SHELL_SAFE = /^[A-Za-z0-9._:@-]{1,128}$/;

/** One line, prefixed once with `finora-auth:`, with nothing after a newline (a driver's stack, a query). */
function oneLine(message: string): string {
  const first = (message.split('\n')[0] ?? '').trim();
  return `finora-auth: ${first.replace(/^finora-auth:\s*/, '')}`;
}

/** Runs the command in `argv` (without node and the script). Resolves the exit status: 0 done, 1 failed, 2 misused. */
export async function main(argv: string[], io: ServeIo): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        io.out(HELP.main ?? '');
        return 0;
      case '--version':
      case '-v':
        io.out(`finora-auth ${version}\n`);
        return 0;
      case 'serve': {
        // Loaded on demand: key administration should not pay for starting Hono, the proxy and metrics.
        const { serveCommand } = await import('./cli-serve');
        return await serveCommand(argv.slice(1), io);
      }
      case 'accounts':
        return await accountsCommand(sub, rest, io);
      case 'keys':
        return await keysCommand(sub, rest, io);
      case 'credits':
        return await creditsCommand(sub, rest, io);
      case 'usage':
        return await usageCommand(sub, rest, io);
      case 'service-accounts':
        return await serviceAccountsCommand(sub, rest, io);
      case 'store':
        return await storeCommand(sub, rest, io);
      case 'signing-keys': {
        // Loaded on demand: only this command needs jose and the OAuth issuer.
        const { signingKeysCommand } = await import('./cli-signing-keys');
        return await signingKeysCommand(sub, rest, io);
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)} (see: finora-auth --help)`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${oneLine(error.message)}\n`);
      return 2;
    }
    if (error instanceof AdminError) {
      const account = error.accountId !== undefined && SHELL_SAFE.test(error.accountId) ? error.accountId : 'ACCOUNT_ID';
      io.err(`${oneLine(error.message)}${HINTS[error.cause.code]?.(account, error.tier) ?? ''}\n`);
      return 1;
    }
    if (error instanceof KeyManagerError) {
      io.err(`${oneLine(error.message)}\n`);
      return 1;
    }
    if (error instanceof CommandError || error instanceof StoreUnreachableError) {
      io.err(`${oneLine(error.message)}\n`);
      return 1;
    }
    io.err(`${oneLine(`unexpected error: ${error instanceof Error ? error.message : String(error)}`)}\n`);
    return 1;
  }
}
