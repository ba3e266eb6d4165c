// The Fastify 5 and 4 set-ups of the adapter suites: the shared routes behind the plugin, and its mount set-ups.

import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Authenticator } from '@finora-auth/core';
import { finoraAuth } from '@finora-auth/fastify';
import fastify5, { type FastifyInstance } from 'fastify';
import fastify4 from 'fastify4';
import type { Harness, Hit, Served } from './adapters';
import type { MountCase } from './adapters-mounts';

type Fastify = typeof fastify5;
export const FASTIFY: ['fastify5' | 'fastify4', Fastify][] = [
  ['fastify5', fastify5],
  ['fastify4', fastify4 as unknown as Fastify],
];

const answer = (hits: Hit[], route: string, auth: unknown) => {
  const hit: Hit = { route, auth: (auth ?? null) as Hit['auth'] };
  hits.push(hit);
  return JSON.stringify(hit);
};

/** A handler answering with its route and `request.auth`, as every framework's does. */
const route = (app: FastifyInstance, hits: Hit[], path: string, label = path) =>
  app.all(path, async (request, reply) => reply.type('application/json').send(answer(hits, label, request.auth)));

/**
 * Fastify's own Node request listener, taken from a `serverFactory`, so the suites serve it on their servers (with
 * their `maxHeaderSize`); requests wait until every plugin has loaded.
 */
function listener(build: (app: FastifyInstance) => Promise<void>, fastify: Fastify) {
  let handler: RequestListener | undefined;
  const app = fastify({
    serverFactory: (h) => {
      handler = h as RequestListener;
      return createServer(); // never listens: the suites serve `handler` on servers of their own
    },
  });
  app.setErrorHandler(async (error: Error, _request, reply) => reply.code(500).send({ handlerError: error.name, message: error.message }));
  const ready = build(app).then(() => app.ready());
  return (req: IncomingMessage, res: ServerResponse) => void ready.then(() => handler!(req, res));
}

export function fastifyHarness(name: 'fastify5' | 'fastify4', fastify: Fastify, routes: readonly string[]): Harness {
  return {
    name,
    framework: 'fastify',
    async serve({ auth, maxHeaderSize }) {
      const hits: Hit[] = [];
      const handle = listener(async (app) => {
        await app.register(finoraAuth, auth as Parameters<typeof finoraAuth>[1]);
        for (const path of routes) route(app, hits, path);
      }, fastify);
      const server = createServer({ maxHeaderSize }, handle);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return {
        origin: `http://127.0.0.1:${port}`,
        hits,
        close: () =>
          new Promise<void>((resolve, reject) => {
            server.closeAllConnections();
            server.close((error) => (error ? reject(error) : resolve()));
          }),
      } satisfies Served;
    },
  };
}

/** Fastify's ways of putting the plugin below a prefix: scopes (`register(…, { prefix })`), nested and parameterised. */
export function fastifyMountCases(): MountCase[] {
  return FASTIFY.flatMap(([name, fastify]): MountCase[] => {
    const guarded = (authenticator: Authenticator) => (scope: FastifyInstance) => scope.register(finoraAuth, { authenticator });
    return [
      {
        name: 'register(scope, { prefix: "/api" }) with finoraAuth registered inside it',
        adapters: [name],
        build: (authenticator, hits) =>
          listener(async (app) => {
            await app.register(async (api) => {
              await guarded(authenticator)(api);
              route(api, hits, '/payments');
              route(api, hits, '/invoices');
            }, { prefix: '/api' });
          }, fastify),
        enterprise: ['/api/payments', '/api/payments?x=/invoices'],
        retail: ['/api/invoices'],
      },
      {
        name: 'finoraAuth at the root, routes in a scope with prefix /api',
        adapters: [name],
        build: (authenticator, hits) =>
          listener(async (app) => {
            await guarded(authenticator)(app);
            await app.register(async (api) => {
              route(api, hits, '/payments/:id', '/payments/:id');
              route(api, hits, '/invoices/:id', '/invoices/:id');
            }, { prefix: '/api' });
          }, fastify),
        enterprise: ['/api/payments/1'],
        retail: ['/api/invoices/1'],
      },
      {
        name: 'a scope with prefix /payments (routes "/" and "/:id"), guarded inside it',
        adapters: [name],
        build: (authenticator, hits) =>
          listener(async (app) => {
            for (const module of ['payments', 'invoices']) {
              await app.register(async (scope) => {
                await guarded(authenticator)(scope);
                route(scope, hits, '/', `/${module}`);
                route(scope, hits, '/:id', `/${module}/:id`);
              }, { prefix: `/${module}` });
            }
          }, fastify),
        enterprise: ['/payments', '/payments/', '/payments/1'],
        retail: ['/invoices/1'],
      },
      {
        name: 'nested scopes /api -> /payments, guarded in the outer one',
        adapters: [name],
        build: (authenticator, hits) =>
          listener(async (app) => {
            await app.register(async (api) => {
              await guarded(authenticator)(api);
              for (const module of ['payments', 'invoices']) {
                await api.register(async (inner) => route(inner, hits, '/:id', `/${module}/:id`), { prefix: `/${module}` });
              }
            }, { prefix: '/api' });
          }, fastify),
        enterprise: ['/api/payments/1'],
        retail: ['/api/invoices/1'],
      },
      {
        name: 'a parameterised prefix /t/:tenant, guarded inside it',
        adapters: [name],
        build: (authenticator, hits) =>
          listener(async (app) => {
            await app.register(async (tenant) => {
              await guarded(authenticator)(tenant);
              route(tenant, hits, '/payments/:id', '/payments/:id');
              route(tenant, hits, '/invoices/:id', '/invoices/:id');
            }, { prefix: '/t/:tenant' });
          }, fastify),
        enterprise: ['/t/acme/payments/1', '/t/payments/payments/1'],
        retail: ['/t/acme/invoices/1'],
      },
      {
        name: 'a catch-all /v2/payments/* in a scope with prefix /v2',
        adapters: [name],
        build: (authenticator, hits) =>
          listener(async (app) => {
            await app.register(async (v2) => {
              await guarded(authenticator)(v2);
              route(v2, hits, '/payments/*', '/payments/*');
              route(v2, hits, '/invoices/*', '/invoices/*');
            }, { prefix: '/v2' });
          }, fastify),
        enterprise: ['/v2/payments/1', '/v2/payments/../invoices', '/v2/payments/..%2finvoices'],
        retail: ['/v2/invoices/1'],
      },
    ];
  });
}
