// `finora-auth serve` as an OAuth issuer: with the operator secret it issues tokens and accepts them, in every mode,
// and a second serve on the same store, told the first is the issuer (--issuer URL), accepts them until a revocation.

import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, deadPort, ensureBuilt, eventually, runCli, startServe, tempDir, type ServeHandle, type TempDir } from './support';

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

async function token(url: string, via: 'basic' | 'post' = 'basic', credentials = client): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (via === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}`;
  } else {
    form.set('client_id', credentials.clientId);
    form.set('client_secret', credentials.clientSecret);
  }
  const response = await fetch(`${url}/oauth/token`, { method: 'POST', headers, body: form.toString() });
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
      // Lines are written in batches at most 20 ms apart: a secret is looked for once the forged request's line is in.
      await eventually(() => serve.accessLog().some((line) => line.path === '/v1/payments' && line.status === 401), 2_000);
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

/** GET `path` with a bearer credential: the status and the error code, if any. */
async function call(serve: ServeHandle, path: string, accessToken: string): Promise<{ status: number; code?: string; auth?: Record<string, unknown> }> {
  const response = await fetch(`${serve.url}${path}`, { headers: { authorization: `Bearer ${accessToken}` } });
  const body = (await response.json()) as { error?: { code: string }; auth?: Record<string, unknown> };
  return { status: response.status, ...(body.error ? { code: body.error.code } : {}), ...(body.auth ? { auth: body.auth } : {}) };
}

describe('two serve on one store, the second trusting the first as issuer', () => {
  let first: ServeHandle;
  let second: ServeHandle;
  let issuerUrl = '';

  beforeAll(async () => {
    // The fleet's issuer is the first gateway's own address: every gateway is told it with --issuer, so the tokens'
    // iss and aud name it wherever they are verified; the verification keys come from the shared store.
    const port = await deadPort();
    issuerUrl = `http://127.0.0.1:${port}`;
    const common = ['--store', temp.storeUrl, '--no-seed', '--secret-file', secretFile, '--issuer', issuerUrl];
    first = await startServe(['--port', String(port), ...common], { portFlag: false });
    second = await startServe(common);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
  });

  it('publishes the first as the issuer in its metadata, and the same keys on both', async () => {
    const metadata = (await (await fetch(`${first.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({ issuer: issuerUrl, token_endpoint: `${issuerUrl}/oauth/token`, jwks_uri: `${issuerUrl}/.well-known/jwks.json` });
    const kids = async (serve: ServeHandle) =>
      ((await (await fetch(`${serve.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; d?: string }> }).keys;
    await token(first.url); // the first token makes the store's first signing key
    const [a, b] = await Promise.all([kids(first), kids(second)]);
    expect(a.map((key) => key.kid).sort()).toEqual(b.map((key) => key.kid).sort());
    expect([...a, ...b].every((key) => key.d === undefined)).toBe(true);
  });

  it('a token got from the first by either client authentication is accepted by the second, and refused within 1 s of a CLI revocation', async () => {
    const fleetClient = await cliJson<{ clientId: string; clientSecret: string }>(
      ['service-accounts', 'create', '--account', 'acme', '--env', 'live', '--name', 'fleet', '--store', temp.storeUrl],
    );
    const byBasic = await token(first.url, 'basic', fleetClient);
    const byPost = await token(first.url, 'post', fleetClient);
    for (const accessToken of [byBasic, byPost]) {
      const answer = await call(second, '/v1/payments', accessToken);
      expect(answer.status).toBe(200);
      expect(answer.auth).toMatchObject({ credential: 'oauth_token', clientId: fleetClient.clientId, accountId: 'acme', module: 'payments' });
    }
    // The other way round too: every gateway on the store issues tokens every other one verifies.
    expect((await call(first, '/v1/invoices', await token(second.url, 'post', fleetClient))).status).toBe(200);

    const revoked = await runCli(['service-accounts', 'revoke', fleetClient.clientId, '--store', temp.storeUrl]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refusedWithin = async (serve: ServeHandle) => {
      let last: { status: number; code?: string } = { status: 0 };
      const elapsed = await eventually(async () => {
        last = await call(serve, '/v1/payments', byBasic);
        return last.status !== 200;
      }, 1_000, { what: 'the revoked service account refused' });
      expect(last).toEqual({ status: 401, code: 'INVALID_TOKEN' });
      return elapsed;
    };
    const [onFirst, onSecond] = await Promise.all([refusedWithin(first), refusedWithin(second)]);
    expect(onSecond).toBeLessThan(1_000);
    expect(onFirst).toBeLessThan(1_000);
    expect((await call(second, '/v1/payments', byPost)).code).toBe('INVALID_TOKEN');
    // And no new token for it either.
    const refusedToken = await fetch(`${first.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fleetClient.clientId, client_secret: fleetClient.clientSecret }),
    });
    expect(refusedToken.status).toBe(401);
    // Each log is read once the line of its last request is in (lines come in batches at most 20 ms apart).
    await eventually(() => first.accessLog().some((line) => line.path === '/oauth/token' && line.status === 401), 2_000);
    await eventually(() => second.accessLog().some((line) => line.path === '/v1/payments' && line.status === 401), 2_000);
    for (const serve of [first, second]) {
      const log = JSON.stringify(serve.accessLog()) + serve.stderr();
      for (const secret of [byBasic, byPost, fleetClient.clientSecret]) expect(log).not.toContain(secret);
    }
  });

  it('a serve on the same store without the operator secret verifies no token: a JWT there is INVALID_API_KEY', async () => {
    const accessToken = await token(first.url);
    const keysOnly = await startServe(['--store', temp.storeUrl, '--no-seed']);
    try {
      expect(await call(keysOnly, '/v1/invoices', accessToken)).toEqual({ status: 401, code: 'INVALID_API_KEY' });
    } finally {
      await keysOnly.stop();
    }
  });

  it('a 64 KB JWT-looking Authorization header is 431 or 401, never a 5xx, and serve keeps serving', async () => {
    const accessToken = await token(second.url);
    const [header, payload, signature] = accessToken.split('.') as [string, string, string];
    const huge = `Bearer ${header}.${payload}${'A'.repeat(64 * 1024)}.${signature}`;
    const status = await new Promise<number | string>((resolve) => {
      const sent = request(`${second.url}/v1/invoices`, { headers: { authorization: huge } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      // Node answers 431 and closes; the client may see the close while it is still writing.
      sent.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      sent.end();
    });
    expect([431, 401, 'ECONNRESET', 'EPIPE']).toContain(status);
    expect((await call(second, '/v1/invoices', accessToken)).status).toBe(200);
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
