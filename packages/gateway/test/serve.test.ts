// `finora-auth serve` with the demo API, run as a user would: keys from the CLI, requests over HTTP, logs and metrics read back.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  childEnv,
  cliJson,
  cliPath,
  deadPort,
  ensureBuilt,
  KEY_PATTERN,
  runCli,
  startServe,
  tempDir,
  type ServeHandle,
  type TempDir,
} from './support';
import { eventually } from '@finora-auth/core/testing';

let temp: TempDir;
let store: string[];
let serve: ServeHandle;
const keys = { retail: '', enterprise: '', downgraded: '', revocable: '', revocableId: '' };
/** Every key sent to the gateway in this file: none may ever appear in its output. */
const usedKeys = new Set<string>();

async function get(path: string, key?: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (key !== undefined) {
    usedKeys.add(key);
    headers.set('authorization', `Bearer ${key}`);
  }
  return fetch(`${serve.url}${path}`, { ...init, headers });
}

/** A well-formed key no store has ever seen, made at run time. */
const unknownKey = () => `test_sk_${randomBytes(24).toString('hex')}`;

beforeAll(async () => {
  ensureBuilt();
  temp = tempDir();
  store = ['--store', temp.storeUrl];
  await cliJson(['accounts', 'set', 'retail-co', '--tier', 'premium', ...store]);
  await cliJson(['accounts', 'set', 'ent-co', '--tier', 'accountant_pro', '--enterprise', ...store]);
  await cliJson(['accounts', 'set', 'soon-free', '--tier', 'premium', ...store]);
  keys.retail = (await cliJson(['keys', 'create', '--account', 'retail-co', '--env', 'test', '--name', 'shop', ...store])).apiKey;
  keys.enterprise = (await cliJson(['keys', 'create', '--account', 'ent-co', '--env', 'live', '--surface', 'enterprise', ...store])).apiKey;
  keys.downgraded = (await cliJson(['keys', 'create', '--account', 'soon-free', '--env', 'live', ...store])).apiKey;
  const revocable = await cliJson(['keys', 'create', '--account', 'retail-co', '--env', 'live', ...store]);
  keys.revocable = revocable.apiKey;
  keys.revocableId = revocable.key.id;
  // A key issued to a premium account whose subscription then lapsed.
  await cliJson(['accounts', 'set', 'soon-free', '--tier', 'free', ...store]);
  serve = await startServe([...store, '--max-body-size', '4096']);
}, 240_000);

afterAll(async () => {
  await serve?.stop();
  temp?.remove();
});

describe('decisions through the demo API', () => {
  it('allows a retail key on a retail module and echoes its AuthContext', async () => {
    const response = await get('/v1/invoices', keys.retail);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({
      module: 'invoices',
      auth: { accountId: 'retail-co', environment: 'test', billable: false, tier: 'premium', surface: 'retail', module: 'invoices', keyName: 'shop' },
    });
    expect(body.auth.keyId).toMatch(/^key_/);
  });

  it('answers every catalog module, and lists them at /v1', async () => {
    const index = await (await get('/v1', keys.enterprise)).json();
    const modules = [...index.modules.retail, ...index.modules.enterprise];
    expect(modules).toHaveLength(23);
    for (const module of modules) {
      const response = await get(`/v1/${module}/some/resource?page=2`, keys.enterprise);
      expect(response.status, module).toBe(200);
      expect((await response.json()).auth.module).toBe(module);
    }
  });

  it('refuses without a key, with a malformed one and with an unknown one (401)', async () => {
    const missing = await get('/v1/invoices');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="finora"');
    expect(await missing.json()).toEqual({ error: { code: 'MISSING_API_KEY', message: expect.any(String) } });

    const malformed = await get('/v1/invoices', undefined, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(malformed.status).toBe(401);
    expect(malformed.headers.get('www-authenticate')).toBe('Bearer realm="finora", error="invalid_token"');
    expect((await malformed.json()).error.code).toBe('INVALID_API_KEY');

    const unknown = await get('/v1/invoices', unknownKey());
    expect(unknown.status).toBe(401);
    expect((await unknown.json()).error.code).toBe('INVALID_API_KEY');
  });

  it('refuses a retail key on an enterprise module however the path is spelled (403), and allows an enterprise key', async () => {
    for (const path of ['/v1/payments', '/V1/PAYMENTS', '/v1/%70ayments', '/v1//payments/', '/v1/invoices/../payments', '/payments']) {
      const response = await get(path, keys.retail);
      expect(response.status, path).toBe(403);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="finora", error="insufficient_scope"');
      expect((await response.json()).error.code, path).toBe('ENTERPRISE_ONLY');
    }
    const allowed = await get('/v1/payments', keys.enterprise);
    expect(allowed.status).toBe(200);
    expect((await allowed.json()).auth).toMatchObject({ accountId: 'ent-co', surface: 'enterprise', billable: true });
  });

  it('refuses a key whose account is now free (403 PREMIUM_REQUIRED)', async () => {
    const response = await get('/v1/invoices', keys.downgraded);
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('PREMIUM_REQUIRED');
  });

  it('honours a revocation made by another `finora-auth keys revoke` process within 1 second, even for a cached key', async () => {
    expect((await get('/v1/invoices', keys.revocable)).status).toBe(200);
    expect((await get('/v1/invoices', keys.revocable)).status).toBe(200); // now served from the cache
    const revoke = await runCli(['keys', 'revoke', keys.revocableId, ...store]);
    expect(revoke.code, revoke.stderr).toBe(0);
    const took = await eventually(async () => (await get('/v1/invoices', keys.revocable)).status === 401, 1_000);
    expect(took).toBeLessThan(1_000);
    const refused = await get('/v1/invoices', keys.revocable);
    expect((await refused.json()).error).toMatchObject({ code: 'INVALID_API_KEY', message: expect.stringMatching(/revoked/) });
  });

  it('honours a tier change made by another process within 1 second', async () => {
    await cliJson(['accounts', 'set', 'flip', '--tier', 'premium', ...store]);
    const key = (await cliJson(['keys', 'create', '--account', 'flip', '--env', 'test', ...store])).apiKey;
    expect((await get('/v1/reports', key)).status).toBe(200);
    await cliJson(['accounts', 'set', 'flip', '--tier', 'free', ...store]);
    expect(await eventually(async () => (await get('/v1/reports', key)).status === 403, 1_000)).toBeLessThan(1_000);
  });

  it('answers 404 for a path that names no module, but only after authentication', async () => {
    expect((await get('/v1/nothing-here')).status).toBe(401);
    const response = await get('/v1/nothing-here', keys.retail);
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('NOT_FOUND');
  });

  it('echoes a JSON body it was sent', async () => {
    const response = await get('/v1/invoices', keys.retail, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 12 }),
    });
    expect(response.status).toBe(200);
    expect((await response.json()).received).toEqual({ json: { amount: 12 } });
  });
});

describe('limits', () => {
  it('answers 413 to a demo API body over --max-body-size, declared or streamed', async () => {
    const declared = await get('/v1/invoices', keys.retail, { method: 'POST', body: 'x'.repeat(5_000) });
    expect(declared.status).toBe(413);
    expect((await declared.json()).error.code).toBe('PAYLOAD_TOO_LARGE');

    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(1_000));
        controller.close();
      },
    });
    const streamed = await get('/v1/invoices', keys.retail, { method: 'POST', body: chunks, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it('answers 431 to a request head over the header limit, as JSON', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${serve.url}/v1/invoices`, { headers: { 'x-padding': 'a'.repeat(20_000) } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(431);
    expect(JSON.parse(body).error.code).toBe('HEADERS_TOO_LARGE');
  });
});

describe('operations', () => {
  it('serves /healthz without a key', async () => {
    const response = await get('/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', store: 'ok' });
  });

  it('serves Prometheus metrics without a key, counting decisions and cache use, and never showing a key', async () => {
    const response = await get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/^finora_auth_decisions_total\{outcome="allowed",code="OK",reason="ok"\} [1-9]/m);
    expect(text).toMatch(/^finora_auth_decisions_total\{outcome="refused",code="ENTERPRISE_ONLY",reason="not-enterprise"\} [1-9]/m);
    expect(text).toMatch(/^finora_auth_decisions_total\{outcome="refused",code="INVALID_API_KEY",reason="revoked"\} [1-9]/m);
    expect(text).toMatch(/^finora_auth_cache_lookups_total\{result="hit"\} [1-9]/m);
    expect(text).toMatch(/^finora_auth_cache_lookups_total\{result="miss"\} [1-9]/m);
    expect(text).toMatch(/^finora_auth_store_lookup_duration_seconds_count\{result="found"\} [1-9]/m);
    expect(text).toMatch(/^# TYPE finora_auth_upstream_duration_seconds histogram$/m);
    expect(text.match(KEY_PATTERN)).toBeNull();
    for (const key of usedKeys) expect(text).not.toContain(key.slice(8));
  });

  it('writes one JSON access log line per request, with the decision but never a key or the Authorization header', async () => {
    // A careless client puts its key in the path and the query too.
    await get(`/v1/invoices/${keys.retail}?api_key=${keys.retail}`, keys.retail);
    // Lines are written in batches, at most 20 ms apart: wait for this request's.
    await eventually(async () => serve.accessLog().some((line) => String(line.path).startsWith('/v1/invoices/[redacted]')), 2_000);
    const output = serve.stdout();
    const lines = serve.accessLog();
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) {
      expect(line).toMatchObject({ time: expect.any(String), method: expect.any(String), path: expect.any(String), status: expect.any(Number), durationMs: expect.any(Number) });
    }
    const allowed = lines.find((line) => line.reason === 'ok' && line.accountId === 'retail-co');
    expect(allowed).toMatchObject({ keyId: expect.stringMatching(/^key_/), keyHint: expect.stringMatching(/^test_sk_…[0-9a-f]{4}$/), status: 200, module: 'invoices' });
    expect(lines.find((line) => line.reason === 'revoked')).toMatchObject({ status: 401, code: 'INVALID_API_KEY', keyId: keys.revocableId });
    expect(lines.find((line) => line.reason === 'not-enterprise')).toMatchObject({ status: 403, code: 'ENTERPRISE_ONLY' });
    expect(lines.filter((line) => String(line.path).startsWith('/v1/invoices/')).at(-1)?.path).toBe('/v1/invoices/[redacted]');

    expect(output.match(KEY_PATTERN)).toBeNull();
    for (const key of usedKeys) {
      expect(output).not.toContain(key);
      expect(output).not.toContain(key.slice(8));
    }
    expect(output).not.toMatch(/authorization|bearer/i);
    expect(serve.stderr().match(KEY_PATTERN)).toBeNull();
  });
});

describe('configuration', () => {
  it('moves /metrics to a port of its own, or turns it off', async () => {
    const port = await deadPort();
    const moved = await startServe(['--store', temp.storeUrl, '--metrics', `127.0.0.1:${port}`]);
    let movedExit;
    try {
      expect((await fetch(`${moved.url}/metrics`)).status).toBe(401);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('finora_auth_decisions_total');
    } finally {
      movedExit = await moved.stop(); // checked after: an expect() in finally would hide the error that got here
    }
    expect(movedExit).toEqual({ code: 0, signal: null });
    const off = await startServe(['--store', temp.storeUrl], { env: { FINORA_AUTH_METRICS: 'off' } });
    try {
      expect((await fetch(`${off.url}/metrics`)).status).toBe(401);
      expect(off.stderr()).toContain('metrics off');
    } finally {
      await off.stop();
    }
  });

  it('takes the store from FINORA_AUTH_STORE and the port from PORT, and flags win over both', async () => {
    const port = await deadPort();
    const fromEnv = await startServe([], { env: { FINORA_AUTH_STORE: temp.storeUrl, PORT: String(port) }, portFlag: false });
    try {
      // The default --host is 127.0.0.1, and the banner names the address bound.
      expect(fromEnv.url).toBe(`http://127.0.0.1:${port}`);
      usedKeys.add(keys.retail);
      const response = await fetch(`${fromEnv.url}/v1/invoices`, { headers: { authorization: `Bearer ${keys.retail}` } });
      expect(response.status).toBe(200);
    } finally {
      await fromEnv.stop();
    }
    // --port 0 and --store beat a PORT and a FINORA_AUTH_STORE that could not work.
    const flags = await startServe(['--store', temp.storeUrl], { env: { FINORA_AUTH_STORE: 'nonsense', PORT: 'nonsense' } });
    try {
      const response = await fetch(`${flags.url}/v1/invoices`, { headers: { authorization: `Bearer ${keys.retail}` } });
      expect(response.status).toBe(200);
    } finally {
      await flags.stop();
    }
  });

  it('refuses to start on a bad store URL or an unreachable store, in one line', async () => {
    const bad = await runCli(['serve', '--store', 'ftp://example']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const port = await deadPort();
    const down = await runCli(['serve', '--port', '0', '--store', `postgres://127.0.0.1:${port}/test`]);
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^finora-auth: cannot use the store at postgres:/)]);
    const upstream = await runCli(['serve', '--port', '0', '--upstream', 'ftp://example']);
    expect(upstream.code).toBe(2);
    expect(upstream.stderr).toMatch(/^finora-auth: --upstream: upstream must be an http:\/\/ or https:\/\/ URL/);
  }, 30_000);
});

describe('first start', () => {
  it('seeds an empty default store once, printing a key and a curl line that works', async () => {
    const cwd = tempDir();
    try {
      const first = await startServe([], { cwd: cwd.dir });
      let apiKey: string;
      let stopped;
      try {
        const stderr = first.stderr();
        const printed = stderr.match(KEY_PATTERN) ?? [];
        expect(printed.length).toBeGreaterThan(0);
        apiKey = printed[0] as string;
        expect(new Set(printed).size).toBe(1);
        const curl = /^\s*(curl -H "Authorization: Bearer (\S+)" (http:\/\/\S+))$/m.exec(stderr);
        expect(curl, stderr).not.toBeNull();
        const [, line, key, url] = curl as RegExpExecArray;
        expect(key).toBe(apiKey);
        expect(url).toBe(`${first.url}/v1/invoices`);
        const response = await fetch(url as string, { headers: { authorization: `Bearer ${key}` } });
        expect(response.status).toBe(200);
        expect((await response.json()).auth).toMatchObject({ accountId: 'demo', environment: 'test', module: 'invoices' });
        if (existsSync('/usr/bin/curl') || existsSync('/bin/curl')) {
          const viaCurl = execFileSync('sh', ['-c', `${line} -s -w '\\n%{http_code}'`], { encoding: 'utf8' });
          expect(viaCurl.trim().split('\n').at(-1)).toBe('200');
        } else {
          console.log('curl is not installed: the printed line was checked with fetch only');
        }
        expect(first.stdout()).not.toContain(apiKey);
      } finally {
        stopped = await first.stop('SIGINT'); // checked after: an expect() in finally would hide the error that got here
      }
      expect(stopped).toEqual({ code: 0, signal: null });
      expect(existsSync(`${cwd.dir}/.finora/keys.db`)).toBe(true);

      const second = await startServe([], { cwd: cwd.dir });
      try {
        expect(second.stderr().match(KEY_PATTERN)).toBeNull();
        const response = await fetch(`${second.url}/v1/invoices`, { headers: { authorization: `Bearer ${apiKey}` } });
        expect(response.status).toBe(200);
      } finally {
        await second.stop();
      }
    } finally {
      cwd.remove();
    }
  });

  it('exits 0 at once on a SIGINT that arrives while it is still waiting for its store', async () => {
    // A "store" that accepts connections and never answers: serve is then surely running and waiting on it.
    let connected!: () => void;
    const reached = new Promise<void>((resolve) => (connected = resolve));
    const silent = createNetServer((socket) => {
      socket.on('error', () => {});
      connected();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--store', `redis://127.0.0.1:${port}`], {
      env: childEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      await reached;
      const sent = Date.now();
      child.kill('SIGINT');
      expect(await exited, stderr).toEqual({ code: 0, signal: null });
      // Not after the store's 5 s deadline: the wait is abandoned.
      expect(Date.now() - sent).toBeLessThan(4_000);
      expect(stderr).toContain('SIGINT: stopping before the gateway started');
      expect(stderr).not.toContain('listening on');
    } finally {
      child.kill('SIGKILL');
      silent.close();
    }
  });

  it('does not seed a store that already holds keys, nor with --no-seed', async () => {
    const used = await startServe(['--store', temp.storeUrl]);
    await used.stop();
    expect(used.stderr().match(KEY_PATTERN)).toBeNull();
    const empty = tempDir();
    try {
      const noSeed = await startServe(['--store', empty.storeUrl, '--no-seed']);
      await noSeed.stop();
      expect(noSeed.stderr().match(KEY_PATTERN)).toBeNull();
    } finally {
      empty.remove();
    }
  });
});
