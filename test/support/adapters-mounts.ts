// Apps that mount finoraAuth below a prefix, the ways each framework allows: the module must still be read right.

import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import mount from 'koa-mount';
import { finoraAuth as expressAuth } from '@finora-auth/express';
import { finoraAuth as honoAuth, type FinoraAuthEnv } from '@finora-auth/hono';
import { finoraAuth as koaAuth } from '@finora-auth/koa';
import type { Authenticator } from '@finora-auth/core';
import type { AdapterName, Hit, Served } from './adapters';
import { fastifyMountCases } from './adapters-fastify';

export interface MountCase {
  name: string;
  adapters: AdapterName[];
  /** A request listener whose enterprise handlers answer with their route and `auth`, guarded as the name says. */
  build(authenticator: Authenticator, hits: Hit[]): RequestListener;
  /** Paths that reach a handler of the enterprise `payments` module. */
  enterprise: string[];
  /** Paths that reach a handler of the retail `invoices` module under the same mount. */
  retail: string[];
}

const json = (hits: Hit[], route: string, auth: unknown) => {
  const hit: Hit = { route, auth: (auth ?? null) as Hit['auth'] };
  hits.push(hit);
  return JSON.stringify(hit);
};

type Express = typeof express5;
const EXPRESS: [AdapterName, Express][] = [
  ['express5', express5],
  ['express4', express4 as unknown as Express],
];

function expressCases(): MountCase[] {
  return EXPRESS.flatMap(([name, express]): MountCase[] => {
    const handler = (hits: Hit[], route: string) => (req: express5.Request, res: express5.Response) => {
      res.type('application/json').send(json(hits, route, req.auth));
    };
    return [
      {
        name: 'app.use("/api", finoraAuth()) before a router mounted at /api',
        adapters: [name],
        build(authenticator, hits) {
          const app = express();
          const api = express.Router();
          api.get('/payments', handler(hits, '/payments'));
          api.get('/invoices', handler(hits, '/invoices'));
          app.use('/api', expressAuth({ authenticator }));
          app.use('/api', api);
          return app;
        },
        enterprise: ['/api/payments', '/API/Payments', '/api/payments/'],
        retail: ['/api/invoices'],
      },
      {
        name: 'app.use("/api", finoraAuth()) before routes declared on the app with their full path',
        adapters: [name],
        build(authenticator, hits) {
          const app = express();
          app.use('/api', expressAuth({ authenticator }));
          app.get('/api/payments', handler(hits, '/payments'));
          app.get('/api/invoices', handler(hits, '/invoices'));
          return app;
        },
        enterprise: ['/api/payments'],
        retail: ['/api/invoices'],
      },
      {
        name: 'a router mounted at /payments, guarded inside it',
        adapters: [name],
        build(authenticator, hits) {
          const app = express();
          for (const module of ['payments', 'invoices']) {
            const router = express.Router();
            router.use(expressAuth({ authenticator }));
            router.get('/', handler(hits, `/${module}`));
            router.get('/:id', handler(hits, `/${module}/:id`));
            app.use(`/${module}`, router);
          }
          return app;
        },
        enterprise: ['/payments', '/payments/1', '/Payments/1'],
        retail: ['/invoices/1'],
      },
      {
        name: 'nested routers /api -> /payments, guarded in the inner one',
        adapters: [name],
        build(authenticator, hits) {
          const app = express();
          const api = express.Router();
          for (const module of ['payments', 'invoices']) {
            const inner = express.Router();
            inner.use(expressAuth({ authenticator }));
            inner.get('/:id', handler(hits, `/${module}/:id`));
            api.use(`/${module}`, inner);
          }
          app.use('/api', api);
          return app;
        },
        enterprise: ['/api/payments/1', '/API/PAYMENTS/1'],
        retail: ['/api/invoices/1'],
      },
      {
        name: 'route-level finoraAuth() inside a router mounted at /api',
        adapters: [name],
        build(authenticator, hits) {
          const app = express();
          const api = express.Router();
          api.get('/payments/:id', expressAuth({ authenticator }), handler(hits, '/payments/:id'));
          api.get('/invoices/:id', expressAuth({ authenticator }), handler(hits, '/invoices/:id'));
          app.use('/api', api);
          return app;
        },
        enterprise: ['/api/payments/1'],
        retail: ['/api/invoices/1'],
      },
      {
        name: 'app.use("/v2", finoraAuth()) before a catch-all under /v2/payments',
        adapters: [name],
        build(authenticator, hits) {
          const app = express();
          app.use('/v2', expressAuth({ authenticator }));
          app.get(name === 'express5' ? '/v2/payments/{*rest}' : '/v2/payments/*', handler(hits, '/payments/*'));
          app.get(name === 'express5' ? '/v2/invoices/{*rest}' : '/v2/invoices/*', handler(hits, '/invoices/*'));
          return app;
        },
        enterprise: ['/v2/payments/1', '/v2/payments/../invoices', '/v2/payments/..%2Finvoices'],
        retail: ['/v2/invoices/1'],
      },
    ];
  });
}

type Koa = typeof Koa3;
const KOA: [AdapterName, Koa][] = [
  ['koa3', Koa3],
  ['koa2', Koa2 as unknown as Koa],
];

function koaCases(): MountCase[] {
  return KOA.flatMap(([name, Koa]): MountCase[] => {
    const handler = (hits: Hit[], route: string) => (ctx: Koa3.Context) => {
      ctx.type = 'application/json';
      ctx.body = json(hits, route, ctx.state.auth);
    };
    const app = (use: (app: Koa3) => void) => {
      const koa = new Koa();
      koa.silent = true;
      use(koa);
      return koa.callback();
    };
    return [
      {
        // `sensitive: true`: @koa/router 14 matches router.use() layers case-sensitively and routes (by default)
        // case-insensitively, so GET /API/payments would run the handler without running any router.use()
        // middleware at all. No middleware can guard a request it is not given; docs/adapters.md says so.
        name: '@koa/router with prefix /api (sensitive: true), guarded with router.use()',
        adapters: [name],
        build(authenticator, hits) {
          const router = new Router({ prefix: '/api', sensitive: true });
          router.use(koaAuth({ authenticator }));
          router.get('/payments', handler(hits, '/payments'));
          router.get('/invoices', handler(hits, '/invoices'));
          return app((koa) => koa.use(router.routes()));
        },
        enterprise: ['/api/payments', '/api/payments/'],
        retail: ['/api/invoices'],
      },
      {
        name: '@koa/router with prefix /api, route-level finoraAuth()',
        adapters: [name],
        build(authenticator, hits) {
          const router = new Router({ prefix: '/api' });
          router.get('/payments/:id', koaAuth({ authenticator }), handler(hits, '/payments/:id'));
          router.get('/invoices/:id', koaAuth({ authenticator }), handler(hits, '/invoices/:id'));
          return app((koa) => koa.use(router.routes()));
        },
        enterprise: ['/api/payments/1', '/API/Payments/1'],
        retail: ['/api/invoices/1'],
      },
      {
        name: 'nested @koa/router (sensitive: true): router.use("/api", inner.routes()), guarded with inner.use()',
        adapters: [name],
        build(authenticator, hits) {
          const outer = new Router({ sensitive: true });
          const inner = new Router({ sensitive: true });
          inner.use(koaAuth({ authenticator }));
          inner.get('/payments/:id', handler(hits, '/payments/:id'));
          inner.get('/invoices/:id', handler(hits, '/invoices/:id'));
          outer.use('/api', inner.routes());
          return app((koa) => koa.use(outer.routes()));
        },
        enterprise: ['/api/payments/1'],
        retail: ['/api/invoices/1'],
      },
      {
        name: 'koa-mount("/payments", subApp), guarded inside the sub-app',
        adapters: [name],
        build(authenticator, hits) {
          const sub = (module: string) => {
            const koa = new Koa();
            const router = new Router();
            router.get('/', handler(hits, `/${module}`));
            router.get('/:id', handler(hits, `/${module}/:id`));
            koa.use(koaAuth({ authenticator }));
            koa.use(router.routes());
            return koa;
          };
          return app((koa) => {
            koa.use(mount('/payments', sub('payments') as never));
            koa.use(mount('/invoices', sub('invoices') as never));
          });
        },
        enterprise: ['/payments', '/payments/1', '/payments/'],
        retail: ['/invoices/1'],
      },
      {
        name: 'koa-mount("/api", subApp), guarded inside the sub-app',
        adapters: [name],
        build(authenticator, hits) {
          const sub = new Koa();
          const router = new Router();
          router.get('/payments/:id', handler(hits, '/payments/:id'));
          router.get('/invoices/:id', handler(hits, '/invoices/:id'));
          sub.use(koaAuth({ authenticator }));
          sub.use(router.routes());
          return app((koa) => koa.use(mount('/api', sub as never)));
        },
        enterprise: ['/api/payments/1', '/api/PAYMENTS/1', '/api/payments/1?x=/invoices'],
        retail: ['/api/invoices/1'],
      },
    ];
  });
}

function honoCases(): MountCase[] {
  const handler = (hits: Hit[], route: string) => (c: import('hono').Context<FinoraAuthEnv>) =>
    c.body(json(hits, route, c.get('auth')), 200, { 'Content-Type': 'application/json' });
  const listener = (app: Hono<FinoraAuthEnv>) => getRequestListener(app.fetch) as RequestListener;
  const routes = (app: Hono<FinoraAuthEnv>, hits: Hit[], suffix = '') => {
    app.get(`/payments${suffix}`, handler(hits, `/payments${suffix}`));
    app.get(`/invoices${suffix}`, handler(hits, `/invoices${suffix}`));
    return app;
  };
  return [
    {
      name: 'new Hono().basePath("/api") with app.use(finoraAuth())',
      adapters: ['hono'],
      build(authenticator, hits) {
        const app = new Hono<FinoraAuthEnv>().basePath('/api');
        app.use(honoAuth({ authenticator }));
        return listener(routes(app, hits));
      },
      enterprise: ['/api/payments'],
      retail: ['/api/invoices'],
    },
    {
      name: 'app.route("/api", sub), guarded with sub.use()',
      adapters: ['hono'],
      build(authenticator, hits) {
        const sub = new Hono<FinoraAuthEnv>();
        sub.use(honoAuth({ authenticator }));
        const app = new Hono();
        app.route('/api', routes(sub, hits, '/:id'));
        return listener(app as Hono<FinoraAuthEnv>);
      },
      enterprise: ['/api/payments/1', '/api/%70ayments/1'],
      retail: ['/api/invoices/1'],
    },
    {
      name: 'app.use("/api/*", finoraAuth()) before routes with their full path',
      adapters: ['hono'],
      build(authenticator, hits) {
        const app = new Hono<FinoraAuthEnv>();
        app.use('/api/*', honoAuth({ authenticator }));
        app.get('/api/payments', handler(hits, '/payments'));
        app.get('/api/invoices', handler(hits, '/invoices'));
        return listener(app);
      },
      enterprise: ['/api/payments', '/api/x/../payments'],
      retail: ['/api/invoices'],
    },
    {
      name: 'app.route("/t/:tenant", sub), guarded with sub.use()',
      adapters: ['hono'],
      build(authenticator, hits) {
        const sub = new Hono<FinoraAuthEnv>();
        sub.use(honoAuth({ authenticator }));
        const app = new Hono();
        app.route('/t/:tenant', routes(sub, hits));
        return listener(app as Hono<FinoraAuthEnv>);
      },
      enterprise: ['/t/acme/payments'],
      retail: ['/t/acme/invoices'],
    },
    {
      name: 'app.route("/payments", sub), guarded with sub.use()',
      adapters: ['hono'],
      build(authenticator, hits) {
        const app = new Hono();
        for (const module of ['payments', 'invoices']) {
          const sub = new Hono<FinoraAuthEnv>();
          sub.use(honoAuth({ authenticator }));
          sub.get('/:id', handler(hits, `/${module}/:id`));
          app.route(`/${module}`, sub);
        }
        return listener(app as Hono<FinoraAuthEnv>);
      },
      enterprise: ['/payments/1'],
      retail: ['/invoices/1'],
    },
    {
      name: 'nested app.route("/api", outer) -> outer.route("/payments", inner), guarded in the inner one',
      adapters: ['hono'],
      build(authenticator, hits) {
        const outer = new Hono();
        for (const module of ['payments', 'invoices']) {
          const inner = new Hono<FinoraAuthEnv>();
          inner.use(honoAuth({ authenticator }));
          inner.get('/:id', handler(hits, `/${module}/:id`));
          outer.route(`/${module}`, inner);
        }
        const app = new Hono();
        app.route('/api', outer);
        return listener(app as Hono<FinoraAuthEnv>);
      },
      enterprise: ['/api/payments/1'],
      retail: ['/api/invoices/1'],
    },
  ];
}

export const MOUNT_CASES: readonly MountCase[] = [...expressCases(), ...koaCases(), ...honoCases(), ...fastifyMountCases()];

export async function serveListener(listener: RequestListener, hits: Hit[]): Promise<Served> {
  const server = createServer(listener);
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
  };
}
