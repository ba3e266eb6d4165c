// finoraAuth for Express: option validation, the built-once authenticator, and the types a handler sees.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKeyManager, MemoryKeyStore, type AuthContext, type Authenticator, type KeyStore } from '@finora-auth/core';
import express, { type Request, type RequestHandler } from 'express';
import express4 from 'express4';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { finoraAuth, type FinoraAuthOptions } from './index';

const authenticator: Authenticator = { authenticate: async () => ({ ok: false, error: undefined as never, decision: undefined as never }), close: async () => {} };

describe('options', () => {
  it.each([
    ['no options', undefined, /needs options/],
    ['null', null, /needs options/],
    ['a string', 'invoices', /needs options/],
    ['neither authenticator nor store', {}, /options\.authenticator or options\.store/],
    ['an authenticator without authenticate()', { authenticator: {} }, /authenticator must be an Authenticator/],
    ['a store beside an authenticator', { authenticator, store: new MemoryKeyStore() }, /store has no effect beside authenticator/],
    ['cache beside an authenticator', { authenticator, cache: false }, /cache has no effect beside authenticator/],
    ['a module outside the catalog', { authenticator, module: 'paymnets' }, /module must be a catalog module.*"paymnets"/],
    ['a module in the wrong case', { authenticator, module: 'Payments' }, /module must be a catalog module/],
    ['a module that is neither name nor function', { authenticator, module: 42 }, /module must be a catalog module/],
    ['a store that is not a KeyStore', { store: {} }, /needs options\.store, a KeyStore/],
    ['a bad authenticator option', { store: new MemoryKeyStore(), lookupTimeoutMs: -1 }, /lookupTimeoutMs/],
  ])('%s is a TypeError when the factory is called', (_, options, message) => {
    expect(() => finoraAuth(options as FinoraAuthOptions)).toThrow(TypeError);
    expect(() => finoraAuth(options as FinoraAuthOptions)).toThrow(message);
  });

  it('never mutates the options it is given', () => {
    const options = Object.freeze({ store: new MemoryKeyStore(), cache: Object.freeze({ ttlMs: 1000 }), module: 'invoices' });
    expect(() => finoraAuth(options)).not.toThrow();
    expect(Object.keys(options).sort()).toEqual(['cache', 'module', 'store']);
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
    const app = express().use(finoraAuth({ store }), (req, res) => void res.json(req.auth));
    const server = createServer(app).listen(0, '127.0.0.1');
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
  it('types req.auth as AuthContext through declaration merging, on Express 5 and 4', () => {
    const handler: RequestHandler = (req) => {
      expectTypeOf(req.auth).toEqualTypeOf<AuthContext | undefined>();
    };
    express().use(finoraAuth({ authenticator }), handler);
    express4().use(finoraAuth({ authenticator }) as never, handler as never);
    expectTypeOf(finoraAuth).returns.toEqualTypeOf<RequestHandler>();
  });

  it("hands the module function Express's request, and judges the request for the module it names", async () => {
    const store = new MemoryKeyStore();
    const manager = createKeyManager({ store });
    await manager.putAccount({ id: 'acme', tier: 'premium' });
    const { apiKey } = await manager.issue({ accountId: 'acme', environment: 'live' });
    const given: string[] = [];
    const app = express();
    app.use(
      finoraAuth({
        store,
        module: (req) => {
          expectTypeOf(req).toEqualTypeOf<Request>();
          given.push(req.path);
          return req.path.startsWith('/ai') ? 'ai' : undefined;
        },
      }),
    );
    app.use((req, res) => void res.json({ module: req.auth?.module ?? null }));
    const server = createServer(app);
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
      finoraAuth({ authenticator, module: () => 42 });
      // @ts-expect-error authenticator options need a store
      finoraAuth({ cache: false });
    });
  });
});
