// The gateway's internal API (what HttpKeyStore asks): one token for every path, lookups by digest, and bounded event streams.

import { createKeyManager, MemoryKeyStore, sha256Hex } from '@finora-auth/core';
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
    return fetch(`${url}${path}`, { ...init, headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` } });
  };
  const manager = createKeyManager({ store });
  await manager.putAccount({ id: 'acct_internal', tier: 'premium' });
  return { api, store, token, url, get, manager };
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
});
