// End to end: HttpKeyStore against the built `finora-auth serve --internal-token-file`, keys made and revoked by the command.

import { createAuthenticator } from '@finora-auth/core';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cliJson, ensureBuilt, runCli, startServe, tempDir, type ServeHandle, type TempDir } from '../../gateway/test/support';
import { HttpKeyStore } from '../src/index';
import { isReset, listen, newToken } from './support';

let temp: TempDir;
let token: string;
let gateway: ServeHandle;
let store: HttpKeyStore;

beforeAll(async () => {
  ensureBuilt();
  temp = tempDir();
  token = newToken();
  const tokenFile = join(temp.dir, 'internal.token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 }); // as `openssl rand -hex 32 > file` writes it
  gateway = await startServe(['--store', temp.storeUrl, '--no-seed', '--internal-token-file', tokenFile]);
  store = new HttpKeyStore({ url: gateway.url, token });
}, 240_000);

afterAll(async () => {
  await store?.close();
  await gateway?.stop();
  temp?.remove();
});

const createKey = async (account: string) => {
  await cliJson(['accounts', 'set', account, '--tier', 'premium', '--store', temp.storeUrl]);
  return cliJson<{ apiKey: string; key: { id: string } }>(['keys', 'create', '--account', account, '--env', 'live', '--store', temp.storeUrl]);
};

describe('HttpKeyStore against finora-auth serve --internal-token-file', () => {
  it('authenticates a key the command made, and honours `keys revoke` from another process within the stated bound', async () => {
    const heard = listen(store);
    const authenticator = createAuthenticator({ store });
    try {
      await heard.next(isReset(true), 10_000);
      const { apiKey, key } = await createKey('acct_edge_e2e');
      const ask = () => authenticator.authenticate({ authorization: `Bearer ${apiKey}` });
      expect((await ask()).ok).toBe(true);
      const warm = await ask();
      expect(warm.ok && warm.decision.cache).toBe('hit');
      const revoked = heard.next((e) => e.type === 'key-changed', 10_000);
      const started = performance.now();
      const result = await runCli(['keys', 'revoke', key.id, '--store', temp.storeUrl]);
      expect(result.code).toBe(0);
      await revoked;
      const took = performance.now() - started;
      console.info(`[measured] finora-auth keys revoke (another process, SQLite) to the edge's key-changed: ${took.toFixed(0)} ms`);
      // SQLite's own cross-process bound (1 s) plus the stream; the command's own start-up counts too.
      expect(took).toBeLessThan(1_000 + store.revocationBoundMs());
      const after = await ask();
      expect(after.ok).toBe(false);
      if (!after.ok) expect(after.error.code).toBe('INVALID_API_KEY');
    } finally {
      heard.stop();
      await authenticator.close();
    }
  });

  it('answers nothing without the token, and the token never appears in its output or access log; digests are masked in the log', async () => {
    const { apiKey } = await createKey('acct_edge_e2e_2');
    const { sha256Hex } = await import('@finora-auth/core');
    const hash = await sha256Hex(apiKey);
    const refused = await fetch(`${gateway.url}/internal/keys/${hash}`, { headers: { authorization: `Bearer ${newToken()}` } });
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain('acct_edge_e2e_2');
    expect(await store.findByHash(hash)).not.toBeNull();
    await vi.waitFor(() => expect(gateway.accessLog().some((line) => String(line.path).startsWith('/internal/keys/'))).toBe(true));
    const output = gateway.stdout() + gateway.stderr();
    expect(output).not.toContain(token);
    expect(output).not.toContain(hash);
    expect(gateway.stderr()).toContain('internal API for HttpKeyStore');
  });

  it('without --internal-token-file, /internal/ does not exist: the path is authenticated like any other, and the store says check the token', async () => {
    const plain = await startServe(['--store', temp.storeUrl, '--no-seed']);
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const edge = new HttpKeyStore({ url: plain.url, token, events: false });
    try {
      const response = await fetch(`${plain.url}/internal/keys/${'0'.repeat(64)}`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_API_KEY');
      await expect(edge.findByHash('0'.repeat(64))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      expect(String(logged.mock.calls[0]?.[0])).toContain('check the internal token');
    } finally {
      logged.mockRestore();
      await edge.close();
      await plain.stop();
    }
  });

  it('refuses to start with a short or unreadable token file, naming the file and never its contents', async () => {
    const short = join(temp.dir, 'short.token');
    writeFileSync(short, 'tooshort-but-secret\n');
    const result = await runCli(['serve', '--port', '0', '--store', temp.storeUrl, '--no-seed', '--internal-token-file', short]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(short);
    expect(result.stderr).toContain('at least 32');
    expect(result.stderr).not.toContain('tooshort-but-secret');
    const missing = await runCli(['serve', '--port', '0', '--store', temp.storeUrl, '--no-seed', '--internal-token-file', join(temp.dir, 'nope')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('cannot read the internal token file');
  });

  it('shuts down promptly on SIGTERM with an edge stream open (the stream is ended, not waited for), and the edge says live:false', async () => {
    const tokenFile = join(temp.dir, 'internal.token');
    const second = await startServe(['--store', temp.storeUrl, '--no-seed', '--internal-token-file', tokenFile, '--shutdown-timeout', '10000']);
    const edge = new HttpKeyStore({ url: second.url, token });
    const heard = listen(edge);
    try {
      await heard.next(isReset(true), 10_000);
      const dropped = heard.next(isReset(false), 10_000);
      const started = performance.now();
      const exit = await second.stop('SIGTERM');
      const took = performance.now() - started;
      expect(exit.code).toBe(0);
      expect(took).toBeLessThan(5_000); // far under the 10 s deadline a held stream would cost
      await dropped;
      expect(second.stderr()).not.toMatch(/request\(s\) cut/);
    } finally {
      heard.stop();
      await edge.close();
    }
  });
});
