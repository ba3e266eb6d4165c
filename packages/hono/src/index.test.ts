// finoraAuth for Hono: option validation, the built-once authenticator, and the types `c.get('auth')` has.

import { createKeyManager, MemoryKeyStore, type AuthContext, type Authenticator, type KeyStore } from '@finora-auth/core';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { finoraAuth, type FinoraAuthEnv, type FinoraAuthOptions } from './index';

const authenticator: Authenticator = { authenticate: async () => ({ ok: false, error: undefined as never, decision: undefined as never }), close: async () => {} };

describe('options', () => {
  it.each([
    ['no options', undefined, /needs options/],
    ['a function', () => 'invoices', /needs options/],
    ['neither authenticator nor store', { module: 'invoices' }, /options\.authenticator or options\.store/],
    ['an authenticator without authenticate()', { authenticator: null }, /authenticator must be an Authenticator/],
    ['a store beside an authenticator', { authenticator, store: new MemoryKeyStore() }, /store has no effect beside authenticator/],
    ['onDecision beside an authenticator', { authenticator, onDecision: () => {} }, /onDecision has no effect beside authenticator/],
    ['a module outside the catalog', { authenticator, module: 'enterprise' }, /module must be a catalog module.*"enterprise"/],
    ['a module with a path', { authenticator, module: '/payments' }, /module must be a catalog module/],
    ['a module that is neither name nor function', { authenticator, module: true }, /module must be a catalog module/],
    ['a store that is not a KeyStore', { store: 'sqlite:./keys.db' }, /needs options\.store, a KeyStore/],
    ['a bad authenticator option', { store: new MemoryKeyStore(), now: 5 }, /now must be a function/],
  ])('%s is a TypeError when the factory is called', (_, options, message) => {
    expect(() => finoraAuth(options as FinoraAuthOptions)).toThrow(TypeError);
    expect(() => finoraAuth(options as FinoraAuthOptions)).toThrow(message);
  });

  it('never mutates the options it is given', () => {
    const options = Object.freeze({ store: new MemoryKeyStore(), cache: false as const });
    expect(() => finoraAuth(options)).not.toThrow();
    expect(Object.keys(options).sort()).toEqual(['cache', 'store']);
  });

  it('returns a named middleware', () => {
    expect(finoraAuth({ authenticator }).name).toBe('finoraAuthMiddleware');
  });

  it('{ store } builds one authenticator in the factory, not one per request', async () => {
    const memory = new MemoryKeyStore();
    let subscriptions = 0;
    const store: KeyStore = Object.assign(Object.create(memory) as KeyStore, {
      subscribe: (listener: Parameters<KeyStore['subscribe']>[0]) => {
        subscriptions++;
        return memory.subscribe(listener);
      },
      findByHash: memory.findByHash.bind(memory),
    });
    const manager = createKeyManager({ store: memory });
    await manager.putAccount({ id: 'acme', tier: 'accountant_pro' });
    const { apiKey, key } = await manager.issue({ accountId: 'acme', environment: 'live', name: 'books' });
    const app = new Hono().use(finoraAuth({ store })).get('/invoices', (c) => c.json(c.get('auth')));
    expect(subscriptions).toBe(1);
    for (let i = 0; i < 3; i++) {
      const reply = await app.request('/invoices', { headers: { Authorization: `Bearer ${apiKey}` } });
      expect(reply.status).toBe(200);
      expect(await reply.json()).toEqual({
        keyId: key.id,
        accountId: 'acme',
        environment: 'live',
        billable: true,
        tier: 'accountant_pro',
        surface: 'retail',
        module: 'invoices',
        expiresAt: key.expiresAt.toISOString(),
        keyName: 'books',
        credential: 'api_key',
        scopes: ['write'],
      });
    }
    expect(subscriptions).toBe(1);
  });

  it("answers a refusal with the core's headers, and adds the expiry warning to a Response the handler built", async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store, now: () => now });
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { apiKey, key } = await manager.issue({ accountId: 'acme', environment: 'test' });
    const app = new Hono().use(finoraAuth({ store, now: () => now })).get('/reports', () => new Response('raw'));
    const refused = await app.request('/reports');
    expect(refused.status).toBe(401);
    const headers: Record<string, string> = {};
    refused.headers.forEach((value, name) => void (headers[name] = value));
    expect(headers).toEqual({
      'cache-control': 'no-store',
      'content-type': 'application/json',
      'www-authenticate': 'Bearer realm="finora"',
    });
    now += 80 * 24 * 60 * 60 * 1000;
    const allowed = await app.request('/reports', { headers: { Authorization: `Bearer ${apiKey}` } });
    expect(await allowed.text()).toBe('raw');
    expect(allowed.headers.get('Finora-Key-Expires-At')).toBe(key.expiresAt.toISOString());
  });
});

describe('types', () => {
  it("types c.get('auth') as AuthContext through the middleware's generics", () => {
    expectTypeOf(finoraAuth({ authenticator })).toEqualTypeOf<MiddlewareHandler<{ Variables: { auth: AuthContext } }>>();
    new Hono().use(finoraAuth({ authenticator })).get('/', (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<AuthContext>();
      return c.text('ok');
    });
    new Hono<FinoraAuthEnv>().get('/', finoraAuth({ authenticator }), (c) => {
      expectTypeOf(c.var.auth).toEqualTypeOf<AuthContext>();
      return c.text('ok');
    });
  });

  it("hands the module function Hono's context, and judges the request for the module it names", async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'live' });
    const given: Context[] = [];
    const app = new Hono<FinoraAuthEnv>()
      .use(
        finoraAuth({
          store,
          module: (c) => {
            expectTypeOf(c).toEqualTypeOf<Context>();
            given.push(c);
            return c.req.path.startsWith('/ai') ? 'ai' : undefined;
          },
        }),
      )
      .all('*', (c) => c.json({ module: c.get('auth').module ?? null }));
    const headers = { Authorization: `Bearer ${apiKey}` };
    // `ai` is an enterprise module: a retail key is refused there, and allowed where the function names none.
    expect((await app.request('/ai/chat', { headers })).status).toBe(403);
    expect(await (await app.request('/reports', { headers })).json()).toEqual({ module: null });
    expect(given.map((c) => c.req.path)).toEqual(['/ai/chat', '/reports']);
    // Checked by tsc only (the typecheck covers this file): never called.
    void (() => {
      // @ts-expect-error a module function returns a name or undefined
      finoraAuth({ authenticator, module: () => 1 });
      // @ts-expect-error authenticator options need a store
      finoraAuth({ cache: { max: 10 } });
    });
  });
});

/** `app` served by real @hono/node-server, where the middleware puts the core's headers on the Node response. */
async function served(app: Hono<FinoraAuthEnv>): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = await new Promise<ServerType>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
  });
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe.each([
  { name: '@hono/node-server', over: served },
  { name: 'app.request()', over: async (app: Hono<FinoraAuthEnv>) => ({ origin: 'http://localhost', close: async () => {}, app }) },
])('the middleware as Hono calls it, on $name', ({ over }) => {
  async function answers(app: Hono<FinoraAuthEnv>, path: string, headers: Record<string, string> = {}) {
    const at = (await over(app)) as { origin: string; close: () => Promise<void>; app?: Hono<FinoraAuthEnv> };
    try {
      const response = at.app ? await at.app.request(path, { headers }) : await fetch(`${at.origin}${path}`, { headers });
      return { status: response.status, text: await response.text() };
    } finally {
      await at.close();
    }
  }

  it("a failure at once reaches the app's onError, as a rejection from an async middleware would", async () => {
    const app = new Hono<FinoraAuthEnv>();
    app.onError((error, c) => c.text(`onError: ${error.message}`, 599 as never));
    app.use(
      finoraAuth({
        authenticator,
        module: () => {
          throw new Error('module function failed');
        },
      }),
    );
    app.get('/v1/invoices', (c) => c.text('handler'));
    expect(await answers(app, '/v1/invoices')).toEqual({ status: 599, text: 'onError: module function failed' });
  });

  it('an allowed request gets what its handler answers, even one that forgets to answer, as under an async no-op', async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'live' });
    const build = (withAuth: boolean) => {
      const app = new Hono<FinoraAuthEnv>();
      app.onError((error, c) => c.text(`onError: ${error.message}`, 500));
      // Hono answers a handler that forgets to answer differently with no middleware at all, so the reference is the
      // middleware finoraAuth used to be: an async function that awaits next().
      app.use(withAuth ? finoraAuth({ store }) : async (_c, next) => void (await next()));
      app.get('/v1/invoices', (c) => c.text(`account ${withAuth ? c.get('auth').accountId : 'none'}`));
      // A handler that returns nothing: Hono's own error, which the middleware must neither hide nor change.
      app.get('/v1/forgot', () => undefined as unknown as Response);
      return app;
    };
    const headers = { Authorization: `Bearer ${apiKey}` };
    // Twice: the first request asks the store, the second is answered from the cache at once.
    for (let i = 0; i < 2; i++) {
      expect(await answers(build(true), '/v1/invoices', headers)).toEqual({ status: 200, text: 'account acme' });
      expect(await answers(build(true), '/v1/forgot', headers)).toEqual(await answers(build(false), '/v1/forgot', headers));
    }
  });
});
