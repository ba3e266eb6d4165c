// The built `finora-auth` binary's administration commands, run as a user would: JSON and tables, help, one-line errors.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliJson, deadPort, KEY_PATTERN, runCli, tempDir } from './support';
import { cliSuite, expectOneLineError } from './support/cli-suite';

const { temp, store } = cliSuite();

describe('help', () => {
  it.each([
    [[]],
    [['--help']],
    [['serve', '--help']],
    [['accounts', '--help']],
    [['accounts', 'set', '--help']],
    [['keys', '--help']],
    [['keys', 'create', '--help']],
    [['keys', 'list', '--help']],
    [['keys', 'revoke', '--help']],
    [['keys', 'rotate', '--help']],
    [['keys', 'expiring', '--help']],
  ])('finora-auth %j prints usage and exits 0', async (args) => {
    const result = await runCli(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage|Options/);
    expect(result.stderr).toBe('');
  });
});

describe('accounts and keys', () => {
  it('creates, lists, rotates, revokes and reports expiring keys as JSON', async () => {
    const account = await cliJson(['accounts', 'set', 'acme', '--tier', 'premium', '--enterprise', ...store]);
    expect(account).toEqual({ id: 'acme', tier: 'premium', enterprise: true });

    const created = await cliJson(['keys', 'create', '--account', 'acme', '--env', 'live', '--surface', 'enterprise', '--name', 'shop', ...store]);
    expect(created.apiKey).toMatch(/^live_sk_[0-9a-f]{48}$/);
    expect(created.key).toMatchObject({ accountId: 'acme', environment: 'live', surface: 'enterprise', name: 'shop' });
    expect(created.key.id).toEqual(expect.any(String));
    expect(created.key.hint).toBe(`live_sk_…${created.apiKey.slice(-4)}`);
    const days = (Date.parse(created.key.expiresAt) - Date.parse(created.key.createdAt)) / 86_400_000;
    expect(days).toBe(90);

    const rotated = await cliJson(['keys', 'rotate', created.key.id, ...store]);
    expect(rotated.apiKey).toMatch(/^live_sk_[0-9a-f]{48}$/);
    expect(rotated.apiKey).not.toBe(created.apiKey);
    expect(rotated.key).toMatchObject({ accountId: 'acme', environment: 'live', surface: 'enterprise', name: 'shop' });
    expect(rotated.key.id).not.toBe(created.key.id);

    const revoke = await runCli(['keys', 'revoke', created.key.id, ...store]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(created.key.id);

    const listResult = await runCli(['keys', 'list', '--account', 'acme', '--json', ...store]);
    expect(listResult.stdout.match(KEY_PATTERN)).toBeNull();
    const list = JSON.parse(listResult.stdout);
    expect(list.map((key: { id: string }) => key.id)).toEqual([created.key.id, rotated.key.id]);
    expect(list[0].revokedAt).toEqual(expect.any(String));
    expect(list[1].revokedAt).toBeUndefined();

    const soon = await cliJson(['keys', 'expiring', '--within', '91', ...store]);
    expect(soon.map((key: { id: string }) => key.id)).toContain(rotated.key.id);
    expect(soon.map((key: { id: string }) => key.id)).not.toContain(created.key.id);
    expect(await cliJson(['keys', 'expiring', '--within', '1', ...store])).toEqual([]);
  });

  it('shows a new key once, with a warning, and lists keys as a table without them', async () => {
    const set = await runCli(['accounts', 'set', 'tables', '--tier', 'accountant_pro', ...store]);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/tables.*accountant_pro/);

    const created = await runCli(['keys', 'create', '--account', 'tables', '--env', 'test', ...store]);
    expect(created.code, created.stderr).toBe(0);
    const keys = created.stdout.match(KEY_PATTERN) ?? [];
    expect(keys).toHaveLength(1);
    expect(created.stdout).toMatch(/only this once/);

    const list = await runCli(['keys', 'list', '--account', 'tables', ...store]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^KEY ID\s+ENV\s+SURFACE\s+HINT/);
    expect(list.stdout).toContain(`test_sk_…${(keys[0] as string).slice(-4)}`);
    expect(list.stdout.match(KEY_PATTERN)).toBeNull();

    const rotated = await runCli(['keys', 'rotate', (/key_[0-9a-f]+/.exec(created.stdout) as RegExpExecArray)[0], ...store]);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout.match(KEY_PATTERN)).toHaveLength(1);
    expect(rotated.stdout).toMatch(/still works/);
  });

  it('keeps provisioning when --enterprise is not given, and withdraws it with --no-enterprise', async () => {
    await cliJson(['accounts', 'set', 'prov', '--tier', 'premium', '--enterprise', ...store]);
    expect(await cliJson(['accounts', 'set', 'prov', '--tier', 'accountant_pro', ...store])).toMatchObject({ enterprise: true });
    expect(await cliJson(['accounts', 'set', 'prov', '--tier', 'premium', '--no-enterprise', ...store])).toMatchObject({ enterprise: false });
  });

  it('reads the store from FINORA_AUTH_STORE, and --store wins over it', async () => {
    const other = tempDir();
    try {
      await cliJson(['accounts', 'set', 'from-env', '--tier', 'premium'], { env: { FINORA_AUTH_STORE: other.storeUrl } });
      expect(await cliJson(['keys', 'list', '--account', 'from-env'], { env: { FINORA_AUTH_STORE: other.storeUrl } })).toEqual([]);
      const flagWins = await runCli(['keys', 'list', '--account', 'from-env', ...store], { env: { FINORA_AUTH_STORE: other.storeUrl } });
      expectOneLineError(flagWins, 1, /no account "from-env"/);
    } finally {
      other.remove();
    }
  });

  it('uses sqlite:./.finora/keys.db by default, creating it', async () => {
    const cwd = tempDir();
    try {
      await cliJson(['accounts', 'set', 'local', '--tier', 'premium'], { cwd: cwd.dir });
      expect(existsSync(join(cwd.dir, '.finora', 'keys.db'))).toBe(true);
    } finally {
      cwd.remove();
    }
  });
});

describe('errors: one line on stderr, non-zero status', () => {
  beforeAll(async () => {
    await cliJson(['accounts', 'set', 'free-co', '--tier', 'free', ...store]);
    await cliJson(['accounts', 'set', 'retail-co', '--tier', 'premium', ...store]);
  });

  it('an unknown account', async () => {
    expectOneLineError(await runCli(['keys', 'create', '--account', 'ghost', '--env', 'test', ...store]), 1, /no account "ghost"/);
    expectOneLineError(await runCli(['keys', 'list', '--account', 'ghost', ...store]), 1, /no account "ghost"/);
  });

  it('a free account', async () => {
    expectOneLineError(await runCli(['keys', 'create', '--account', 'free-co', '--env', 'live', ...store]), 1, /Premium/);
  });

  it('an enterprise key for an account not provisioned', async () => {
    const result = await runCli(['keys', 'create', '--account', 'retail-co', '--env', 'live', '--surface', 'enterprise', ...store]);
    expectOneLineError(result, 1, /enterprise/);
  });

  it('an unknown key', async () => {
    expectOneLineError(await runCli(['keys', 'revoke', 'key_000000000000000000000000', ...store]), 1, /no key/);
    expectOneLineError(await runCli(['keys', 'rotate', 'key_000000000000000000000000', ...store]), 1, /no key/);
  });

  it('a bad store URL', async () => {
    expectOneLineError(await runCli(['keys', 'list', '--account', 'a', '--store', 'mysql://db/keys']), 2, /unsupported store URL mysql:/);
    expectOneLineError(await runCli(['keys', 'list', '--account', 'a', '--store', 'sqlite:']), 2, /needs a file path/);
    expectOneLineError(await runCli(['keys', 'list', '--account', 'a'], { env: { FINORA_AUTH_STORE: 'nonsense' } }), 2, /unsupported store URL/);
  });

  it('an unreachable store, without showing its password', async () => {
    const port = await deadPort();
    const pg = await runCli(['keys', 'list', '--account', 'a', '--store', `postgres://finora:hunter2secret@127.0.0.1:${port}/test`]);
    expectOneLineError(pg, 1, /cannot use the store at postgres:\/\/finora:\*\*\*@127\.0\.0\.1/);
    expect(pg.stderr).not.toContain('hunter2secret');
    const redis = await runCli(['accounts', 'set', 'a', '--tier', 'premium', '--store', `redis://:hunter2secret@127.0.0.1:${port}`]);
    expectOneLineError(redis, 1, new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port} `));
    expect(redis.stderr).not.toContain('hunter2secret');
  }, 30_000);

  it('an unknown flag', async () => {
    expectOneLineError(await runCli(['keys', 'create', '--account', 'retail-co', '--env', 'test', '--colour', ...store]), 2, /unknown option --colour/);
    expectOneLineError(await runCli(['serve', '--prot', '1']), 2, /unknown option --prot/);
  });

  it('a missing argument or value', async () => {
    expectOneLineError(await runCli(['keys', 'create', '--env', 'test', ...store]), 2, /needs --account/);
    expectOneLineError(await runCli(['keys', 'create', '--account', 'retail-co', ...store]), 2, /needs --env/);
    expectOneLineError(await runCli(['keys', 'revoke', ...store]), 2, /needs a KEY_ID/);
    expectOneLineError(await runCli(['accounts', 'set', '--tier', 'premium', ...store]), 2, /needs an ACCOUNT_ID/);
    expectOneLineError(await runCli(['accounts', 'set', 'x', ...store]), 2, /needs --tier/);
    expectOneLineError(await runCli(['keys', 'list', '--account']), 2, /--account.*needs a value/);
    expectOneLineError(await runCli(['keys']), 2, /needs a command/);
  });

  it('a value out of its set, an unknown command, a stray argument', async () => {
    expectOneLineError(await runCli(['keys', 'create', '--account', 'retail-co', '--env', 'prod', ...store]), 2, /--env must be one of live, test/);
    expectOneLineError(await runCli(['accounts', 'set', 'x', '--tier', 'gold', ...store]), 2, /--tier must be one of/);
    expectOneLineError(await runCli(['keys', 'expiring', '--within', 'soon', ...store]), 2, /--within must be a whole number/);
    expectOneLineError(await runCli(['keys', 'destroy', ...store]), 2, /unknown command "keys destroy"/);
    expectOneLineError(await runCli(['deploy']), 2, /unknown command "deploy"/);
    expectOneLineError(await runCli(['keys', 'revoke', 'a', 'b', ...store]), 2, /unexpected argument "b"/);
  });
});
