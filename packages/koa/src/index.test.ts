// finoraAuth for Koa: option validation, the built-once authenticator, and the types a middleware sees.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKeyManager, MemoryKeyStore, type AuthContext, type Authenticator, type KeyStore } from '@finora-auth/core';
import Koa, { type Middleware, type ParameterizedContext } from 'koa';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { finoraAuth, type FinoraAuthOptions, type FinoraAuthState } from './index';

const authenticator: Authenticator = { authenticate: async () => ({ ok: false, error: undefined as never, decision: undefined as never }), close: async () => {} };

describe('options', () => {
  it.each([
    ['no options', undefined, /needs options/],
    ['null', null, /needs options/],
    ['neither authenticator nor store', {}, /options\.authenticator or options\.store/],
    ['an authenticator without authenticate()', { authenticator: { authenticate: 'yes' } }, /authenticator must be an Authenticator/],
    ['a store beside an authenticator', { authenticator, store: new MemoryKeyStore() }, /store has no effect beside authenticator/],
    ['now beside an authenticator', { authenticator, now: Date.now }, /now has no effect beside authenticator/],
    ['a module outside the catalog', { authenticator, module: 'payment' }, /module must be a catalog module.*"payment"/],
    ['an empty module', { authenticator, module: '' }, /module must be a catalog module/],
    ['a module that is neither name nor function', { authenticator, module: ['payments'] }, /module must be a catalog module/],
    ['a store that is not a KeyStore', { store: null }, /needs options\.store, a KeyStore/],
    ['a bad authenticator option', { store: new MemoryKeyStore(), cache: { ttlMs: 0 } }, /cache\.ttlMs/],
  ])('%s is a TypeError when the factory is called', (_, options, message) => {
    expect(() => finoraAuth(options as FinoraAuthOptions)).toThrow(TypeError);
    expect(() => finoraAuth(options as FinoraAuthOptions)).toThrow(message);
  });

  it('never mutates the options it is given', () => {
    const options = Object.freeze({ authenticator, module: 'payments' });
    expect(() => finoraAuth(options)).not.toThrow();
    expect(options).toEqual({ authenticator, module: 'payments' });
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
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'test' });
    const app = new Koa().use(finoraAuth({ store })).use((ctx) => {
      ctx.body = ctx.state.auth;
    });
    const server = createServer(app.callback()).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      expect(subscriptions).toBe(1);
      for (let i = 0; i < 3; i++) {
        const reply = await fetch(`http://127.0.0.1:${port}/invoices`, { headers: { Authorization: `Bearer ${apiKey}` } });
        expect(reply.status).toBe(200);
      }
      expect(subscriptions).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe('types', () => {
  it('types ctx.state.auth as AuthContext for the middleware that follow', () => {
    const app = new Koa().use(finoraAuth({ authenticator }));
    app.use((ctx) => {
      expectTypeOf(ctx.state.auth).toEqualTypeOf<AuthContext>();
    });
    expectTypeOf(finoraAuth({ authenticator })).toMatchTypeOf<Middleware<FinoraAuthState>>();
  });

  it("keeps an app's own state type beside auth", () => {
    const app = new Koa<{ requestId: string }>().use(finoraAuth<{ requestId: string }>({ authenticator }));
    app.use((ctx) => {
      expectTypeOf(ctx.state.requestId).toEqualTypeOf<string>();
      expectTypeOf(ctx.state.auth).toEqualTypeOf<AuthContext>();
    });
  });

  it("hands the module function Koa's context, and judges the request for the module it names", async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'live' });
    const given: string[] = [];
    const app = new Koa<FinoraAuthState>();
    app.use(
      finoraAuth({
        store,
        module: (ctx) => {
          expectTypeOf(ctx).toMatchTypeOf<ParameterizedContext>();
          given.push(ctx.path);
          return ctx.path.startsWith('/ai') ? 'ai' : undefined;
        },
      }),
    );
    app.use((ctx) => void (ctx.body = { module: ctx.state.auth.module ?? null }));
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const headers = { Authorization: `Bearer ${apiKey}` };
      // `ai` is an enterprise module: a retail key is refused there, and allowed where the function names none.
      expect((await fetch(`${origin}/ai/chat`, { headers })).status).toBe(403);
      expect(await (await fetch(`${origin}/reports`, { headers })).json()).toEqual({ module: null });
      expect(given).toEqual(['/ai/chat', '/reports']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    // Checked by tsc only (the typecheck covers this file): never called.
    void (() => {
      // @ts-expect-error a module function returns a name or undefined
      finoraAuth({ authenticator, module: () => null });
      // @ts-expect-error authenticator options need a store
      finoraAuth({ lookupTimeoutMs: 100 });
    });
  });
});

describe('the middleware as Koa calls it', () => {
  it('answers with a promise even when it fails at once: a throw is a rejection, never thrown at the caller', async () => {
    const middleware = finoraAuth({
      authenticator,
      module: () => {
        throw new Error('module function failed');
      },
    });
    let answer: unknown;
    expect(() => (answer = middleware({ req: { rawHeaders: [] }, method: 'GET' } as never, async () => {}))).not.toThrow();
    await expect(answer).rejects.toThrow('module function failed');
  });

  it('an allowed request waits for the rest of the chain, on a store lookup and on a cached key alike', async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'live' });
    const app = new Koa<FinoraAuthState>();
    const order: string[] = [];
    app.use(async (ctx, next) => {
      await next();
      order.push('outer after');
      ctx.set('X-Outer-Saw', String(ctx.body !== undefined));
    });
    app.use(finoraAuth({ store }));
    app.use(async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push('handler');
      ctx.body = { account: ctx.state.auth.accountId };
    });
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (let i = 0; i < 2; i++) {
        // The first request looks the key up in the store; the second is answered from the cache at once.
        const response = await fetch(`${origin}/v1/invoices`, { headers: { Authorization: `Bearer ${apiKey}` } });
        expect(response.status).toBe(200);
        expect(response.headers.get('x-outer-saw')).toBe('true');
        expect(await response.json()).toEqual({ account: 'acme' });
      }
      expect(order).toEqual(['handler', 'outer after', 'handler', 'outer after']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
