// The seven framework set-ups the adapter suites run against, each serving a few routes over real HTTP on port 0.

import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { finoraAuth as expressAuth } from '@finora-auth/express';
import { finoraAuth as honoAuth, type FinoraAuthEnv } from '@finora-auth/hono';
import { finoraAuth as koaAuth } from '@finora-auth/koa';
import { FASTIFY, fastifyHarness } from './adapters-fastify';

/**
 * Routes every app serves, for every method (scoped keys are judged by method). `:id` routes let a path carry one more segment; `/*` routes (in each framework's own
 * wildcard syntax) catch everything below, as an API's catch-all handler would, dot segments included.
 */
export const ROUTES = [
  '/', '/health', '/payments', '/payments/:id', '/v1/payments', '/v1/payments/:id',
  '/invoices', '/invoices/:id', '/v1/invoices', '/v1/invoices/:id',
  '/payments/*', '/v1/payments/*', '/invoices/*', '/v1/invoices/*',
] as const;

/** A route of the enterprise `payments` module. */
export const isEnterpriseRoute = (route: string) => /^(\/v1)?\/payments(\/|$)/.test(route);

/** `/payments/*` in Express 5 and @koa/router 14 (path-to-regexp 8) syntax. */
const namedWildcard = (route: string) => route.replace(/\/\*$/, '/{*rest}');

/** What a route handler saw: which route ran and the AuthContext it was given. */
export interface Hit {
  route: string;
  auth: Record<string, unknown> | null;
}

export interface Served {
  origin: string;
  /** Every handler run, in order: a refusal must add none. */
  hits: Hit[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /** What `finoraAuth` receives; each adapter's own option type differs only in the `module` function's argument. */
  auth: Record<string, unknown>;
  /** Node's limit on request head size, in bytes. Default: Node's own (16 KiB). */
  maxHeaderSize?: number;
}

export type AdapterName = 'express5' | 'express4' | 'koa3' | 'koa2' | 'hono' | 'fastify5' | 'fastify4';

export interface Harness {
  name: AdapterName;
  framework: 'express' | 'koa' | 'hono' | 'fastify';
  serve(options: ServeOptions): Promise<Served>;
}

/** The handler's answer, the same on every framework. */
const answer = (hits: Hit[], route: string, auth: unknown) => {
  const hit: Hit = { route, auth: (auth ?? null) as Hit['auth'] };
  hits.push(hit);
  return JSON.stringify(hit);
};

async function listen(server: Server, hits: Hit[]): Promise<Served> {
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

function expressHarness(name: 'express5' | 'express4', express: typeof express5): Harness {
  return {
    name,
    framework: 'express',
    serve({ auth, maxHeaderSize }) {
      const hits: Hit[] = [];
      const app = express();
      app.use(expressAuth(auth as Parameters<typeof expressAuth>[0]));
      for (const route of ROUTES) {
        app.all(name === 'express5' ? namedWildcard(route) : route, (req, res) => {
          res.type('application/json').send(answer(hits, route, req.auth));
        });
      }
      app.use((error: Error, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
        res.status(500).json({ handlerError: error.name, message: error.message });
      });
      return listen(createServer({ maxHeaderSize }, app), hits);
    },
  };
}

function koaHarness(name: 'koa3' | 'koa2', Koa: typeof Koa3): Harness {
  return {
    name,
    framework: 'koa',
    serve({ auth, maxHeaderSize }) {
      const hits: Hit[] = [];
      const app = new Koa();
      app.silent = true;
      app.use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          ctx.status = 500;
          ctx.body = { handlerError: (error as Error).name, message: (error as Error).message };
        }
      });
      app.use(koaAuth(auth as Parameters<typeof koaAuth>[0]));
      const router = new Router();
      for (const route of ROUTES) {
        router.all(namedWildcard(route), (ctx: Koa3.Context) => {
          ctx.type = 'application/json';
          ctx.body = answer(hits, route, ctx.state.auth);
        });
      }
      app.use(router.routes());
      return listen(createServer({ maxHeaderSize }, app.callback()), hits);
    },
  };
}

const honoHarness: Harness = {
  name: 'hono',
  framework: 'hono',
  serve({ auth, maxHeaderSize }) {
    const hits: Hit[] = [];
    const app = new Hono<FinoraAuthEnv>();
    app.use(honoAuth(auth as Parameters<typeof honoAuth>[0]));
    for (const route of ROUTES) {
      app.all(route, (c) => c.body(answer(hits, route, c.get('auth')), 200, { 'Content-Type': 'application/json' }));
    }
    app.onError((error, c) => c.json({ handlerError: error.name, message: error.message }, 500));
    return listen(createServer({ maxHeaderSize }, getRequestListener(app.fetch)), hits);
  },
};

export const HARNESSES: readonly Harness[] = [
  expressHarness('express5', express5),
  expressHarness('express4', express4 as unknown as typeof express5),
  koaHarness('koa3', Koa3),
  koaHarness('koa2', Koa2 as unknown as typeof Koa3),
  honoHarness,
  ...FASTIFY.map(([name, fastify]) => fastifyHarness(name, fastify, ROUTES)),
];

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * One request, sent as written: Node's client neither normalises the path nor merges headers, so spellings
 * such as `//payments`, `/x/../payments` or a tab in a header value reach the server untouched; an array sends
 * the header once per value.
 */
export function send(origin: string, path: string, headers: Record<string, string | string[]> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}/`, { method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
