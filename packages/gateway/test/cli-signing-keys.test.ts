// `finora-auth signing-keys list|rotate` on the built binary: under the operator secret, never printing it or a private key.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_SECRET_BYTES } from '@finora-auth/oauth';
import { MIN_OPERATOR_SECRET_BYTES } from '../src/operator-secret';
import { cliJson, runCli } from './support';
import { cliSuite, expectOneLineError } from './support/cli-suite';

const { temp, store } = cliSuite();
const secret = randomBytes(48).toString('base64');
const secretFile = join(temp.dir, 'secret');
writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });

describe('signing-keys', () => {
  it('asks for what @finora-auth/oauth asks for', () => {
    expect(MIN_OPERATOR_SECRET_BYTES).toBe(MIN_SECRET_BYTES);
  });

  it('lists none at first, rotates in a key that signs, and on the next rotation keeps the old one published', async () => {
    const empty = await runCli(['signing-keys', 'list', '--secret-file', secretFile, ...store]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toMatch(/No signing keys yet/);

    const first = await cliJson(['signing-keys', 'rotate', '--secret-file', secretFile, ...store]);
    expect(first).toMatchObject({ alg: 'ES256', published: true, publicJwk: { kty: 'EC', crv: 'P-256' } });
    expect(first.retiredAt).toBeUndefined();

    const second = await runCli(['signing-keys', 'rotate', ...store], { env: { FINORA_AUTH_SECRET_FILE: secretFile } });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^Rotated: signing key \S+ \(ES256\) signs new tokens/);

    const listed = await runCli(['signing-keys', 'list', '--json', ...store], { env: { FINORA_AUTH_SECRET: secret } });
    expect(listed.code, listed.stderr).toBe(0);
    const keys = JSON.parse(listed.stdout);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatchObject({ kid: first.kid, published: true, retiredAt: expect.any(String) });
    expect(keys[1].retiredAt).toBeUndefined();
    for (const key of keys) expect(key.publicJwk.d).toBeUndefined();

    const table = await runCli(['signing-keys', 'list', '--secret-file', secretFile, ...store]);
    expect(table.stdout).toMatch(/^KID\s+ALG\s+CREATED\s+RETIRED\s+STATUS/);
    expect(table.stdout).toMatch(new RegExp(`${first.kid}.*retired, still published`));
    for (const output of [empty, second, listed, table]) expect(output.stdout + output.stderr).not.toContain(secret);
  });

  it('refuses to rotate under another operator secret, adding no key', async () => {
    const other = randomBytes(48).toString('base64');
    const before = await cliJson(['signing-keys', 'list', '--secret-file', secretFile, ...store]);
    const result = await runCli(['signing-keys', 'rotate', ...store], { env: { FINORA_AUTH_SECRET: other } });
    const line = expectOneLineError(result, 1, /cannot be decrypted: the operator secret is not the one it was sealed with/);
    expect(line).not.toContain(other);
    expect(await cliJson(['signing-keys', 'list', '--secret-file', secretFile, ...store])).toEqual(before);
  });

  it('says how to provide the secret when there is none, too short a one, or a file that is not there', async () => {
    expectOneLineError(await runCli(['signing-keys', 'list', ...store]), 2, /needs the operator secret that seals the signing keys: pass --secret-file PATH or set FINORA_AUTH_SECRET_FILE/);
    const short = 'too-short-a-secret';
    const shortResult = await runCli(['signing-keys', 'list', ...store], { env: { FINORA_AUTH_SECRET: short } });
    expectOneLineError(shortResult, 1, /operator secret in \$FINORA_AUTH_SECRET is 18 bytes; it needs at least 32/);
    expect(shortResult.stderr).not.toContain(short);
    const missing = join(temp.dir, 'no-such-secret');
    expectOneLineError(await runCli(['signing-keys', 'rotate', '--secret-file', missing, ...store]), 1, /cannot read the operator secret file .*no-such-secret \(ENOENT\)/);
  });

  it('refuses misuse as usage errors', async () => {
    expectOneLineError(await runCli(['signing-keys']), 2, /needs a command: list or rotate/);
    expectOneLineError(await runCli(['signing-keys', 'delete']), 2, /unknown command "signing-keys delete"/);
    for (const args of [['signing-keys', '--help'], ['signing-keys', 'list', '--help'], ['signing-keys', 'rotate', '--help']]) {
      const result = await runCli(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Usage/);
    }
  });
});
