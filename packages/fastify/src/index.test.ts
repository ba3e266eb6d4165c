// finoraAuth for Fastify 5 and 4 over real HTTP: options, types, scopes it guards, refusals, headers, the module of the matched route, 404s.

import { createAuthenticator, createKeyManager, MemoryKeyStore, type AuthContext, type Authenticator, type DecisionEvent, type KeyManager } from '@finora-auth/core';
import fastify5, { type FastifyInstance, type FastifyRequest } from 'fastify';
import fastify4 from 'fastify4';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { finoraAuth, type FinoraAuthOptions } from './index';

const DAY_MS = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const VERSIONS = [
  { name: 'fastify5', fastify: fastify5 },
  { name: 'fastify4', fastify: fastify4 as unknown as typeof fastify5 },
];

/** A store with one enterprise-provisioned account, its retail and enterprise keys, and an authenticator on one clock. */
async function world() {
  const clock = { now: T0 };
  const now = () => clock.now;
  const store = new MemoryKeyStore();
  const manager: KeyManager = createKeyManager({ store, now });
  const decisions: DecisionEvent[] = [];
  const authenticator = createAuthenticator({ store, now, onDecision: (d) => void decisions.push(d) });
  await manager.putAccount({ id: 'acme', tier: 'premium', enterprise: true });
  const retail = `Bearer ${(await manager.issue({ accountId: 'acme', environment: 'live' })).apiKey}`;
  const enterprise = `Bearer ${(await manager.issue({ accountId: 'acme', environment: 'live', surface: 'enterprise' })).apiKey}`;
  return { clock, store, manager, authenticator, decisions, retail, enterprise };
}

/** Every handler answers with its route and the module it was judged as, and records that it ran. */
function routes(app: FastifyInstance, paths: string[], ran: string[], label = '') {
  for (const path of paths) {
    app.all(path, async (request) => {
      ran.push(label + path);
      return { route: label + path, module: request.auth?.module ?? null, account: request.auth?.accountId ?? null };
    });
  }
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

const inert: Authenticator = { authenticate: async () => ({ ok: false, error: undefined as never, decision: undefined as never }), close: async () => {} };

describe.each(VERSIONS)('$name', ({ fastify }) => {
  let w: Awaited<ReturnType<typeof world>>;
  const apps: FastifyInstance[] = [];
  const serve = async (build: (app: FastifyInstance) => Promise<void> | void, options = {}) => {
    const app = fastify(options);
    apps.push(app);
    await build(app);
    return listen(app);
  };
  beforeAll(async () => {
    w = await world();
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await w.authenticator.close();
  });

  describe('options', () => {
    it.each([
      ['no options', undefined, /needs options/],
      ['neither authenticator nor store', { module: 'invoices' }, /options\.authenticator or options\.store/],
      ['an authenticator without authenticate()', { authenticator: null }, /authenticator must be an Authenticator/],
      ['a store beside an authenticator', { authenticator: inert, store: new MemoryKeyStore() }, /store has no effect beside authenticator/],
      ['a module outside the catalog', { authenticator: inert, module: 'enterprise' }, /module must be a catalog module.*"enterprise"/],
      ['a bad authenticator option', { store: new MemoryKeyStore(), now: 5 }, /now must be a function/],
      ['a prefix, which fastify-plugin ignores', { authenticator: inert, prefix: '/v1' }, /prefix has no effect on finoraAuth/],
    ])('%s is a TypeError when the plugin is registered', async (_, options, message) => {
      const app = fastify();
      const registered = app.register(finoraAuth, options as FinoraAuthOptions);
      await expect(registered).rejects.toThrow(TypeError);
      await expect(app.ready()).rejects.toThrow(message);
    });

    it('never mutates the options it is given, and builds one authenticator from { store }', async () => {
      const options = Object.freeze({ store: w.store, cache: false as const, now: () => w.clock.now });
      const ran: string[] = [];
      const origin = await serve(async (app) => {
        await app.register(finoraAuth, options);
        routes(app, ['/invoices'], ran);
      });
      expect(Object.keys(options).sort()).toEqual(['cache', 'now', 'store']);
      const reply = await fetch(`${origin}/invoices`, { headers: { Authorization: w.retail } });
      expect(reply.status).toBe(200);
    });
  });

  it('refuses with the core status, headers and JSON body, and never runs the handler', async () => {
    const ran: string[] = [];
    const origin = await serve(async (app) => {
      await app.register(finoraAuth, { authenticator: w.authenticator });
      routes(app, ['/invoices', '/payments'], ran);
    });
    const missing = await fetch(`${origin}/invoices`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toBe('application/json');
    expect(missing.headers.get('cache-control')).toBe('no-store');
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="finora"');
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('MISSING_API_KEY');

    const retailOnEnterprise = await fetch(`${origin}/payments`, { headers: { Authorization: w.retail } });
    expect(retailOnEnterprise.status).toBe(403);
    expect(retailOnEnterprise.headers.get('www-authenticate')).toBe('Bearer realm="finora", error="insufficient_scope"');
    expect(await retailOnEnterprise.json()).toMatchObject({ error: { code: 'ENTERPRISE_ONLY' } });

    const twice = await fetch(`${origin}/invoices`, { headers: [['Authorization', w.retail], ['Authorization', w.retail]] });
    expect(twice.status).toBe(401);
    expect(ran).toEqual([]);
  });

  it('sets request.auth and adds the core response headers to the answer of an allowed request', async () => {
    const { apiKey } = await w.manager.issue({ accountId: 'acme', environment: 'test', name: 'books' });
    w.clock.now = T0 + 80 * DAY_MS; // within 14 days of its 90-day expiry
    try {
      const origin = await serve(async (app) => {
        await app.register(finoraAuth, { authenticator: w.authenticator });
        app.get('/v1/invoices/:id', async (request, reply) => reply.header('x-handler', 'ran').send(request.auth));
      });
      const reply = await fetch(`${origin}/v1/invoices/7`, { headers: { Authorization: `Bearer ${apiKey}` } });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('x-handler')).toBe('ran');
      expect(reply.headers.get('finora-key-expires-at')).toBe(new Date(T0 + 90 * DAY_MS).toISOString());
      expect(await reply.json()).toMatchObject({ accountId: 'acme', environment: 'test', billable: false, module: 'invoices', keyName: 'books' });
    } finally {
      w.clock.now = T0;
    }
  });

  it('passes the method (scopes) and the Origin (leak report) to the core', async () => {
    const { apiKey } = await w.manager.issue({ accountId: 'acme', environment: 'live', scopes: ['invoices:read'] });
    const ran: string[] = [];
    const origin = await serve(async (app) => {
      await app.register(finoraAuth, { authenticator: w.authenticator });
      routes(app, ['/invoices'], ran);
    });
    const get = await fetch(`${origin}/invoices`, { headers: { Authorization: `Bearer ${apiKey}`, Origin: 'https://shop.example' } });
    expect(get.status).toBe(200);
    expect(w.decisions.at(-1)).toMatchObject({ probableLeak: true });
    const post = await fetch(`${origin}/invoices`, { method: 'POST', headers: { Authorization: `Bearer ${apiKey}` } });
    expect(post.status).toBe(403);
    expect(await post.json()).toMatchObject({ error: { code: 'INSUFFICIENT_SCOPE' } });
    expect(ran).toEqual(['/invoices']);
  });

  it('registered at the root guards every scope; inside a prefixed scope, only that scope', async () => {
    const ran: string[] = [];
    const origin = await serve(async (app) => {
      routes(app, ['/open'], ran);
      await app.register(async (v1) => {
        await v1.register(finoraAuth, { authenticator: w.authenticator });
        routes(v1, ['/invoices'], ran, '/v1');
        await v1.register(async (nested) => routes(nested, ['/payments'], ran, '/v1/n'), { prefix: '/n' });
      }, { prefix: '/v1' });
      await app.register(async (v2) => routes(v2, ['/invoices'], ran, '/v2'), { prefix: '/v2' });
    });
    expect((await fetch(`${origin}/open`)).status).toBe(200);
    expect((await fetch(`${origin}/v2/invoices`)).status).toBe(200);
    expect((await fetch(`${origin}/v1/invoices`)).status).toBe(401);
    expect((await fetch(`${origin}/v1/n/payments`)).status).toBe(401);
    expect(ran).toEqual(['/open', '/v2/invoices']);

    const rooted = await serve(async (app) => {
      await app.register(finoraAuth, { authenticator: w.authenticator });
      await app.register(async (scope) => routes(scope, ['/invoices'], ran, '/v2'), { prefix: '/v2' });
    });
    expect((await fetch(`${rooted}/v2/invoices`)).status).toBe(401);
    expect(ran).toEqual(['/open', '/v2/invoices']);
  });

  it('derives the module from the matched route, its prefixes and its parameters', async () => {
    const origin = await serve(async (app) => {
      await app.register(finoraAuth, { authenticator: w.authenticator });
      app.get('/v1/payments/:id', async (request) => ({ module: request.auth?.module ?? null }));
      app.get('/v1/:module/list', async (request) => ({ module: request.auth?.module ?? null }));
      app.get('/files/*', async (request) => ({ module: request.auth?.module ?? null }));
      app.get('/invoices/:id/payments', async (request) => ({ module: request.auth?.module ?? null }));
      await app.register(
        async (api) => {
          api.get('/payments', async (request) => ({ module: request.auth?.module ?? null }));
          await api.register(async (t) => t.get('/ai', async (request) => ({ module: request.auth?.module ?? null })), { prefix: '/t/:tenant' });
          await api.register(async (p) => p.get('/:id', async (request) => ({ module: request.auth?.module ?? null })), { prefix: '/payments' });
        },
        { prefix: '/api' },
      );
    });
    const judged = async (path: string, authorization = w.enterprise) => {
      const reply = await fetch(`${origin}${path}`, { headers: { Authorization: authorization } });
      return reply.status === 200 ? ((await reply.json()) as { module: string | null }).module : reply.status;
    };
    expect(await judged('/v1/payments/1')).toBe('payments');
    expect(await judged('/v1/payments/1', w.retail)).toBe(403);
    expect(await judged('/v1/payments/list')).toBe('payments');
    expect(await judged('/v1/invoices/list', w.retail)).toBe('invoices');
    expect(await judged('/files/payments/x')).toBe(null); // `files` is no module: the first segment decides
    expect(await judged('/invoices/1/payments', w.retail)).toBe('invoices');
    expect(await judged('/api/payments')).toBe('payments');
    expect(await judged('/api/payments', w.retail)).toBe(403);
    expect(await judged('/api/payments/7', w.retail)).toBe(403);
    expect(await judged('/api/t/acme/ai')).toBe('ai'); // below a parameterised prefix
    expect(await judged('/api/t/acme/ai', w.retail)).toBe(403);
  });

  it('guards routes and scopes declared before it too, reading their paths below every segment (stricter)', async () => {
    const ran: string[] = [];
    const origin = await serve(async (app) => {
      await app.register(async (api) => routes(api, ['/payments', '/invoices'], ran, '/api'), { prefix: '/api' });
      routes(app, ['/invoices/:id', '/invoices/:id/payments'], ran);
      await app.register(finoraAuth, { authenticator: w.authenticator });
    });
    const status = async (path: string, authorization: string) => (await fetch(`${origin}${path}`, { headers: { Authorization: authorization } })).status;
    expect(await status('/api/payments', w.retail)).toBe(403);
    expect(await status('/invoices/1/payments', w.retail)).toBe(403);
    expect(ran).toEqual([]);
    expect(await status('/api/payments', w.enterprise)).toBe(200);
    expect(await status('/api/invoices', w.retail)).toBe(200);
    expect(await status('/invoices/1', w.retail)).toBe(200);
    expect(ran).toEqual(['/api/payments', '/api/invoices', '/invoices/:id']);
  });

  it('judges a request no route matched by its raw path: refused without a key, never an enterprise spelling with a retail key', async () => {
    const ran: string[] = [];
    const origin = await serve(async (app) => {
      await app.register(finoraAuth, { authenticator: w.authenticator });
      routes(app, ['/invoices'], ran);
      app.setNotFoundHandler(async (request, reply) => reply.code(404).send({ notFound: request.auth?.module ?? null }));
    });
    expect((await fetch(`${origin}/nowhere`)).status).toBe(401);
    expect((await fetch(`${origin}/payments/x`, { headers: { Authorization: w.retail } })).status).toBe(403);
    expect((await fetch(`${origin}/%70ayments`, { headers: { Authorization: w.retail } })).status).toBe(403);
    const found = await fetch(`${origin}/payments/x`, { headers: { Authorization: w.enterprise } });
    expect(found.status).toBe(404);
    expect(await found.json()).toEqual({ notFound: 'payments' });
    expect(ran).toEqual([]);
  });

  it('reads the strictest path under Fastify normalisation options', async () => {
    const ran: string[] = [];
    const options = { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, caseSensitive: false, useSemicolonDelimiter: true };
    const origin = await serve(async (app) => {
      await app.register(finoraAuth, { authenticator: w.authenticator });
      routes(app, ['/payments', '/v1/payments/:id', '/invoices/*'], ran);
    }, options);
    for (const path of ['/PAYMENTS', '//payments', '/payments/', '/payments;x=1', '/V1//Payments/1/', '/invoices/../payments', '/invoices/..%2fpayments']) {
      const refused = await fetch(`${origin}${path}`, { headers: { Authorization: w.retail } });
      expect(refused.status, path).toBe(403);
    }
    expect(ran).toEqual([]);
    const allowed = await fetch(`${origin}//V1/payments/1`, { headers: { Authorization: w.enterprise } });
    expect(await allowed.json()).toMatchObject({ route: '/v1/payments/:id', module: 'payments' });
  });

  it('a computed module gets the Fastify request; a name outside the catalog is a 500, not a pass', async () => {
    const ran: string[] = [];
    const origin = await serve(async (app) => {
      await app.register(finoraAuth, {
        authenticator: w.authenticator,
        module: (request) => (request.headers['x-bad'] ? 'nope' : request.url.startsWith('/bi') ? 'business-intelligence' : undefined),
      });
      routes(app, ['/bi', '/other'], ran);
    });
    expect((await fetch(`${origin}/bi`, { headers: { Authorization: w.retail } })).status).toBe(403);
    expect(await (await fetch(`${origin}/bi`, { headers: { Authorization: w.enterprise } })).json()).toMatchObject({ module: 'business-intelligence' });
    expect((await fetch(`${origin}/other`, { headers: { Authorization: w.retail, 'x-bad': '1' } })).status).toBe(500);
    expect(ran).toEqual(['/bi']);
  });
});

describe('types', () => {
  it('types request.auth through declaration merging, and the module function gets a FastifyRequest (checked by the typecheck)', () => {
    const app = fastify5();
    app.get('/', async (request) => {
      expectTypeOf(request.auth).toEqualTypeOf<AuthContext | undefined>();
      return null;
    });
    void app.register(finoraAuth, { authenticator: inert, module: (request) => (expectTypeOf(request).toEqualTypeOf<FastifyRequest>(), undefined) });
    // Checked by tsc only: never called.
    void (() => {
      // @ts-expect-error a module function returns a name or undefined
      void app.register(finoraAuth, { authenticator: inert, module: () => 42 });
      // @ts-expect-error authenticator options need a store
      void app.register(finoraAuth, { cache: false });
    });
    return app.close();
  });

  it("the README's Fastify quick start is test/quick-start.ts, which typecheck compiles under --strict on Fastify 5 and 4", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const block = /### Fastify 4 and 5\n\n```ts\n([^]*?)```/.exec(readme)?.[1];
    const program = readFileSync(new URL('../test/quick-start.ts', import.meta.url), 'utf8').split('\n').slice(2).join('\n');
    expect(block).toBe(program);
  });
});
