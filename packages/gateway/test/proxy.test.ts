// `finora-auth serve --upstream`: what the upstream receives, streaming both ways, 502/504, graceful shutdown mid-request.

import { once } from 'node:events';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cliJson,
  deadPort,
  ensureBuilt,
  KEY_PATTERN,
  startServe,
  startUpstream,
  tempDir,
  type ServeHandle,
  type TempDir,
  type Upstream,
} from './support';
import { eventually } from '@finora-auth/core/testing';

interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  body: string;
}

/** A resolvable promise: the tests and the upstream hand each other turns with these. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

let temp: TempDir;
let upstream: Upstream;
let serve: ServeHandle;
const received: Received[] = [];
let retailKey = '';
let retailKeyId = '';
let enterpriseKey = '';
/** Test-controlled turns for the streaming and slow routes. */
let turns: Record<string, ReturnType<typeof signal>> = {};

function header(entry: Received, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < entry.rawHeaders.length; i += 2) {
    if ((entry.rawHeaders[i] as string).toLowerCase() === name.toLowerCase()) out.push(entry.rawHeaders[i + 1] as string);
  }
  return out;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0] as string;
  if (path.endsWith('/upload')) {
    // Answers only after the first chunk arrived and the test then sent the rest: proves the body is streamed.
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (chunks.length === 1) turns.firstChunkArrived?.resolve();
    });
    await once(req, 'end');
    res.end(JSON.stringify({ bytes: Buffer.concat(chunks).length, transferEncoding: req.headers['transfer-encoding'] ?? null }));
    return;
  }
  if (path.endsWith('/download')) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first;');
    await turns.sendRest?.promise;
    res.end('rest');
    return;
  }
  if (path.endsWith('/slow')) {
    turns.slowArrived?.resolve();
    await turns.releaseSlow?.promise;
    if (!res.destroyed) res.end('slow done');
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const entry = { method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() };
  received.push(entry);
  res.setHeader('x-upstream', 'yes');
  res.setHeader('proxy-authenticate', 'Basic realm="upstream-only"');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true }));
}

beforeAll(async () => {
  ensureBuilt();
  temp = tempDir();
  const store = ['--store', temp.storeUrl];
  await cliJson(['accounts', 'set', 'acme', '--tier', 'premium', '--enterprise', ...store]);
  const retail = await cliJson(['keys', 'create', '--account', 'acme', '--env', 'test', ...store]);
  retailKey = retail.apiKey;
  retailKeyId = retail.key.id;
  enterpriseKey = (await cliJson(['keys', 'create', '--account', 'acme', '--env', 'live', '--surface', 'enterprise', ...store])).apiKey;
  upstream = await startUpstream((req, res) => void handle(req, res));
  serve = await startServe([...store, '--upstream', upstream.url, '--upstream-timeout', '3000']);
}, 240_000);

afterAll(async () => {
  await serve?.stop();
  await upstream?.close();
  temp?.remove();
});

/** A raw request through node:http, so hop-by-hop headers fetch() forbids can be sent. */
function raw(
  path: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string; base?: string } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${options.base ?? serve.url}${path}`, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('what the upstream receives', () => {
  it('method, path, query and body intact; no Authorization; the identity headers added', async () => {
    const before = received.length;
    const response = await raw('/v1/invoices/42?x=1&y=%20z&y=2', {
      method: 'PUT',
      headers: { authorization: `Bearer ${retailKey}`, 'content-type': 'application/json', 'x-custom': 'kept' },
      body: JSON.stringify({ total: 99 }),
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream']).toBe('yes');
    expect(JSON.parse(response.body)).toEqual({ ok: true });
    expect(received).toHaveLength(before + 1);
    const entry = received.at(-1) as Received;
    expect(entry.method).toBe('PUT');
    expect(entry.url).toBe('/v1/invoices/42?x=1&y=%20z&y=2');
    expect(entry.body).toBe(JSON.stringify({ total: 99 }));
    expect(header(entry, 'authorization')).toEqual([]);
    expect(header(entry, 'x-custom')).toEqual(['kept']);
    expect(header(entry, 'content-type')).toEqual(['application/json']);
    expect(header(entry, 'finora-account-id')).toEqual(['acme']);
    expect(header(entry, 'finora-key-id')).toEqual([retailKeyId]);
    expect(header(entry, 'finora-environment')).toEqual(['test']);
    expect(header(entry, 'finora-module')).toEqual(['invoices']);
    expect(header(entry, 'x-forwarded-for')).toHaveLength(1);
    expect(entry.rawHeaders.join('\n')).not.toContain(retailKey);
  });

  it('drops identity headers the client sent, whatever their case', async () => {
    const response = await raw('/v1/customers', {
      headers: {
        authorization: `Bearer ${retailKey}`,
        'Finora-Account-Id': 'someone-else',
        'finora-key-id': 'key_forged',
        'FINORA-ENVIRONMENT': 'live',
        'fInOrA-mOdUlE': 'payments',
      },
    });
    expect(response.status).toBe(200);
    const entry = received.at(-1) as Received;
    expect(header(entry, 'finora-account-id')).toEqual(['acme']);
    expect(header(entry, 'finora-key-id')).toEqual([retailKeyId]);
    expect(header(entry, 'finora-environment')).toEqual(['test']);
    expect(header(entry, 'finora-module')).toEqual(['customers']);
  });

  it('handles hop-by-hop headers: the client\'s stop here, and so do the upstream\'s', async () => {
    const response = await raw('/v1/bills', {
      headers: {
        authorization: `Bearer ${retailKey}`,
        connection: 'keep-alive, x-private-hop',
        'x-private-hop': 'for the gateway only',
        'keep-alive': 'timeout=30',
        te: 'trailers',
        'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
        'x-end-to-end': 'forwarded',
      },
    });
    expect(response.status).toBe(200);
    const entry = received.at(-1) as Received;
    for (const name of ['x-private-hop', 'te', 'proxy-authorization', 'keep-alive']) expect(header(entry, name), name).toEqual([]);
    expect(header(entry, 'x-end-to-end')).toEqual(['forwarded']);
    expect(response.headers['proxy-authenticate']).toBeUndefined();
  });

  it('sends a module-less request on with the other identity headers but no Finora-Module', async () => {
    const response = await raw('/account/profile', { headers: { authorization: `Bearer ${retailKey}`, 'finora-module': 'ai' } });
    expect(response.status).toBe(200);
    const entry = received.at(-1) as Received;
    expect(entry.url).toBe('/account/profile');
    expect(header(entry, 'finora-module')).toEqual([]);
    expect(header(entry, 'finora-account-id')).toEqual(['acme']);
  });

  it('never forwards a refused request', async () => {
    const before = received.length;
    expect((await raw('/v1/invoices')).status).toBe(401);
    expect((await raw('/v1/payments', { headers: { authorization: `Bearer ${retailKey}` } })).status).toBe(403);
    expect((await raw('/V1/%50ayments/x', { headers: { authorization: `Bearer ${retailKey}` } })).status).toBe(403);
    expect((await raw('/v1/invoices/..%2f..%2fpayments', { headers: { authorization: `Bearer ${retailKey}` } })).status).toBe(403);
    expect((await raw('/v1/payments', { headers: { authorization: `Bearer ${enterpriseKey}` } })).status).toBe(200);
    expect(received.length).toBe(before + 1);
    expect(header(received.at(-1) as Received, 'finora-module')).toEqual(['payments']);
    expect(header(received.at(-1) as Received, 'finora-environment')).toEqual(['live']);
  });

  it('answers /healthz and /metrics itself', async () => {
    const before = received.length;
    expect((await raw('/healthz')).status).toBe(200);
    expect((await raw('/metrics')).body).toContain('finora_auth_upstream_duration_seconds_count');
    expect(received.length).toBe(before);
  });
});

describe('streaming', () => {
  it('streams a request body to the upstream before the client has finished sending it', async () => {
    turns = { firstChunkArrived: signal() };
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('a'.repeat(1000)));
        // The rest is sent only once the upstream holds the first part: a buffering proxy would wait forever.
        await turns.firstChunkArrived?.promise;
        controller.enqueue(encoder.encode('b'.repeat(1000)));
        controller.close();
      },
    });
    const response = await fetch(`${serve.url}/v1/documents/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${retailKey}` },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(200);
    // A body sent without a length reaches the upstream chunked, as it left the client.
    expect(await response.json()).toEqual({ bytes: 2000, transferEncoding: 'chunked' });
  });

  it('streams a response body to the client before the upstream has finished it', async () => {
    turns = { sendRest: signal() };
    const response = await fetch(`${serve.url}/v1/reports/download`, { headers: { authorization: `Bearer ${retailKey}` } });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('first;')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe('first;');
    turns.sendRest?.resolve();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe('first;rest');
  });
});

describe('upstream failures', () => {
  it('answers 504 UPSTREAM_TIMEOUT when the upstream stays silent past --upstream-timeout', async () => {
    turns = { slowArrived: signal(), releaseSlow: signal() };
    const response = await raw('/v1/tax/slow', { headers: { authorization: `Bearer ${retailKey}` } });
    turns.releaseSlow?.resolve();
    expect(response.status).toBe(504);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(response.body)).toEqual({ error: { code: 'UPSTREAM_TIMEOUT', message: expect.any(String) } });
  });

  it('answers 502 UPSTREAM_UNAVAILABLE when nothing listens upstream', async () => {
    const dead = await startServe(['--store', temp.storeUrl, '--upstream', `http://127.0.0.1:${await deadPort()}`]);
    let deadExit;
    try {
      const response = await raw('/v1/invoices', { base: dead.url, headers: { authorization: `Bearer ${retailKey}` } });
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body)).toEqual({ error: { code: 'UPSTREAM_UNAVAILABLE', message: expect.any(String) } });
      const metrics = await raw('/metrics', { base: dead.url });
      expect(metrics.body).toMatch(/^finora_auth_upstream_errors_total\{kind="unavailable"\} 1$/m);
    } finally {
      deadExit = await dead.stop(); // checked after: an expect() in finally would hide the error that got here
    }
    expect(deadExit).toEqual({ code: 0, signal: null });
  });
});

describe('logs', () => {
  it('logs proxied requests with the upstream status and never a key', async () => {
    // Lines are written in batches, at most 20 ms apart: wait for the last request's.
    await eventually(async () => serve.accessLog().some((line) => line.path === '/v1/tax/slow'), 2_000);
    const lines = serve.accessLog();
    expect(lines.find((line) => line.path === '/v1/invoices/42')).toMatchObject({
      method: 'PUT',
      status: 200,
      upstreamStatus: 200,
      reason: 'ok',
      accountId: 'acme',
      keyId: retailKeyId,
      module: 'invoices',
    });
    expect(lines.find((line) => line.path === '/v1/tax/slow')).toMatchObject({ status: 504, upstreamError: 'timeout' });
    const output = serve.stdout() + serve.stderr();
    expect(output.match(KEY_PATTERN)).toBeNull();
    for (const key of [retailKey, enterpriseKey]) expect(output).not.toContain(key.slice(8));
  });
});

describe('graceful shutdown', () => {
  it('on SIGTERM stops accepting, lets a slow proxied request finish, and exits 0', async () => {
    const gateway = await startServe(['--store', temp.storeUrl, '--upstream', upstream.url]);
    turns = { slowArrived: signal(), releaseSlow: signal() };
    const pending = raw('/v1/loans/slow', { base: gateway.url, headers: { authorization: `Bearer ${retailKey}` } });
    await turns.slowArrived?.promise;
    gateway.child.kill('SIGTERM');
    // The listener closes at once: a new connection is refused while the old request is still in flight.
    const refused = () => raw('/healthz', { base: gateway.url }).then(() => false, (error: Error) => /ECONNREFUSED/.test(error.message));
    await eventually(refused, 5_000);
    turns.releaseSlow?.resolve();
    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.body).toBe('slow done');
    expect(await gateway.exited).toEqual({ code: 0, signal: null });
    expect(gateway.stderr()).toMatch(/SIGTERM: finishing requests in flight/);
  });

  it('exits 1 at once on a second signal during shutdown, cutting what is still in flight', async () => {
    const gateway = await startServe(['--store', temp.storeUrl, '--upstream', upstream.url]);
    turns = { slowArrived: signal(), releaseSlow: signal() };
    const pending = raw('/v1/loans/slow', { base: gateway.url, headers: { authorization: `Bearer ${retailKey}` } }).catch((error: Error) => error);
    await turns.slowArrived?.promise;
    gateway.child.kill('SIGTERM');
    await eventually(async () => /SIGTERM: finishing requests in flight/.test(gateway.stderr()), 5_000);
    gateway.child.kill('SIGINT');
    expect(await gateway.exited).toEqual({ code: 1, signal: null });
    expect(await pending).toBeInstanceOf(Error);
    turns.releaseSlow?.resolve();
  });
});
