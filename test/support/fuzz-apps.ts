// Real servers on port 0 for each framework, with a route for every catalog module, recording which handler ran.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import express4 from 'express4';
import Koa from 'koa';
import Koa2 from 'koa2';
import Router from '@koa/router';
import { Hono, type MiddlewareHandler } from 'hono';
import { getRequestListener } from '@hono/node-server';
import { ENTERPRISE_MODULES, RETAIL_MODULES, type Authenticator } from '@finora-auth/core';
import { finoraAuth as expressAuth } from '@finora-auth/express';
import { finoraAuth as honoAuth } from '@finora-auth/hono';
import { finoraAuth as koaAuth } from '@finora-auth/koa';

export type Framework = 'express5' | 'express4' | 'koa3' | 'koa2' | 'hono';
export const FRAMEWORKS: readonly Framework[] = ['express5', 'express4', 'koa3', 'koa2', 'hono'];

/** The adapter package each framework is served by. */
export const ADAPTER_OF: Record<Framework, 'express' | 'koa' | 'hono'> = {
  express5: 'express',
  express4: 'express',
  koa3: 'koa',
  koa2: 'koa',
  hono: 'hono',
};

/** The adapter's middleware for `framework`, in front of every route, module derived from the path. */
export function adapterMiddleware(framework: Framework, authenticator: Authenticator): unknown {
  switch (ADAPTER_OF[framework]) {
    case 'express':
      return expressAuth({ authenticator });
    case 'koa':
      return koaAuth({ authenticator });
    case 'hono':
      return honoAuth({ authenticator });
  }
}

/** One handler run: which route's handler, and what the auth middleware (if any) attached. */
export interface Hit {
  route: string;
  url: string;
  /** The path the framework routed on: Express and Koa the raw pathname, Hono the decoded, dot-resolved `c.req.path`. */
  routingPath: string;
  auth: { keyId?: string; module?: string; surface?: string } | undefined;
}

export interface RunningApp {
  framework: Framework;
  port: number;
  hits: Hit[];
  /** Errors that reached the framework's error handling: each is a 500. */
  errors: unknown[];
  close(): Promise<void>;
}

export interface AppOptions {
  /** The auth middleware, mounted in front of every route (framework-specific value). */
  middleware?: unknown;
  /** Node's limit on the request head, in bytes. Default: Node's (16 KB). */
  maxHeaderSize?: number;
}

/** Every module's routes, the way an application would write them: bare, under /v1 and /v2, with sub-paths. */
export const ROUTED_MODULES: readonly string[] = [...ENTERPRISE_MODULES, ...RETAIL_MODULES];
const PREFIXES = ['', '/v1', '/v2'];

/**
 * Records the hit and answers with it. Behind the gateway there is no middleware: the identity comes from the
 * headers the gateway forwards (`Finora-Key-Id`, `Finora-Module`), read through `header`.
 */
function respond(hits: Hit[], route: string, url: string, routingPath: string, auth: Hit['auth'], header: (name: string) => string | undefined) {
  const forwarded: NonNullable<Hit['auth']> = {};
  const keyId = header('finora-key-id');
  const module = header('finora-module');
  if (keyId) forwarded.keyId = keyId;
  if (module) forwarded.module = module;
  const seen = auth ?? (keyId ? forwarded : undefined);
  hits.push({ route, url, routingPath, auth: seen });
  return { route, routingPath, module: seen?.module ?? null, keyId: seen?.keyId ?? null };
}

const pathname = (url: string) => url.replace(/^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i, '').replace(/[?#][^]*$/, '');

function pickAuth(value: unknown): Hit['auth'] {
  if (!value || typeof value !== 'object') return undefined;
  const { keyId, module, surface } = value as Record<string, string | undefined>;
  const auth: NonNullable<Hit['auth']> = {};
  if (keyId !== undefined) auth.keyId = keyId;
  if (module !== undefined) auth.module = module;
  if (surface !== undefined) auth.surface = surface;
  return auth;
}

function expressApp(make: typeof express, hits: Hit[], errors: unknown[], middleware: unknown): http.RequestListener {
  const app = make();
  app.disable('x-powered-by');
  if (middleware) app.use(middleware as express.RequestHandler);
  for (const module of ROUTED_MODULES) {
    for (const prefix of PREFIXES) {
      // app.use mounts at a segment boundary, case-insensitively, as applications mount routers.
      app.use(`${prefix}/${module}`, (req: express.Request, res: express.Response) => {
        res.json(respond(hits, module, req.originalUrl, pathname(req.originalUrl), pickAuth((req as { auth?: unknown }).auth), (n) => req.get(n)));
      });
    }
  }
  app.use((req: express.Request, res: express.Response) => {
    res.status(404).json(respond(hits, '', req.originalUrl, pathname(req.originalUrl), pickAuth((req as { auth?: unknown }).auth), (n) => req.get(n)));
  });
  app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    errors.push(error);
    res.status(500).json({ error: 'internal' });
  });
  return app as unknown as http.RequestListener;
}

function koaApp(KoaClass: typeof Koa, hits: Hit[], errors: unknown[], middleware: unknown): http.RequestListener {
  const app = new KoaClass();
  // Koa reports here the socket errors of a connection Node's parser cut (bytes after a request that parse as
  // no request): no client sees those. Errors of the middleware itself are caught below and answered with 500.
  app.silent = true;
  app.on('error', () => undefined);
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      errors.push(error);
      ctx.status = 500;
      ctx.body = { error: 'internal' };
    }
  });
  if (middleware) app.use(middleware as Koa.Middleware);
  const router = new Router();
  for (const module of ROUTED_MODULES) {
    for (const prefix of PREFIXES) {
      router.all(`${prefix}/${module}{/*rest}`, (ctx: Koa.Context) => {
        ctx.body = respond(hits, module, ctx.originalUrl, ctx.path, pickAuth(ctx.state.auth), (n) => ctx.get(n) || undefined);
      });
    }
  }
  app.use(router.routes());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = respond(hits, '', ctx.originalUrl, ctx.path, pickAuth(ctx.state.auth), (n) => ctx.get(n) || undefined);
  });
  return app.callback();
}

function honoApp(hits: Hit[], errors: unknown[], middleware: unknown): http.RequestListener {
  const app = new Hono<{ Variables: { auth?: unknown } }>();
  if (middleware) app.use('*', middleware as MiddlewareHandler);
  for (const module of ROUTED_MODULES) {
    for (const prefix of PREFIXES) {
      const handler = (c: {
        req: { url: string; path: string; header: (name: string) => string | undefined };
        get: (k: 'auth') => unknown;
        json: (v: unknown) => Response;
      }) => c.json(respond(hits, module, c.req.url, c.req.path, pickAuth(c.get('auth')), (n) => c.req.header(n)));
      app.all(`${prefix}/${module}`, handler);
      app.all(`${prefix}/${module}/*`, handler);
    }
  }
  app.notFound((c) => c.json(respond(hits, '', c.req.url, c.req.path, pickAuth(c.get('auth')), (n) => c.req.header(n)), 404));
  app.onError((error, c) => {
    errors.push(error);
    return c.json({ error: 'internal' }, 500);
  });
  return getRequestListener(app.fetch);
}

/** Starts `framework` on 127.0.0.1, port 0, with a route for every module and `middleware` in front of them. */
export async function startApp(framework: Framework, options: AppOptions = {}): Promise<RunningApp> {
  const hits: Hit[] = [];
  const errors: unknown[] = [];
  const listener =
    framework === 'express5'
      ? expressApp(express, hits, errors, options.middleware)
      : framework === 'express4'
        ? expressApp(express4 as unknown as typeof express, hits, errors, options.middleware)
        : framework === 'koa3'
          ? koaApp(Koa, hits, errors, options.middleware)
          : framework === 'koa2'
            ? koaApp(Koa2 as unknown as typeof Koa, hits, errors, options.middleware)
            : honoApp(hits, errors, options.middleware);
  const serverOptions: http.ServerOptions = {};
  if (options.maxHeaderSize !== undefined) serverOptions.maxHeaderSize = options.maxHeaderSize;
  const server = http.createServer(serverOptions, listener);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    framework,
    port,
    hits,
    errors,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
