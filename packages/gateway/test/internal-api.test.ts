// The gateway's internal API (what HttpKeyStore asks): one token for every path, lookups by digest, bounded event streams, and metering POSTs.

import { createKeyManager, MemoryKeyStore, sha256Hex, type KeyStore } from '@finora-auth/core';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createInternalApi, type InternalApi, type InternalApiOptions } from '../src/internal-api';

const open: { server: Server; api: InternalApi }[] = [];
afterEach(async () => {
  for (const { server, api } of open.splice(0)) {
    api.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function start(options: Partial<InternalApiOptions> = {}) {
  const store = new MemoryKeyStore();
  const token = randomBytes(32).toString('hex');
  const api = createInternalApi({ store, token, ...options });
  const server = createServer((req, res) => {
    if (!api.handle(req, res)) res.writeHead(299).end('not internal');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push({ server, api });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const bearer = init.token === undefined ? token : init.token;
    return fetch(`${url}${path}`, { ...init, headers: { ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }), ...(init.headers as Record<string, string>) } });
  };
  /** POSTs `body` as JSON (a string is sent as it is). */
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    get(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  const manager = createKeyManager({ store });
  await manager.putAccount({ id: 'acct_internal', tier: 'premium' });
  return { api, store, token, url, get, post, manager };
}

/** Reads a stream's text until `until` holds for it. */
async function readUntil(response: Response, until: (text: string) => boolean): Promise<string> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  while (!until(text)) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  return text;
}

describe('internal API', () => {
  it('answers a key by its digest and a service account by client id, with no-store, and null for none', async () => {
    const { get, manager, store } = await start();
    const { apiKey, key } = await manager.issue({ accountId: 'acct_internal', environment: 'live' });
    const hash = await sha256Hex(apiKey);
    const found = await get(`/internal/keys/${hash}`);
    expect(found.status).toBe(200);
    expect(found.headers.get('cache-control')).toBe('no-store');
    expect(await found.json()).toEqual({ record: await store.findByHash(hash) });
    expect(found.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await (await get(`/internal/keys/${'0'.repeat(64)}`)).json()).toEqual({ record: null });
    expect(await (await get('/internal/service-accounts/sa_unknown')).json()).toEqual({ record: null });
    expect(JSON.stringify(await (await get(`/internal/keys/${hash}`)).json())).toContain(key.id);
  });

  it('answers every /internal/ path, known or not, with the same 401 and no data without the right token', async () => {
    const { get, manager } = await start();
    const { apiKey } = await manager.issue({ accountId: 'acct_internal', environment: 'live' });
    const hash = await sha256Hex(apiKey);
    const bodies = new Set<string>();
    for (const path of [`/internal/keys/${hash}`, '/internal/events', '/internal/nothing', '/internal', '/internal/keys/x?y']) {
      for (const token of [null, randomBytes(32).toString('hex'), '', apiKey]) {
        const response = await get(path, { token });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer realm="finora-internal"');
        bodies.add(await response.text());
      }
    }
    expect(bodies.size).toBe(1);
    expect([...bodies][0]).not.toContain('acct_internal');
  });

  it('with the token: 404 for an unknown internal path, 405 for a write, 400 for a malformed digest; other paths are not its business', async () => {
    const { get } = await start();
    expect((await get('/internal/accounts/acct_internal')).status).toBe(404);
    expect((await get('/internal/keys')).status).toBe(404);
    const post = await get(`/internal/keys/${'a'.repeat(64)}`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await get(`/internal/keys/${'A'.repeat(64)}`)).status).toBe(400);
    expect((await get('/internal/keys/live_sk_0000')).status).toBe(400);
    for (const path of ['/internalx', '/v1/invoices', '/Internal/keys/x']) expect((await get(path)).status).toBe(299);
  });

  it('answers 503 (fail closed) when its store fails or hangs past lookupTimeoutMs', async () => {
    const store = new MemoryKeyStore();
    const token = randomBytes(32).toString('hex');
    const failing = new Proxy(store, {
      get(target, property) {
        if (property === 'findByHash') return () => new Promise(() => {}); // hangs, ignoring the signal
        if (property === 'findServiceAccount') return () => Promise.reject(new Error('store down'));
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const api = createInternalApi({ store: failing, token, lookupTimeoutMs: 200 });
    const server = createServer((req, res) => void api.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    open.push({ server, api });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const headers = { authorization: `Bearer ${token}` };
    const hung = await fetch(`${url}/internal/keys/${'b'.repeat(64)}`, { headers });
    expect(hung.status).toBe(503);
    expect(hung.headers.get('retry-after')).toBe('1');
    expect((await fetch(`${url}/internal/service-accounts/sa_x`, { headers })).status).toBe(503);
  });

  it('streams ready, then every store event, with heartbeats, to each client', async () => {
    const { get, manager, api } = await start({ heartbeatMs: 50 });
    const stream = await get('/internal/events');
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    expect(api.streams).toBe(1);
    const { apiKey, key } = await manager.issue({ accountId: 'acct_internal', environment: 'live' });
    await manager.revoke(key.id);
    const text = await readUntil(stream, (t) => t.split('event: key-changed').length > 2 && t.includes(':\n\n'));
    expect(text.startsWith('event: ready\ndata: {"live":true}\n\n')).toBe(true);
    expect(text).toContain(`event: key-changed\ndata: {"keyHash":"${await sha256Hex(apiKey)}"}\n\n`);
    expect(text).not.toContain(apiKey);
  });

  it('bounds its streams: one past maxStreams is 503; close() ends every stream', async () => {
    const { get, api } = await start({ maxStreams: 2 });
    const first = await get('/internal/events');
    const second = await get('/internal/events');
    const third = await get('/internal/events');
    expect(third.status).toBe(503);
    expect(api.streams).toBe(2);
    api.close();
    for (const stream of [first, second]) {
      const text = await readUntil(stream, () => false); // reads to the end: close() must end it
      expect(text).toContain('event: ready');
    }
    expect(api.streams).toBe(0);
  });

  it('cuts a client that stops reading instead of buffering for it without bound', async () => {
    const { get, api, store } = await start({ maxQueuedBytes: 16 * 1024 });
    const stalled = await get('/internal/events'); // never read from here on
    expect(api.streams).toBe(1);
    for (let i = 0; i < 20_000 && api.streams > 0; i++) {
      await store.putAccount({ id: `acct_flood_${i}_${'x'.repeat(200)}`, tier: 'premium', enterprise: false });
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(api.streams).toBe(0);
    await stalled.body?.cancel().catch(() => {});
  });

  it('refuses a short token or a store that is not one at setup', () => {
    const store = new MemoryKeyStore();
    expect(() => createInternalApi({ store, token: 'short' })).toThrow(/32 or more/);
    expect(() => createInternalApi({ store: {} as never, token: randomBytes(32).toString('hex') })).toThrow(/KeyStore/);
  });

  it('(metering) answers take, return, usage and rate-window POSTs from its store', async () => {
    const { post, manager, store } = await start();
    await manager.grantCredits('acct_internal', 100);
    const take = await post('/internal/credits/take', { accountId: 'acct_internal', want: 30, min: 1 });
    expect(take.status).toBe(200);
    expect(take.headers.get('cache-control')).toBe('no-store');
    expect(await take.json()).toEqual({ granted: 30, balance: 70, metered: true });
    expect(await (await post('/internal/credits/take', { accountId: 'acct_unknown', want: 5, min: 1 })).json()).toEqual({ granted: 0, balance: 0, metered: false });
    expect(await (await post('/internal/credits/return', { accountId: 'acct_internal', amount: 10 })).json()).toEqual({ returned: 10 });
    expect((await store.getCredits('acct_internal'))?.balance).toBe(80);
    const row = { day: '2026-06-02', accountId: 'acct_internal', keyId: 'key_a', environment: 'live', module: 'invoices', allowed: 3, creditsSpent: 3 };
    expect(await (await post('/internal/usage', { rows: [row, { ...row, module: undefined }] })).json()).toEqual({ rows: 2 });
    expect(await store.listUsage('acct_internal', '2026-06-02', '2026-06-02')).toEqual([
      { day: '2026-06-02', keyId: 'key_a', environment: 'live', allowed: 3, creditsSpent: 3 },
      { day: '2026-06-02', keyId: 'key_a', environment: 'live', module: 'invoices', allowed: 3, creditsSpent: 3 },
    ]);
    const window = { bucket: 'key_a', windowStart: 1_700_000_000_000, by: 4, ttlMs: 120_000 };
    expect(await (await post('/internal/rate-windows/increment', window)).json()).toEqual({ count: 4 });
    expect(await (await post('/internal/rate-windows/increment', { ...window, by: 0 })).json()).toEqual({ count: 4 });
  });

  it('(metering) POST only, behind the same token as every other internal path', async () => {
    const { get, post } = await start();
    const unauthorized = await (await get('/internal/keys/x', { token: null })).text();
    for (const path of ['/internal/credits/take', '/internal/credits/return', '/internal/usage', '/internal/rate-windows/increment']) {
      const wrong = await post(path, { accountId: 'acct_internal', want: 1, min: 1 }, { authorization: `Bearer ${randomBytes(32).toString('hex')}` });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toBe(unauthorized);
      const read = await get(path);
      expect(read.status).toBe(405);
      expect(read.headers.get('allow')).toBe('POST');
    }
  });

  it('(metering) refuses, whole, any body that is not exactly what the store takes: 400, 413, 415', async () => {
    const { post, store, manager } = await start();
    await manager.grantCredits('acct_internal', 100);
    const row = { day: '2026-06-02', accountId: 'acct_internal', keyId: 'key_a', environment: 'live', allowed: 1, creditsSpent: 1 };
    const cases: Array<[string, unknown]> = [
      ['/internal/credits/take', { accountId: 'acct_internal', want: 5, min: 1, now: Date.UTC(2099, 0, 1) }], // the edge's clock is never taken
      ['/internal/credits/take', { accountId: 'acct_internal', want: 5 }],
      ['/internal/credits/take', { accountId: 'acct_internal', want: 5, min: 6 }],
      ['/internal/credits/take', { accountId: 'acct_internal', want: -1, min: 0 }],
      ['/internal/credits/take', { accountId: 'acct_internal', want: 1.5, min: 1 }],
      ['/internal/credits/take', { accountId: 'acct_internal', want: '5', min: 1 }],
      ['/internal/credits/take', { accountId: 'acct_internal', want: 1_000_001, min: 1 }],
      ['/internal/credits/take', { accountId: '', want: 5, min: 1 }],
      ['/internal/credits/take', { accountId: 'a'.repeat(129), want: 5, min: 1 }],
      ['/internal/credits/take', { accountId: 'acct internal', want: 5, min: 1 }],
      ['/internal/credits/take', [{ accountId: 'acct_internal', want: 5, min: 1 }]],
      ['/internal/credits/take', '{"accountId":"acct_internal","want":5,'],
      ['/internal/credits/return', { accountId: 'acct_internal', amount: 1e300 }],
      ['/internal/usage', { rows: [{ ...row, day: '2026-02-30' }] }],
      ['/internal/usage', { rows: [{ ...row, day: '2026-6-2' }] }],
      ['/internal/usage', { rows: [{ ...row, environment: 'staging' }] }],
      ['/internal/usage', { rows: [{ ...row, module: 'not-a-module' }] }],
      ['/internal/usage', { rows: [{ ...row, allowed: -1 }] }],
      ['/internal/usage', { rows: [{ ...row, keyId: 'key/../a' }] }],
      ['/internal/usage', { rows: [{ ...row, extra: true }] }],
      ['/internal/usage', { rows: [row, 'row'] }],
      ['/internal/usage', { rows: Array.from({ length: 1_001 }, () => row) }],
      ['/internal/usage', { rows: row }],
      ['/internal/rate-windows/increment', { bucket: 'key_a', windowStart: -1, by: 1, ttlMs: 1_000 }],
      ['/internal/rate-windows/increment', { bucket: 'key_a', windowStart: 0, by: 1, ttlMs: 0 }],
      ['/internal/rate-windows/increment', { bucket: 'key_a', windowStart: 0, by: 1, ttlMs: 1e12 }],
      ['/internal/rate-windows/increment', { bucket: 'key_a', windowStart: 0, by: 1 }],
    ];
    for (const [path, body] of cases) {
      const response = await post(path, body);
      expect(response.status, `${path} ${JSON.stringify(body)?.slice(0, 200)}`).toBe(400);
      expect((await response.json()).error.code).toBe('BAD_REQUEST');
    }
    // Nothing of a refused batch was applied, nor of a refused take.
    expect(await store.listUsage('acct_internal', '2026-06-02', '2026-06-02')).toEqual([]);
    expect((await store.getCredits('acct_internal'))?.balance).toBe(100);
    const text = await post('/internal/credits/take', JSON.stringify({ accountId: 'acct_internal', want: 1, min: 1 }), { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    const big = await post('/internal/credits/take', { accountId: 'acct_internal', want: 1, min: 1, pad: 'x'.repeat(2_000) });
    expect(big.status).toBe(413);
    const hugeUsage = await post('/internal/usage', { rows: [{ ...row, keyId: 'x'.repeat(600 * 1024) }] });
    expect(hugeUsage.status).toBe(413);
    expect((await store.getCredits('acct_internal'))?.balance).toBe(100);
  });

  it('(metering) judges a take on its own clock: an edge whose clock runs ahead cannot refill early', async () => {
    let clock = Date.UTC(2026, 5, 15, 12);
    const { post, store, manager } = await start({ now: () => clock });
    await manager.grantCredits('acct_internal', 10);
    await manager.setCreditRefill('acct_internal', { amount: 1_000, period: 'month' });
    const take = (want: number) => post('/internal/credits/take', { accountId: 'acct_internal', want, min: 1 });
    expect(await (await take(5)).json()).toEqual({ granted: 5, balance: 995, metered: true }); // June's refill
    expect(await (await take(5)).json()).toEqual({ granted: 5, balance: 990, metered: true });
    expect((await store.getCredits('acct_internal'))?.refilledPeriod).toBe('2026-06');
    clock = Date.UTC(2026, 6, 1, 0, 0, 1);
    expect(await (await take(5)).json()).toEqual({ granted: 5, balance: 995, metered: true }); // July's, on the gateway's clock
  });

  it('(metering) gives back at most what was taken through it: the token cannot mint credits', async () => {
    const { post, store, manager, api } = await start();
    await manager.grantCredits('acct_internal', 100);
    const give = (amount: number) => post('/internal/credits/return', { accountId: 'acct_internal', amount });
    expect(await (await give(50)).json()).toEqual({ returned: 0 });
    expect((await store.getCredits('acct_internal'))?.balance).toBe(100);
    await post('/internal/credits/take', { accountId: 'acct_internal', want: 10, min: 1 });
    expect(api.outstandingCredits('acct_internal')).toBe(10);
    expect(await (await give(15)).json()).toEqual({ returned: 10 });
    expect(await (await give(1)).json()).toEqual({ returned: 0 });
    expect((await store.getCredits('acct_internal'))?.balance).toBe(100);
    expect(api.outstandingCredits('acct_internal')).toBe(0);
  });

  it('(metering) answers 501 when its store keeps no credits, 503 when the store fails or hangs', async () => {
    const token = randomBytes(32).toString('hex');
    const serveOn = async (store: KeyStore) => {
      const api = createInternalApi({ store, token, lookupTimeoutMs: 200 });
      const server = createServer((req, res) => void api.handle(req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      open.push({ server, api });
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return (path: string, body: unknown) =>
        fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    };
    const replaced = (overrides: Record<string, unknown>) =>
      new Proxy(new MemoryKeyStore(), {
        get(target, property) {
          if (typeof property === 'string' && property in overrides) return overrides[property];
          const value: unknown = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const take = { accountId: 'acct_internal', want: 1, min: 1 };
    const window = { bucket: 'key_a', windowStart: 0, by: 1, ttlMs: 1_000 };
    const v1 = await serveOn(replaced({ takeCredits: undefined, incrementRateWindow: undefined }));
    expect((await v1('/internal/credits/take', take)).status).toBe(501);
    expect((await v1('/internal/rate-windows/increment', window)).status).toBe(501);
    const failing = await serveOn(
      replaced({ takeCredits: () => new Promise(() => {}), incrementRateWindow: () => Promise.reject(new Error('store down')) }),
    );
    const hung = await failing('/internal/credits/take', take);
    expect(hung.status).toBe(503);
    expect(hung.headers.get('retry-after')).toBe('1');
    expect((await failing('/internal/rate-windows/increment', window)).status).toBe(503);
  });
});
