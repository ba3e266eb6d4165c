// `finora-auth service-accounts` on the built binary: the secret shown once, lists without it, rotation, revocation, refusals.

import { describe, expect, it } from 'vitest';
import { cliJson, runCli } from './support';
import { cliSuite, expectOneLineError } from './support/cli-suite';

const SECRET_PATTERN = /(live|test)_cs_[0-9a-f]{48}/g;

const { store } = cliSuite(async ({ store }) => {
  await cliJson(['accounts', 'set', 'ent-co', '--tier', 'accountant_pro', '--enterprise', ...store]);
  await cliJson(['accounts', 'set', 'retail-co', '--tier', 'premium', ...store]);
  await cliJson(['accounts', 'set', 'free-co', '--tier', 'free', ...store]);
});

describe('service-accounts', () => {
  it('creates one (secret once, as JSON), lists it without the secret, rotates and revokes it', async () => {
    const created = await cliJson([
      'service-accounts', 'create', '--account', 'ent-co', '--env', 'live', '--name', 'ledger-sync', '--scope', 'payments:read', ...store,
    ]);
    expect(created.clientId).toMatch(/^sa_/);
    expect(created.clientSecret).toMatch(/^live_cs_[0-9a-f]{48}$/);
    expect(created.serviceAccount).toMatchObject({
      clientId: created.clientId,
      accountId: 'ent-co',
      environment: 'live',
      name: 'ledger-sync',
      scopes: ['payments:read'],
      secretHint: `live_cs_…${created.clientSecret.slice(-4)}`,
    });

    const listed = await runCli(['service-accounts', 'list', '--account', 'ent-co', '--json', ...store]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.match(SECRET_PATTERN)).toBeNull();
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ clientId: created.clientId, scopes: ['payments:read'] })]);

    const rotated = await cliJson(['service-accounts', 'rotate', created.clientId, ...store]);
    expect(rotated.clientSecret).toMatch(/^live_cs_[0-9a-f]{48}$/);
    expect(rotated.clientSecret).not.toBe(created.clientSecret);
    expect(rotated.serviceAccount).toMatchObject({ clientId: created.clientId, secretHint: `live_cs_…${rotated.clientSecret.slice(-4)}` });

    const revoke = await runCli(['service-accounts', 'revoke', created.clientId, ...store]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(created.clientId);
    const [after] = await cliJson(['service-accounts', 'list', '--account', 'ent-co', ...store]);
    expect(after.revokedAt).toEqual(expect.any(String));

    expectOneLineError(
      await runCli(['service-accounts', 'rotate', created.clientId, ...store]),
      1,
      /is revoked; create a new one \(finora-auth service-accounts create --account ACCOUNT_ID/,
    );
  });

  it('shows the secret once with a warning, and lists as a table without it', async () => {
    const created = await runCli(['service-accounts', 'create', '--account', 'ent-co', '--env', 'test', ...store]);
    expect(created.code, created.stderr).toBe(0);
    const secrets = created.stdout.match(SECRET_PATTERN) ?? [];
    expect(secrets).toHaveLength(1);
    expect(created.stdout).toMatch(/shown only this once/);
    expect(created.stdout).toMatch(/client id: +sa_/);

    const table = await runCli(['service-accounts', 'list', '--account', 'ent-co', ...store]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^CLIENT ID\s+ENV\s+SECRET\s+NAME\s+SCOPES/);
    expect(table.stdout).toContain(`test_cs_…${(secrets[0] as string).slice(-4)}`);
    expect(table.stdout.match(SECRET_PATTERN)).toBeNull();

    const clientId = (/sa_[0-9a-f]+/.exec(created.stdout) as RegExpExecArray)[0];
    const rotated = await runCli(['service-accounts', 'rotate', clientId, ...store]);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout.match(SECRET_PATTERN)).toHaveLength(1);
    expect(rotated.stdout).toMatch(/old secret no longer works/);
  });

  it('refuses an account that is not provisioned or is free, with the command that fixes it', async () => {
    expectOneLineError(
      await runCli(['service-accounts', 'create', '--account', 'retail-co', '--env', 'live', ...store]),
      1,
      /enterprise-provisioned.*\(provision it with: finora-auth accounts set retail-co --tier premium --enterprise\)/,
    );
    expectOneLineError(
      await runCli(['service-accounts', 'create', '--account', 'free-co', '--env', 'live', ...store]),
      1,
      /Premium.*finora-auth accounts set free-co --tier premium/,
    );
    expectOneLineError(await runCli(['service-accounts', 'list', '--account', 'ghost', ...store]), 1, /no account "ghost"/);
  });

  it('refuses an unknown client id, a bad scope, and misuse', async () => {
    expectOneLineError(await runCli(['service-accounts', 'revoke', 'sa_000000000000', ...store]), 1, /no service account "sa_000000000000" \(list them with/);
    expectOneLineError(await runCli(['service-accounts', 'rotate', 'sa_000000000000', ...store]), 1, /no service account/);
    expectOneLineError(
      await runCli(['service-accounts', 'create', '--account', 'ent-co', '--env', 'live', '--scope', 'payment:write', ...store]),
      1,
      /"payment:write" is not a scope.*MODULE is one of/,
    );
    expectOneLineError(await runCli(['service-accounts', 'create', '--account', 'ent-co', ...store]), 2, /needs --env/);
    expectOneLineError(await runCli(['service-accounts', 'rotate', ...store]), 2, /needs a CLIENT_ID/);
    expectOneLineError(await runCli(['service-accounts']), 2, /needs a command/);
    expectOneLineError(await runCli(['service-accounts', 'delete', 'x']), 2, /unknown command "service-accounts delete"/);
  });

  it.each([[['service-accounts', '--help']], [['service-accounts', 'create', '--help']], [['service-accounts', 'list', '--help']], [['service-accounts', 'rotate', '--help']], [['service-accounts', 'revoke', '--help']]])(
    'finora-auth %j prints usage and exits 0',
    async (args) => {
      const result = await runCli(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Usage/);
      expect(result.stderr).toBe('');
    },
  );
});
