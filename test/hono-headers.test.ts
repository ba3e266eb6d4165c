// The Hono adapter's response headers on every allowed answer, however the handler built it: over real @hono/node-server
// (where they go on the Node response) and through app.request() as a fetch runtime sees it (set on the Response).

import type { AddressInfo } from 'node:net';
import { createAuthenticator, createKeyManager, MemoryKeyStore, type Authenticator } from '@finora-auth/core';
import { finoraAuth, type FinoraAuthEnv } from '@finora-auth/hono';
import { serve, type ServerType } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from './support/adapters';

const SHARED: Record<string, string> = { 'X-Handler': 'shared' };

type Get = (path: string, apiKey: string) => Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }>;

/** Real HTTP through @hono/node-server. */
async function overNodeServer(app: Hono<FinoraAuthEnv>): Promise<{ get: Get; close: () => Promise<void> }> {
  const server = await new Promise<ServerType>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get: (path, apiKey) => send(origin, path, { authorization: `Bearer ${apiKey}` }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** `app.request()`: no Node response at hand, as on Workers, Deno or Bun. */
async function overFetch(app: Hono<FinoraAuthEnv>): Promise<{ get: Get; close: () => Promise<void> }> {
  return {
    get: async (path, apiKey) => {
      const response = await app.request(path, { headers: { authorization: `Bearer ${apiKey}` } });
      return { status: response.status, text: await response.text(), headers: Object.fromEntries(response.headers) };
    },
    close: async () => {},
  };
}

describe.each([
  { name: '@hono/node-server', start: overNodeServer },
  { name: 'app.request()', start: overFetch },
])('hono on $name: the core\'s headers on every allowed answer', ({ start }) => {
  let authenticator: Authenticator;
  let served: { get: Get; close: () => Promise<void> };
  let apiKey: string;
  const get = (path: string) => served.get(path, apiKey);

  beforeAll(async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store, keyTtlDays: 7 });
    // Metered, rate limited and near its expiry: an allowed answer carries all three kinds of header.
    await manager.putAccount({ id: 'headers', tier: 'premium', rateLimit: { requests: 1_000, perSeconds: 60 } });
    await manager.grantCredits('headers', 100);
    ({ apiKey } = await manager.issue({ accountId: 'headers', environment: 'live' }));
    authenticator = createAuthenticator({ store });
    const app = new Hono<FinoraAuthEnv>();
    app.use('/v1/*', finoraAuth({ authenticator }));
    app.get('/v1/json', (c) => {
      c.header('X-Handler', 'json');
      return c.json({ credits: c.get('auth').creditsRemaining });
    });
    app.get('/v1/own', (c) => new Response(`credits ${c.get('auth').creditsRemaining}`, { headers: { 'X-Handler': 'own' } }));
    // One headers object for every answer, as a handler may keep: the adapter must never write into it.
    app.get('/v1/shared', (c) => new Response(`credits ${c.get('auth').creditsRemaining}`, { headers: SHARED }));
    // A handler that answers on the Node response itself (node-server's RESPONSE_ALREADY_SENT): Node's implicit head.
    app.get('/v1/raw', (c) => {
      const outgoing = (c.env as { outgoing?: import('node:http').ServerResponse } | undefined)?.outgoing;
      if (!outgoing) return c.text(`credits ${c.get('auth').creditsRemaining}`);
      outgoing.end(`credits ${c.get('auth').creditsRemaining}`);
      return RESPONSE_ALREADY_SENT;
    });
    // A redirect's headers are immutable (as a fetch() answer passed on is): the adapter must copy it, not throw.
    app.get('/v1/redirect', () => Response.redirect('http://127.0.0.1/elsewhere', 302));
    // A handler that sets one of the names itself keeps its value, as under the Express and Koa adapters.
    app.get('/v1/own-policy', (c) => new Response('ok', { headers: { 'RateLimit-Policy': '"handler";q=1;w=1' } }));
    served = await start(app);
  });
  afterAll(async () => {
    await served?.close();
    await authenticator?.close();
  });

  const expectCoreHeaders = (headers: Record<string, string | string[] | undefined>, remaining: number) => {
    expect(headers['finora-credits-remaining']).toBe(String(remaining));
    expect(headers['ratelimit-policy']).toBe('"default";q=1000;w=60');
    expect(headers['ratelimit']).toMatch(/^"default";r=\d+;t=\d+$/);
    expect(Date.parse(String(headers['finora-key-expires-at']))).toBeGreaterThan(Date.now());
  };

  it('c.json(): the handler\'s own headers and body stay, the core\'s are added', async () => {
    const reply = await get('/v1/json');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.headers['x-handler']).toBe('json');
    const { credits } = JSON.parse(reply.text) as { credits: number };
    expectCoreHeaders(reply.headers, credits);
  });

  it('a Response the handler built itself carries them too', async () => {
    const reply = await get('/v1/own');
    expect(reply.status).toBe(200);
    expect(reply.headers['x-handler']).toBe('own');
    const credits = Number(/^credits (\d+)$/.exec(reply.text)?.[1]);
    expectCoreHeaders(reply.headers, credits);
  });

  it('so does a Response with immutable headers', async () => {
    const reply = await get('/v1/redirect');
    expect(reply.status).toBe(302);
    expect(reply.headers.location).toBe('http://127.0.0.1/elsewhere');
    expect(Number(reply.headers['finora-credits-remaining'])).toBeGreaterThanOrEqual(0);
    expectCoreHeaders(reply.headers, Number(reply.headers['finora-credits-remaining']));
  });

  it('a value the handler set itself is kept; the others are added', async () => {
    const reply = await get('/v1/own-policy');
    expect(reply.status).toBe(200);
    expect(reply.headers['ratelimit-policy']).toBe('"handler";q=1;w=1');
    expect(reply.headers['ratelimit']).toMatch(/^"default";r=\d+;t=\d+$/);
    expect(reply.headers['finora-credits-remaining']).toMatch(/^\d+$/);
  });

  it('a headers object the handler reuses is never written into: each answer carries its own balance', async () => {
    const first = await get('/v1/shared');
    const second = await get('/v1/shared');
    // (node-server itself adds Content-Length to it; nothing of finora-auth's may be there.)
    expect(Object.keys(SHARED).filter((name) => /ratelimit|finora/i.test(name))).toEqual([]);
    for (const reply of [first, second]) {
      expect(reply.headers['x-handler']).toBe('shared');
      expectCoreHeaders(reply.headers, Number(/^credits (\d+)$/.exec(reply.text)?.[1]));
    }
    expect(Number(second.headers['finora-credits-remaining'])).toBe(Number(first.headers['finora-credits-remaining']) - 1);
  });

  it('a handler that writes the Node response itself gets them too', async () => {
    const reply = await get('/v1/raw');
    expect(reply.status).toBe(200);
    expectCoreHeaders(reply.headers, Number(/^credits (\d+)$/.exec(reply.text)?.[1]));
  });

  it('each answer shows the balance after its own request', async () => {
    const first = await get('/v1/own');
    const second = await get('/v1/json');
    expect(Number(second.headers['finora-credits-remaining'])).toBe(Number(first.headers['finora-credits-remaining']) - 1);
  });
});
