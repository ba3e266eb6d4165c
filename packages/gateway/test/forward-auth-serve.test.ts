// `finora-auth serve --forward-auth` as a user runs it, behind the real nginx, on a Redis store the test can stop.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startPrivateRedis, type PrivateRedis } from '../../redis/test/redis-server';
import { cliJson, ensureBuilt, runCli, startServe, startUpstream, tempDir, type ServeHandle, type Upstream } from './support';
import { send } from './support/forward-proxy';
import { nginxMissing, startNginx, type RunningNginx } from './support/nginx';
import { eventually } from '@finora-auth/core/testing';

const missing = nginxMissing();

describe('serve --forward-auth and --host', () => {
  beforeAll(() => ensureBuilt(), 240_000);

  it('refuses --forward-auth with --upstream, as a usage error', async () => {
    const result = await runCli(['serve', '--forward-auth', '--upstream', 'http://127.0.0.1:1', '--store', 'sqlite::memory:']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--forward-auth and --upstream exclude each other/);
  });

  it('listens on 127.0.0.1 by default and names the address it bound; --host 0.0.0.0 says every interface', async () => {
    const temp = tempDir();
    try {
      const local = await startServe(['--store', temp.storeUrl, '--no-seed']);
      expect(local.stderr()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+, demo API/);
      expect((await fetch(`${local.url}/healthz`)).status).toBe(200);
      await local.stop();
      const every = await startServe(['--store', temp.storeUrl, '--no-seed', '--host', '0.0.0.0']);
      expect(every.stderr()).toMatch(/listening on http:\/\/0\.0\.0\.0:\d+, every interface, demo API/);
      await every.stop();
    } finally {
      temp.remove();
    }
  });
});

describe.skipIf(missing !== undefined)(`serve --forward-auth behind nginx${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let redis: PrivateRedis;
  let serve: ServeHandle;
  let api: Upstream;
  let nginx: RunningNginx;
  let storeUrl = '';
  const seen: { url: string; headers: Record<string, unknown> }[] = [];

  const cli = (args: string[]) => cliJson([...args, '--store', storeUrl]);
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  beforeAll(async () => {
    ensureBuilt();
    redis = await startPrivateRedis({ persist: false });
    storeUrl = redis.url;
    api = await startUpstream((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.end('from the api');
    });
    serve = await startServe(['--forward-auth', '--store', storeUrl, '--no-seed']);
    const finora = serve.url.slice('http://'.length);
    nginx = await startNginx({ listen: `127.0.0.1:${await freePort()}`, finora, upstream: api.url.slice('http://'.length) });
    const set = await runCli(['accounts', 'set', 'acme', '--tier', 'premium', '--enterprise', '--store', storeUrl]);
    expect(set.code).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await nginx?.stop();
    await serve?.stop();
    await api?.close();
    await redis?.dispose();
  });

  it('listens on 127.0.0.1 and says it serves forward auth', () => {
    expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(serve.stderr()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+, forward auth for a proxy/);
  });

  it('passes an allowed request with identity, logs the described request, and sees a CLI revocation within 1 s', async () => {
    const created = await cli(['keys', 'create', '--account', 'acme', '--env', 'test']);
    seen.length = 0;
    const allowed = await send(nginx.url, '/v1/invoices/7', bearer(created.apiKey), 'PATCH');
    expect(allowed.status).toBe(200);
    expect(allowed.text).toBe('from the api');
    expect(seen[0]?.headers['finora-key-id']).toBe(created.key.id);
    expect(seen[0]?.headers['finora-module']).toBe('invoices');
    await eventually(async () => serve.accessLog().some((line) => line.path === '/v1/invoices/7' && line.method === 'PATCH'), 2_000);
    const line = serve.accessLog().find((entry) => entry.path === '/v1/invoices/7');
    expect(line).toMatchObject({ method: 'PATCH', status: 200, module: 'invoices', keyId: created.key.id, reason: 'ok' });
    expect(JSON.stringify(serve.accessLog())).not.toContain(created.apiKey);

    const revoked = await runCli(['keys', 'revoke', created.key.id, '--store', storeUrl]);
    expect(revoked.code).toBe(0);
    const took = await eventually(async () => (await send(nginx.url, '/v1/invoices/7', bearer(created.apiKey))).status === 401, 1_000);
    expect(took).toBeLessThan(1_000);
  });

  it('never hands a client finora-auth\'s own endpoints (/healthz, /metrics) through nginx\'s refusal path: the refusal is the answer', async () => {
    seen.length = 0;
    for (const path of ['/healthz', '/metrics']) {
      const reply = await send(nginx.url, path, {});
      expect([path, reply.status]).toEqual([path, 401]);
      expect(JSON.parse(reply.text).error.code).toBe('MISSING_API_KEY');
    }
    expect(seen).toHaveLength(0);
  });

  it('answers 503 AUTH_UNAVAILABLE with Retry-After and the JSON body through nginx while the store is down', async () => {
    const created = await cli(['keys', 'create', '--account', 'acme', '--env', 'test']);
    seen.length = 0;
    await redis.kill();
    try {
      const reply = await send(nginx.url, '/v1/invoices', bearer(created.apiKey));
      expect(reply.status).toBe(503);
      expect(reply.headers['retry-after']).toMatch(/^\d+$/);
      expect(JSON.parse(reply.text).error.code).toBe('AUTH_UNAVAILABLE');
      expect(seen).toHaveLength(0);
    } finally {
      await redis.start();
    }
  });
});
