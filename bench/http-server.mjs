// One HTTP server for the throughput benchmark, run in its own process: a framework, a variant, one trivial route.
//
// Usage (forked with IPC by bench/http.mjs): node bench/http-server.mjs <hono|express|koa|fastify> <floor|async|finora|peer>
// It issues one key in a memory store, listens on 127.0.0.1 port 0 and sends { type: 'ready', port, apiKey }.
// It answers { type: 'cpu' } with its process.cpuUsage(), so the parent can charge CPU time per request.
//
// Variants, all serving GET /v1/invoices -> {"ok":true} and all receiving the same Authorization header:
//   floor   no authentication at all
//   async   a control: a middleware that does nothing but continue after a resolved promise, as any middleware that
//           awaits a lookup must (Hono and Koa: `async (c, next) => { await next() }`; Express: `.then(next)`;
//           Fastify: an `async` onRequest hook that returns at once)
//   finora  finoraAuth({ authenticator }) from the built @finora-auth/<framework>; the module is derived from the path
//   peer    what the framework's users reach for:
//           hono    hono/bearer-auth with the key as its static token
//           express passport + passport-http-bearer, verify = SHA-256 of the token looked up in a Map
//           koa     a small hand-written bearer middleware: regex, SHA-256 of the token, Map lookup
//           fastify the same hand-written check as a synchronous onRequest hook (Fastify has no bearer plugin installed here)

import { createHash } from 'node:crypto';

const [framework, variant] = process.argv.slice(2);
if (!['hono', 'express', 'koa', 'fastify'].includes(framework) || !['floor', 'async', 'finora', 'peer'].includes(variant)) {
  console.error('usage: node bench/http-server.mjs <hono|express|koa|fastify> <floor|async|finora|peer>');
  process.exit(2);
}

const core = await import('@finora-auth/core');
const store = new core.MemoryKeyStore();
const manager = core.createKeyManager({ store });
await manager.putAccount({ id: 'acct_bench', tier: 'premium' });
const { apiKey } = await manager.issue({ accountId: 'acct_bench', environment: 'live' });
const authenticator = core.createAuthenticator({ store });

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
// What a hand-rolled integration keeps: the digest of each key, never the key, mapped to its owner.
const users = new Map([[sha256(apiKey), { accountId: 'acct_bench' }]]);
const BODY = { ok: true };
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;

async function honoServer() {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const app = new Hono();
  if (variant === 'async') {
    app.use(async function asyncNoop(c, next) {
      await next();
    });
  } else if (variant === 'finora') {
    const { finoraAuth } = await import('@finora-auth/hono');
    app.use(finoraAuth({ authenticator }));
  } else if (variant === 'peer') {
    const { bearerAuth } = await import('hono/bearer-auth');
    app.use(bearerAuth({ token: apiKey }));
  }
  app.get('/v1/invoices', (c) => c.json(BODY));
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve({ server, port: info.port }));
  });
}

async function expressServer() {
  const { default: express } = await import('express');
  const app = express();
  if (variant === 'async') {
    app.use(function asyncNoop(req, res, next) {
      Promise.resolve().then(() => next(), next);
    });
  } else if (variant === 'finora') {
    const { finoraAuth } = await import('@finora-auth/express');
    app.use(finoraAuth({ authenticator }));
  } else if (variant === 'peer') {
    const { default: passport } = await import('passport');
    const { Strategy: BearerStrategy } = await import('passport-http-bearer');
    passport.use(new BearerStrategy((token, done) => done(null, users.get(sha256(token)) ?? false)));
    app.use(passport.initialize());
    app.use(passport.authenticate('bearer', { session: false }));
  }
  app.get('/v1/invoices', (req, res) => {
    res.json(BODY);
  });
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

async function koaServer() {
  const { default: Koa } = await import('koa');
  const { default: Router } = await import('@koa/router');
  const app = new Koa();
  if (variant === 'async') {
    app.use(async function asyncNoop(ctx, next) {
      await next();
    });
  } else if (variant === 'finora') {
    const { finoraAuth } = await import('@finora-auth/koa');
    app.use(finoraAuth({ authenticator }));
  } else if (variant === 'peer') {
    app.use(async function bearer(ctx, next) {
      const match = BEARER.exec(ctx.get('authorization'));
      const user = match ? users.get(sha256(match[1])) : undefined;
      if (!user) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="api", error="invalid_token"');
        ctx.body = { error: 'unauthorized' };
        return;
      }
      ctx.state.user = user;
      await next();
    });
  }
  const router = new Router();
  router.get('/v1/invoices', (ctx) => {
    ctx.body = BODY;
  });
  app.use(router.routes());
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

async function fastifyServer() {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  if (variant === 'async') {
    app.addHook('onRequest', async function asyncNoop() {});
  } else if (variant === 'finora') {
    const { finoraAuth } = await import('@finora-auth/fastify');
    await app.register(finoraAuth, { authenticator });
  } else if (variant === 'peer') {
    app.addHook('onRequest', function bearer(request, reply, done) {
      const match = BEARER.exec(request.headers.authorization ?? '');
      const user = match ? users.get(sha256(match[1])) : undefined;
      if (!user) {
        reply.code(401).header('WWW-Authenticate', 'Bearer realm="api", error="invalid_token"').send({ error: 'unauthorized' });
        return;
      }
      request.user = user;
      done();
    });
  }
  app.get('/v1/invoices', (request, reply) => reply.send(BODY));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { server: app.server, port: app.server.address().port };
}

const { server, port } = await { hono: honoServer, express: expressServer, koa: koaServer, fastify: fastifyServer }[framework]();

// CPU profile of the measured runs only (not start-up or warm-up), on the parent's word: the same V8 profiler as
// `node --cpu-prof`, started and stopped through the inspector.
let profiler;
async function profile(action, file) {
  if (action === 'start') {
    const { Session } = await import('node:inspector');
    profiler = new Session();
    profiler.connect();
    const post = (method, params) => new Promise((resolve, reject) => profiler.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
    await post('Profiler.start');
    profiler.postAsync = post;
  } else if (profiler) {
    const { profile: data } = await profiler.postAsync('Profiler.stop');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { dirname } = await import('node:path');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(data));
    profiler.disconnect();
    profiler = undefined;
  }
}

process.on('message', (message) => {
  if (message?.type === 'profile') profile(message.action, message.file).then(() => process.send({ type: 'profile', done: message.action }));
  if (message?.type === 'cpu') process.send({ type: 'cpu', usage: process.cpuUsage(), rss: process.memoryUsage().rss });
  if (message?.type === 'stop') {
    server.close();
    server.closeAllConnections?.();
    // exit (not just close), so that a server started by hand with node --cpu-prof writes its profile now.
    setImmediate(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', port, apiKey });
