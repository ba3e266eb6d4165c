// createGateway in-process on a MemoryKeyStore: expiry warnings, upstream base paths, aborts, health, option checks.

import { request, type IncomingMessage } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createKeyManager, MemoryKeyStore, type DecisionEvent, type KeyStore } from '@finora-auth/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { AccessRecord } from '../src/access-log';
import { createGateway, type Gateway, type GatewayOptions } from '../src/gateway';
import { startUpstream, type Upstream } from './support';
import { eventually } from '@finora-auth/core/testing';

const DAY = 86_400_000;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

async function setup(options: Partial<GatewayOptions> = {}, keyAgeDays = 0) {
  const store = new MemoryKeyStore();
  const manager = createKeyManager({ store, now: () => Date.now() - keyAgeDays * DAY });
  await manager.putAccount({ id: 'acme', tier: 'premium' });
  const issued = await manager.issue({ accountId: 'acme', environment: 'test' });
  const lines: AccessRecord[] = [];
  const gateway = createGateway({
    store,
    accessLog: { write: (chunk: string) => lines.push(...chunk.trim().split('\n').map((line) => JSON.parse(line))) },
    ...options,
  });
  const address = await gateway.listen(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  return { store, manager, gateway, url: address.url, address, key: issued.apiKey, keyId: issued.key.id, lines };
}

async function upstream(handler: Parameters<typeof startUpstream>[0]): Promise<Upstream> {
  const server = await startUpstream(handler);
  cleanups.push(() => server.close());
  return server;
}

describe('createGateway', () => {
  it('checks its options, naming the one that is wrong', () => {
    expect(() => createGateway({} as GatewayOptions)).toThrow(/options\.store/);
    const store = new MemoryKeyStore();
    expect(() => createGateway({ store, upstream: 'localhost:3000' })).toThrow(/upstream must be an http/);
    expect(() => createGateway({ store, upstreamTimeoutMs: 0 })).toThrow(/upstreamTimeoutMs/);
    expect(() => createGateway({ store, maxHeaderSize: 10 })).toThrow(/maxHeaderSize/);
    expect(() => createGateway({ store, metrics: { port: -1 } })).toThrow(/metrics\.port/);
    expect(() => createGateway({ store, accessLog: 'stdout' as never })).toThrow(/accessLog/);
  });

  it('warns of a key expiring within 14 days with Finora-Key-Expires-At, on demo and proxied answers', async () => {
    const { url, key } = await setup({}, 80);
    const demo = await fetch(`${url}/v1/invoices`, { headers: { authorization: `Bearer ${key}` } });
    expect(demo.status).toBe(200);
    const expiresAt = demo.headers.get('finora-key-expires-at');
    expect(expiresAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(Date.parse(expiresAt as string) - Date.now()).toBeLessThan(11 * DAY);

    const api = await upstream((_req, res) => res.end('ok'));
    const proxied = await setup({ upstream: api.url }, 80);
    const response = await fetch(`${proxied.url}/v1/invoices`, { headers: { authorization: `Bearer ${proxied.key}` } });
    expect(await response.text()).toBe('ok');
    expect(response.headers.get('finora-key-expires-at')).toMatch(/^\d{4}-\d\d-\d\dT/);

    const fresh = await setup({ upstream: api.url }, 0);
    const quiet = await fetch(`${fresh.url}/v1/invoices`, { headers: { authorization: `Bearer ${fresh.key}` } });
    expect(quiet.headers.get('finora-key-expires-at')).toBeNull();
  });

  it('prefixes the upstream URL\'s path, and passes HEAD and 204 answers through', async () => {
    const seen: string[] = [];
    const api = await upstream((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url?.endsWith('/empty')) res.writeHead(204).end();
      else res.writeHead(200, { 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello');
    });
    const { url, key } = await setup({ upstream: `${api.url}/internal/` });
    const head = await fetch(`${url}/v2/products?sku=1`, { method: 'HEAD', headers: { authorization: `Bearer ${key}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('5');
    const empty = await fetch(`${url}/v2/products/empty`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });
    expect(empty.status).toBe(204);
    expect(seen).toEqual(['HEAD /internal/v2/products?sku=1', 'DELETE /internal/v2/products/empty']);
  });

  it('refuses an absolute-form request target with 400', async () => {
    const { address } = await setup();
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: address.port, path: 'http://elsewhere.example/v1/invoices' }, resolve);
      req.on('error', reject);
      req.end();
    });
    expect(response.statusCode).toBe(400);
  });

  it('stops the upstream request when the client goes away, and logs it as aborted', async () => {
    let upstreamSawClose!: () => void;
    let upstreamGotIt!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamSawClose = resolve));
    const arrived = new Promise<void>((resolve) => (upstreamGotIt = resolve));
    const api = await upstream((req) => {
      req.socket.once('close', () => upstreamSawClose());
      upstreamGotIt();
    });
    const { url, key, lines } = await setup({ upstream: api.url });
    const controller = new AbortController();
    const pending = fetch(`${url}/v1/expenses`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
    await arrived;
    controller.abort();
    await expect(pending).rejects.toThrow();
    await closed;
    await eventually(async () => lines.some((line) => line.path === '/v1/expenses'), 2_000); // lines are written in batches
    expect(lines.find((line) => line.path === '/v1/expenses')).toMatchObject({ aborted: true, upstreamError: 'aborted' });
  });

  it('reports the store in /healthz, 503 when it fails, and asks it at most once a second', async () => {
    const inner = new MemoryKeyStore();
    let failing = false;
    let asked = 0;
    const store: KeyStore = Object.assign(Object.create(inner), {
      getAccount: async (id: string) => {
        asked += 1;
        if (failing) throw new Error('down');
        return inner.getAccount(id);
      },
      subscribe: inner.subscribe.bind(inner),
      findByHash: inner.findByHash.bind(inner),
    });
    let now = Date.UTC(2026, 0, 15);
    const gateway = createGateway({ store, accessLog: false, healthTimeoutMs: 200, authenticator: { now: () => now } });
    const { url } = await gateway.listen(0, '127.0.0.1');
    cleanups.push(() => gateway.close());
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', store: 'ok' });
    await Promise.all(Array.from({ length: 20 }, () => fetch(`${url}/healthz`)));
    failing = true;
    now += 999;
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', store: 'ok' });
    expect(asked).toBe(1);
    now += 1;
    const down = await fetch(`${url}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'degraded', store: 'unreachable' });
    expect(asked).toBe(2);
  });

  it('passes decisions to a caller\'s onDecision too, and keeps /metrics behind the key when metrics are off', async () => {
    const events: DecisionEvent[] = [];
    const { url, key } = await setup({ metrics: false, authenticator: { onDecision: (event) => events.push(event) } });
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const withKey = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
    expect(withKey.status).toBe(404);
    expect(events.map((event) => event.reason)).toEqual(['missing', 'ok']);
  });

  it('finishes a request in flight on close(), then stops listening', async () => {
    let release!: () => void;
    let upstreamGotIt!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (upstreamGotIt = resolve));
    const api = await upstream(async (_req, res) => {
      upstreamGotIt();
      await gate;
      res.end('done');
    });
    const { url, key, gateway } = await setup({ upstream: api.url });
    const pending = fetch(`${url}/v1/payroll`, { headers: { authorization: `Bearer ${key}` } });
    await arrived;
    const closing = gateway.close();
    // Closing has begun (no new connections) while the request is still held upstream.
    await eventually(async () => !gateway.server.listening, 2_000);
    release();
    const response = await pending;
    expect(await response.text()).toBe('done');
    expect(await closing).toEqual({ forced: 0 });
    expect(gateway.server.listening).toBe(false);
  });

  it('retries a body-less GET once when the upstream drops a kept-alive connection as it is reused; never a POST', async () => {
    // An upstream that answers the first request on each connection (keeping it alive) and drops the
    // connection when a second one arrives on it: the race a proxy meets when an idle connection closes.
    // It drops every POST too, to show a request with a body is not sent twice.
    const sockets = new Set<Socket>();
    let served = 0;
    let posts = 0;
    const api = createNetServer((socket) => {
      sockets.add(socket);
      let requests = 0;
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        const text = chunk.toString('latin1');
        if (!text.includes('\r\n\r\n')) return;
        requests += 1;
        if (text.startsWith('POST ')) posts += 1;
        if (requests > 1 || text.startsWith('POST ')) {
          socket.destroy();
          return;
        }
        served += 1;
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\nok');
      });
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => api.close(resolve));
    });
    const { url, key, lines } = await setup({ upstream: `http://127.0.0.1:${(api.address() as AddressInfo).port}` });
    const headers = { authorization: `Bearer ${key}` };
    expect(await (await fetch(`${url}/v1/invoices/1`, { headers })).text()).toBe('ok');
    // Same upstream connection again: dropped, then retried on a new one.
    const retried = await fetch(`${url}/v1/invoices/2`, { headers });
    expect(retried.status).toBe(200);
    expect(await retried.text()).toBe('ok');
    expect(served).toBe(2);
    const posted = await fetch(`${url}/v1/invoices`, { method: 'POST', headers, body: 'x' });
    expect(posted.status).toBe(502);
    expect(posts).toBe(1);
    await eventually(async () => lines.some((line) => line.method === 'POST'), 2_000);
    expect(lines.find((line) => line.method === 'POST')).toMatchObject({ status: 502, upstreamError: 'unavailable' });
  });

  it('puts each decision on its own request\'s log line when many requests with different keys interleave', async () => {
    // A store that answers lookups in batches, in shuffled order, all in one tick: decisions for different keys
    // then complete together, the case where pairing a decision with its request could go wrong.
    const inner = new MemoryKeyStore();
    let waiting: (() => void)[] = [];
    const store: KeyStore = Object.assign(Object.create(inner), {
      findByHash: async (hash: string) => {
        if (waiting.length === 0) {
          setTimeout(() => {
            const batch = waiting.sort(() => Math.random() - 0.5);
            waiting = [];
            for (const release of batch) release();
          }, 5);
        }
        await new Promise<void>((resolve) => waiting.push(resolve));
        return inner.findByHash(hash);
      },
      subscribe: inner.subscribe.bind(inner),
    });
    const manager = createKeyManager({ store: inner });
    const keys: { apiKey: string; keyId: string; accountId: string }[] = [];
    for (const [i, tier] of (['premium', 'premium', 'accountant_pro', 'free'] as const).entries()) {
      await manager.putAccount({ id: `acct-${i}`, tier: tier === 'free' ? 'premium' : tier });
      const issued = await manager.issue({ accountId: `acct-${i}`, environment: i % 2 ? 'live' : 'test' });
      keys.push({ apiKey: issued.apiKey, keyId: issued.key.id, accountId: `acct-${i}` });
      if (tier === 'free') await manager.putAccount({ id: `acct-${i}`, tier: 'free' });
    }
    const revoked = keys[1] as (typeof keys)[number];
    await manager.revoke(revoked.keyId);
    const api = await upstream((_req, res) => setTimeout(() => res.end('ok'), Math.random() * 10));
    // No cache: every request waits on the store, so many decisions land in the same tick.
    const { url, lines } = await setup({ store, upstream: api.url, authenticator: { cache: false } });
    const plan = Array.from({ length: 120 }, (_, i) => (i % 6 === 5 ? undefined : keys[i % 4]));
    await Promise.all(
      plan.map(async (key, i) => {
        const response = await fetch(`${url}/v1/invoices/${i}`, { headers: key ? { authorization: `Bearer ${key.apiKey}` } : {} });
        await response.arrayBuffer();
      }),
    );
    await eventually(async () => lines.length >= plan.length, 2_000);
    plan.forEach((key, i) => {
      const line = lines.find((entry) => entry.path === `/v1/invoices/${i}`);
      const expected = !key
        ? { reason: 'missing', status: 401 }
        : key === revoked
          ? { reason: 'revoked', status: 401, keyId: key.keyId, accountId: key.accountId }
          : key.accountId === 'acct-3'
            ? { reason: 'free-tier', status: 403, keyId: key.keyId, accountId: key.accountId }
            : { reason: 'ok', status: 200, keyId: key.keyId, accountId: key.accountId };
      expect(line, `request ${i}`).toMatchObject(expected);
      if (!key) expect(line?.keyId, `request ${i}`).toBeUndefined();
    });
  });

  it('cuts requests still running at the shutdown deadline', async () => {
    let upstreamGotIt!: () => void;
    const arrived = new Promise<void>((resolve) => (upstreamGotIt = resolve));
    const api = await upstream(() => upstreamGotIt()); // never answers
    const { url, key, gateway } = await setup({ upstream: api.url, shutdownTimeoutMs: 100 });
    const pending = fetch(`${url}/v1/payroll`, { headers: { authorization: `Bearer ${key}` } }).catch((error: Error) => error);
    await arrived;
    expect(await gateway.close()).toEqual({ forced: 1 });
    expect(await pending).toBeInstanceOf(Error);
  });
});
