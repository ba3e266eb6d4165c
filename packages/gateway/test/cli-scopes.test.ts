// `finora-auth keys` with scopes, `accounts set` under concurrent administrators, and `accounts list`: run as a user would.

import { join } from 'node:path';
import { SqliteKeyStore } from '@finora-auth/sqlite';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli-main';
import type { ServeIo } from '../src/cli-serve';
import { cliJson, KEY_PATTERN, runCli, tempDir } from './support';
import { cliSuite, expectOneLineError } from './support/cli-suite';

const { temp, store } = cliSuite(({ store }) => cliJson(['accounts', 'set', 'scoped-co', '--tier', 'premium', ...store]));

const create = (...args: string[]) => cliJson(['keys', 'create', '--account', 'scoped-co', '--env', 'test', ...args, ...store]);

describe('keys create with scopes', () => {
  it('issues a key limited to the scopes given (repeated or comma-separated), normalised, and lists them', async () => {
    const created = await create('--scope', 'invoices:read', '--scope', 'receipts:write,invoices:write', '--name', 'books');
    expect(created.key.scopes).toEqual(['invoices:write', 'receipts:write']);

    const listed = await cliJson(['keys', 'list', '--account', 'scoped-co', ...store]);
    expect(listed.find((key: { id: string }) => key.id === created.key.id).scopes).toEqual(['invoices:write', 'receipts:write']);

    const table = await runCli(['keys', 'list', '--account', 'scoped-co', ...store]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^KEY ID\s+ENV\s+SURFACE\s+HINT\s+NAME\s+SCOPES\s+CREATED/);
    expect(table.stdout.split('\n').find((line) => line.startsWith(created.key.id))).toContain('invoices:write,receipts:write');
  });

  it('--read-only is scope read; no scope is full access (write)', async () => {
    expect((await create('--read-only')).key.scopes).toEqual(['read']);
    expect((await create()).key.scopes).toEqual(['write']);
  });

  it('shows a limited key once with its scopes, and rotation keeps them', async () => {
    const created = await runCli(['keys', 'create', '--account', 'scoped-co', '--env', 'test', '--read-only', ...store]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout.match(KEY_PATTERN)).toHaveLength(1);
    expect(created.stdout).toMatch(/test, retail, scopes read\)/);
    const keyId = (/key_[0-9a-f]+/.exec(created.stdout) as RegExpExecArray)[0];
    const rotated = await cliJson(['keys', 'rotate', keyId, ...store]);
    expect(rotated.key.scopes).toEqual(['read']);
  });

  it('refuses an unknown module or a malformed scope, naming it and the valid forms', async () => {
    const result = await runCli(['keys', 'create', '--account', 'scoped-co', '--env', 'test', '--scope', 'invoice:read', ...store]);
    const line = expectOneLineError(result, 1, /"invoice:read" is not a scope/);
    expect(line).toMatch(/read, write, <module>:read or <module>:write/);
    expect(line).toMatch(/MODULE is one of: invoices, /);
    expectOneLineError(
      await runCli(['keys', 'create', '--account', 'scoped-co', '--env', 'test', '--scope', 'invoices:delete', ...store]),
      1,
      /"invoices:delete" is not a scope/,
    );
  });

  it('refuses --read-only with --scope, and an empty --scope, as usage errors', async () => {
    const both = ['keys', 'create', '--account', 'scoped-co', '--env', 'test', '--read-only', '--scope', 'invoices:read', ...store];
    expectOneLineError(await runCli(both), 2, /--read-only or --scope, not both/);
    expectOneLineError(await runCli(['keys', 'create', '--account', 'scoped-co', '--env', 'test', '--scope', ',', ...store]), 2, /--scope needs a scope/);
  });
});

describe('keys rotate of a revoked key', () => {
  it('fails with one line saying it is revoked, exit 1, and issues nothing', async () => {
    const created = await create('--name', 'old');
    expect((await runCli(['keys', 'revoke', created.key.id, ...store])).code).toBe(0);
    const before = (await cliJson(['keys', 'list', '--account', 'scoped-co', ...store])).length;
    expectOneLineError(await runCli(['keys', 'rotate', created.key.id, ...store]), 1, /is revoked; issue a new key instead \(finora-auth keys create/);
    expect(await cliJson(['keys', 'list', '--account', 'scoped-co', ...store])).toHaveLength(before);
  });
});

describe('accounts set', () => {
  /** Runs the command in this process (the same code as the binary), so many can interleave at every await. */
  async function run(args: string[]): Promise<number> {
    const io = { out: () => {}, err: () => {}, env: {}, cwd: temp.dir, now: Date.now } as unknown as ServeIo;
    return main(args, io);
  }

  it('never undoes a concurrent administrator: a tier change does not withdraw provisioning granted meanwhile', async () => {
    for (let round = 0; round < 10; round++) {
      const id = `race-${round}`;
      expect(await run(['accounts', 'set', id, '--tier', 'premium', ...store])).toBe(0);
      // Several tier changes race one provisioning; only the provisioning names `enterprise`, so it must stand.
      const statuses = await Promise.all([
        run(['accounts', 'set', id, '--tier', 'accountant_pro', ...store]),
        run(['accounts', 'set', id, '--tier', 'premium', '--enterprise', ...store]),
        run(['accounts', 'set', id, '--tier', 'accountant_pro', ...store]),
        run(['accounts', 'set', id, '--tier', 'accountant_pro', ...store]),
      ]);
      expect(statuses).toEqual([0, 0, 0, 0]);
      const reader = new SqliteKeyStore({ path: join(temp.dir, 'keys.db') });
      try {
        expect(await reader.getAccount(id), `round ${round}`).toMatchObject({ id, enterprise: true });
      } finally {
        await reader.close();
      }
    }
  }, 60_000);

  it('accounts list shows every account by id, as a table or JSON, and says so when there are none', async () => {
    const other = tempDir();
    try {
      const own = ['--store', other.storeUrl];
      const empty = await runCli(['accounts', 'list', ...own]);
      expect(empty.code, empty.stderr).toBe(0);
      expect(empty.stdout).toMatch(/No accounts yet/);
      await cliJson(['accounts', 'set', 'zeta', '--tier', 'free', ...own]);
      await cliJson(['accounts', 'set', 'alpha', '--tier', 'accountant_pro', '--enterprise', ...own]);
      expect(await cliJson(['accounts', 'list', ...own])).toEqual([
        expect.objectContaining({ id: 'alpha', tier: 'accountant_pro', enterprise: true }),
        expect.objectContaining({ id: 'zeta', tier: 'free', enterprise: false }),
      ]);
      const table = await runCli(['accounts', 'list', ...own]);
      expect(table.stdout.split('\n').slice(0, 3)).toEqual([
        expect.stringMatching(/^ACCOUNT\s+TIER\s+ENTERPRISE\s+RATE LIMIT\s+CREDITS$/),
        expect.stringMatching(/^alpha\s+accountant_pro\s+provisioned\s+-\s+-$/),
        expect.stringMatching(/^zeta\s+free\s+-\s+-\s+-$/),
      ]);
    } finally {
      other.remove();
    }
  });
});
