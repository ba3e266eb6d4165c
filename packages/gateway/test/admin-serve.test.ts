// `finora-auth serve --admin-token-file`: the console on the serving port, keys it makes used and revoked there, nothing secret logged.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, ConsoleClient, once } from './admin-support';
import { ensureBuilt, KEY_PATTERN, runCli, startServe, tempDir, type ServeHandle, type TempDir } from './support';
import { eventually } from '@finora-auth/core/testing';

let temp: TempDir;
beforeAll(() => {
  ensureBuilt();
  temp = tempDir();
});
afterAll(() => temp?.remove());

async function status(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/v1/invoices`, { headers: { authorization: `Bearer ${key}` } });
  await response.arrayBuffer();
  return response.status;
}

describe('serve --admin-token-file', () => {
  it('serves the console; a key generated there is accepted by the same serve, and refused within 1 s of its revocation there; no secret is logged', async () => {
    const token = adminToken() + adminToken();
    const file = join(temp.dir, 'admin-token');
    writeFileSync(file, `  ${token}\n`, { mode: 0o600 });
    const serve: ServeHandle = await startServe(['--store', `sqlite:${join(temp.dir, 'console.db')}`, '--no-seed', '--admin-token-file', file]);
    try {
      expect(serve.stderr()).toContain(`admin console at ${serve.url}/admin/`);
      const client = new ConsoleClient(serve.url);
      const csrf = await client.login(token);
      expect((await client.post('/admin/accounts', { csrf, id: 'acme', tier: 'premium' })).status).toBe(303);
      const reveal = await client.post('/admin/accounts/acme/keys', { csrf, once: once(), name: 'books', environment: 'live' });
      const [key] = reveal.body.match(KEY_PATTERN) ?? [];
      expect(key).toBeDefined();
      expect(await status(serve.url, key as string)).toBe(200);
      const keyId = /data-key-id="(key_[0-9a-f]+)"/.exec((await client.get('/admin/accounts/acme')).body)?.[1];
      expect((await client.post(`/admin/accounts/acme/keys/${keyId}/revoke`, { csrf, confirm: 'yes' })).status).toBe(303);
      const took = await eventually(async () => (await status(serve.url, key as string)) === 401, 1_000);
      expect(took).toBeLessThan(1_000);
      // The access log is written in batches at most 20 ms apart: wait for the last request's line, not a guess.
      await eventually(() => serve.accessLog().some((line) => line.path === `/admin/accounts/acme/keys/${keyId}/revoke`), 2_000);
      const paths = serve.accessLog().map((line) => line.path);
      expect(paths).toContain('/admin/accounts/acme/keys');
      expect(paths).toContain('/v1/invoices');
      for (const output of [serve.stdout(), serve.stderr()]) {
        expect(output).not.toContain(key);
        expect(output).not.toContain(token);
        expect(output).not.toContain(csrf);
      }
    } finally {
      await serve.stop();
    }
  });

  it('without the option, /admin/ is an API path: no console, an API refusal', async () => {
    const serve = await startServe(['--store', `sqlite:${join(temp.dir, 'plain.db')}`, '--no-seed']);
    try {
      const page = await fetch(`${serve.url}/admin/`);
      expect(page.status).toBe(401);
      expect(page.headers.get('content-type')).toMatch(/^application\/json/);
      expect(page.headers.get('content-security-policy')).toBeNull();
      expect(await page.text()).toContain('MISSING_API_KEY');
      const login = await fetch(`${serve.url}/admin/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=anything',
      });
      expect(login.status).toBe(401);
      expect(login.headers.get('set-cookie')).toBeNull();
      expect(serve.stderr()).not.toContain('admin console');
    } finally {
      await serve.stop();
    }
  });

  it('refuses a token shorter than 32 characters, or a file it cannot read, in one line that never shows the token', async () => {
    const short = adminToken().slice(0, 31);
    const file = join(temp.dir, 'short-token');
    writeFileSync(file, `${short}\n`);
    const refused = await runCli(['serve', '--port', '0', '--store', temp.storeUrl, '--admin-token-file', file]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--admin-token-file');
    expect(refused.stderr).toContain('at least 32');
    expect(refused.stderr).not.toContain(short);
    const missing = await runCli(['serve', '--port', '0', '--store', temp.storeUrl, '--admin-token-file', join(temp.dir, 'nope')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--admin-token-file: cannot read .*nope \(ENOENT\)/);
  });
});
