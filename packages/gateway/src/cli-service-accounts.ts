// `finora-auth service-accounts …`: OAuth 2.0 service accounts (client id and secret) through the core's key manager.

import { oneOf, parse, requirePositional, requireValue, UsageError } from './cli-args';
import { administer, ENVIRONMENTS, help, JSON_OPTION, printJson, requestedScopes, STORE_OPTION, type Io } from './cli-admin';
import { storeSpec } from './cli-store';
import { issuedSecretText, serviceAccountsTable } from './format';
import { HELP } from './help';

export async function serviceAccountsCommand(sub: string | undefined, args: string[], io: Io): Promise<number> {
  if (sub === '--help' || sub === '-h') {
    io.out(HELP['service-accounts'] ?? '');
    return 0;
  }
  if (sub === undefined) {
    throw new UsageError('"service-accounts" needs a command: create, list, rotate or revoke (see: finora-auth service-accounts --help)');
  }
  const name = `service-accounts ${sub}`;
  switch (sub) {
    case 'create': {
      const parsed = parse(name, args, {
        ...STORE_OPTION,
        ...JSON_OPTION,
        account: { type: 'string' },
        env: { type: 'string' },
        name: { type: 'string' },
        scope: { type: 'string', multiple: true },
      });
      if (help(io, name, parsed)) return 0;
      const accountId = requireValue(parsed, 'account', name);
      const environment = oneOf(requireValue(parsed, 'env', name), ENVIRONMENTS, '--env');
      const label = parsed.values.name as string | undefined;
      const scopes = requestedScopes(parsed, name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const created = await administer(
        spec,
        (manager) =>
          manager.createServiceAccount({
            accountId,
            environment,
            ...(label === undefined ? {} : { name: label }),
            ...(scopes === undefined ? {} : { scopes }),
          }),
        accountId,
      );
      if (parsed.values.json) printJson(io, created);
      else io.out(`${issuedSecretText(created.clientSecret, created.serviceAccount, 'Created')}\n`);
      return 0;
    }
    case 'list': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION, account: { type: 'string' } });
      if (help(io, name, parsed)) return 0;
      const accountId = requireValue(parsed, 'account', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const list = await administer(spec, (manager) => manager.listServiceAccounts(accountId), accountId);
      if (parsed.values.json) printJson(io, list);
      else io.out(list.length === 0 ? `Account ${accountId} has no service accounts.\n` : `${serviceAccountsTable(list, io.now())}\n`);
      return 0;
    }
    case 'rotate': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION }, 1);
      if (help(io, name, parsed)) return 0;
      const clientId = requirePositional(parsed, 0, 'a CLIENT_ID', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      const rotated = await administer(spec, (manager) => manager.rotateServiceAccountSecret(clientId));
      if (parsed.values.json) printJson(io, rotated);
      else io.out(`${issuedSecretText(rotated.clientSecret, rotated.serviceAccount, 'Rotated')}\n`);
      return 0;
    }
    case 'revoke': {
      const parsed = parse(name, args, { ...STORE_OPTION, ...JSON_OPTION }, 1);
      if (help(io, name, parsed)) return 0;
      const clientId = requirePositional(parsed, 0, 'a CLIENT_ID', name);
      const spec = storeSpec(parsed.values.store, io.env, io.cwd);
      await administer(spec, (manager) => manager.revokeServiceAccount(clientId));
      if (parsed.values.json) printJson(io, { revoked: clientId });
      else io.out(`Revoked service account ${clientId}: its secret and every token issued to it are refused from now on.\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "service-accounts ${sub}" (see: finora-auth service-accounts --help)`);
  }
}
