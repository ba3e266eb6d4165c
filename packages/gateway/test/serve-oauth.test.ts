// `finora-auth serve` as an OAuth issuer: with the operator secret it issues tokens and accepts them, in every mode.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, ensureBuilt, runCli, startServe, tempDir, type TempDir } from './support';

let temp: TempDir;
let secretFile = '';
let client: { clientId: string; clientSecret: string };

beforeAll(async () => {
  ensureBuilt();
  temp = tempDir();
  secretFile = join(temp.dir, 'finora-secret');
  writeFileSync(secretFile, `${randomBytes(48).toString('base64')}\n`, { mode: 0o600 });
  expect((await runCli(['accounts', 'set', 'acme', '--tier', 'premium', '--enterprise', '--store', temp.storeUrl])).code).toBe(0);
  client = await cliJson(['service-accounts', 'create', '--account', 'acme', '--env', 'test', '--store', temp.storeUrl]);
}, 240_000);

afterAll(() => temp?.remove());

async function token(url: string): Promise<string> {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { access_token: string; token_type: string };
  expect(body.token_type).toBe('Bearer');
  return body.access_token;
}

describe('serve with an operator secret', () => {
  it('issues tokens at /oauth/token, publishes its keys, and accepts its tokens on the demo API', async () => {
    const serve = await startServe(['--store', temp.storeUrl, '--no-seed', '--secret-file', secretFile]);
    try {
      expect(serve.stderr()).toMatch(/OAuth token endpoint at http:\/\/127\.0\.0\.1:\d+\/oauth\/token/);
      const accessToken = await token(serve.url);
      const jwks = (await (await fetch(`${serve.url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
      expect(jwks.keys.length).toBeGreaterThan(0);
      const api = await fetch(`${serve.url}/v1/payments`, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(api.status).toBe(200);
      expect(((await api.json()) as { auth: { credential?: string } }).auth.credential).toBe('oauth_token');
      const forged = await fetch(`${serve.url}/v1/payments`, { headers: { authorization: `Bearer ${accessToken.slice(0, -4)}AAAA` } });
      expect(forged.status).toBe(401);
      expect(JSON.stringify(serve.accessLog())).not.toContain(accessToken);
    } finally {
      await serve.stop();
    }
  });

  it('accepts its tokens in forward-auth mode', async () => {
    const serve = await startServe(['--store', temp.storeUrl, '--no-seed', '--secret-file', secretFile, '--forward-auth']);
    try {
      const accessToken = await token(serve.url);
      const answer = await fetch(`${serve.url}/`, {
        headers: { authorization: `Bearer ${accessToken}`, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/v1/payments' },
      });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('finora-account-id')).toBe('acme');
      expect(answer.headers.get('finora-module')).toBe('payments');
    } finally {
      await serve.stop();
    }
  });
});

describe('serve without an operator secret', () => {
  it('says once that the OAuth endpoints are off, and does not serve them', async () => {
    const serve = await startServe(['--store', temp.storeUrl, '--no-seed']);
    try {
      expect(serve.stderr().match(/OAuth endpoints off: no operator secret/g)).toHaveLength(1);
      const response = await fetch(`${serve.url}/oauth/token`, { method: 'POST', body: 'grant_type=client_credentials' });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('MISSING_API_KEY');
    } finally {
      await serve.stop();
    }
  });
});
