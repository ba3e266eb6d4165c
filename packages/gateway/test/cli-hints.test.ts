// The hint after a refused `keys create` is a command that works as pasted and changes only what it must:
// provisioning an accountant_pro account for enterprise keys keeps it on accountant_pro (it used to say premium).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli-main';

const dir = mkdtempSync(join(tmpdir(), 'finora-hints-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const status = await main([...argv, '--store', `sqlite:${join(dir, 'keys.db')}`], {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    env: {},
    cwd: dir,
    now: Date.now,
    log: () => ({ write: () => true }),
    signals: { on: () => undefined },
  });
  return { status, out, err };
}

describe('the ENTERPRISE_ONLY hint of keys create', () => {
  it.each(['accountant_pro', 'premium'])('names the account’s own tier (%s), and the hint works as pasted', async (tier) => {
    const id = `${tier.replace('_', '-')}-co`;
    expect((await run('accounts', 'set', id, '--tier', tier)).status).toBe(0);
    const refused = await run('keys', 'create', '--account', id, '--env', 'live', '--surface', 'enterprise');
    expect(refused.status).toBe(1);
    const hint = /\(provision it with: finora-auth (accounts set [^)]+)\)/.exec(refused.err)?.[1];
    expect(hint).toBe(`accounts set ${id} --tier ${tier} --enterprise`);
    expect((await run(...(hint as string).split(' '))).status).toBe(0);
    const accounts = JSON.parse((await run('accounts', 'list', '--json')).out) as { id: string; tier: string; enterprise: boolean }[];
    expect(accounts.find((account) => account.id === id)).toMatchObject({ tier, enterprise: true });
    expect((await run('keys', 'create', '--account', id, '--env', 'live', '--surface', 'enterprise')).status).toBe(0);
  });
});
