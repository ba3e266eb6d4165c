// Investigation (not part of `pnpm bench`): where finoraAuth's per-request server CPU goes, one step at a time.
//
//   node bench/http-breakdown.mjs [hono|express|koa] [--rounds=5] [--seconds=2.5]
//
// Servers that each add one step on top of the previous, measured like bench/http.mjs (separate processes,
// interleaved runs, server CPU per request from process.cpuUsage, medians):
//   floor        no middleware
//   async        a middleware that only continues after a resolved promise
//   header       + read Authorization as the adapter does (Hono: c.req.header; Express/Koa: req.headersDistinct)
//   rawheader    Hono only: + read it from @hono/node-server's c.env.incoming.headers instead of c.req.header
//   auth         + authenticator.authenticate({ authorization }) and store the context (no module)
//   finoraFixed  finoraAuth({ authenticator, module: 'invoices' })
//   finora       finoraAuth({ authenticator }): the module derived from the path, as bench/http.mjs runs it
// Each step's cost is its CPU per request minus that of the step it builds on (printed beside it).

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { emit, log, machine, median, parseArgs, round } from './lib.mjs';

const args = parseArgs();
const framework = args.rest.find((a) => !a.startsWith('--')) ?? 'hono';
const num = (name, fallback) => Number(args.rest.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);

if (args.rest.includes('--serve')) {
  const variant = args.rest.at(-1);
  const core = await import('@finora-auth/core');
  const store = new core.MemoryKeyStore();
  const manager = core.createKeyManager({ store });
  await manager.putAccount({ id: 'acct_bench', tier: 'premium' });
  const { apiKey } = await manager.issue({ accountId: 'acct_bench', environment: 'live' });
  const authenticator = core.createAuthenticator({ store });
  const ready = (server) => process.send({ port: server.address().port, apiKey });
  if (framework === 'hono') {
    const { Hono } = await import('hono');
    const { serve } = await import('@hono/node-server');
    const { finoraAuth } = await import('@finora-auth/hono');
    const steps = {
      async: async (c, next) => void (await next()),
      header: async (c, next) => void (c.req.header('authorization'), await next()),
      rawheader: async (c, next) => void (c.env.incoming.headers.authorization, await next()),
      auth: async (c, next) => {
        c.set('auth', (await authenticator.authenticate({ authorization: c.req.header('authorization') })).context);
        await next();
      },
      finoraFixed: finoraAuth({ authenticator, module: 'invoices' }),
      finora: finoraAuth({ authenticator }),
    };
    const app = new Hono();
    if (steps[variant]) app.use(steps[variant]);
    app.get('/v1/invoices', (c) => c.json({ ok: true }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready(server));
  } else if (framework === 'express') {
    const { default: express } = await import('express');
    const { finoraAuth } = await import('@finora-auth/express');
    const steps = {
      async: (req, res, next) => void Promise.resolve().then(() => next()),
      // As the adapter reads it: every Authorization header, joined (Node's headersDistinct builds arrays for all headers).
      header: (req, res, next) => void Promise.resolve(req.headersDistinct?.authorization?.join(', ') ?? req.headers.authorization).then(() => next()),
      auth: (req, res, next) =>
        void authenticator.authenticate({ authorization: req.headers.authorization }).then((r) => {
          req.auth = r.context;
          next();
        }),
      finoraFixed: finoraAuth({ authenticator, module: 'invoices' }),
      finora: finoraAuth({ authenticator }),
    };
    const app = express();
    if (steps[variant]) app.use(steps[variant]);
    app.get('/v1/invoices', (req, res) => void res.json({ ok: true }));
    const server = app.listen(0, '127.0.0.1', () => ready(server));
  } else {
    const { default: Koa } = await import('koa');
    const { default: Router } = await import('@koa/router');
    const { finoraAuth } = await import('@finora-auth/koa');
    const steps = {
      async: async (ctx, next) => void (await next()),
      header: async (ctx, next) => void (ctx.req.headersDistinct?.authorization?.join(', ') ?? ctx.headers.authorization, await next()),
      auth: async (ctx, next) => {
        ctx.state.auth = (await authenticator.authenticate({ authorization: ctx.headers.authorization })).context;
        await next();
      },
      finoraFixed: finoraAuth({ authenticator, module: 'invoices' }),
      finora: finoraAuth({ authenticator }),
    };
    const app = new Koa();
    if (steps[variant]) app.use(steps[variant]);
    const router = new Router();
    router.get('/v1/invoices', (ctx) => void (ctx.body = { ok: true }));
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1', () => ready(server));
  }
  process.on('message', (m) => m === 'cpu' && process.send({ cpu: process.cpuUsage() }));
  process.on('disconnect', () => process.exit(0));
} else {
  const { default: autocannon } = await import('autocannon');
  const variants = ['floor', 'async', 'header', ...(framework === 'hono' ? ['rawheader'] : []), 'auth', 'finoraFixed', 'finora'];
  const ROUNDS = num('rounds', 5);
  const SECONDS = num('seconds', 2.5);
  const script = fileURLToPath(import.meta.url);
  const servers = await Promise.all(
    variants.map(
      (variant) =>
        new Promise((resolve) => {
          const child = fork(script, [framework, '--serve', variant], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
          child.once('message', (m) => resolve({ variant, child, ...m }));
        }),
    ),
  );
  const cpu = (s) =>
    new Promise((resolve) => {
      s.child.once('message', (m) => resolve(m.cpu.user + m.cpu.system));
      s.child.send('cpu');
    });
  const runs = Object.fromEntries(variants.map((v) => [v, []]));
  log(`breakdown: ${framework}, ${ROUNDS} rounds x ${variants.length} steps x ${SECONDS}s (first round is warm-up)`);
  for (let r = 0; r <= ROUNDS; r++) {
    for (const s of servers) {
      const before = await cpu(s);
      const result = await autocannon({
        url: `http://127.0.0.1:${s.port}/v1/invoices`,
        connections: 10,
        duration: r === 0 ? 1 : SECONDS,
        headers: { authorization: `Bearer ${s.apiKey}` },
      });
      const micros = (await cpu(s)) - before;
      if (result.non2xx || result.errors) throw new Error(`${s.variant}: ${result.non2xx} non-2xx, ${result.errors} errors`);
      if (r > 0) runs[s.variant].push({ rps: result.requests.total / result.duration, cpu: micros / result.requests.total });
    }
  }
  for (const s of servers) s.child.kill();
  // What each step is compared with: the step it adds to (rawheader replaces header, so it is compared with async).
  const BASE = { async: 'floor', header: 'async', rawheader: 'async', auth: 'header', finoraFixed: 'auth', finora: 'finoraFixed' };
  const cpuOf = (variant) => median(runs[variant].map((x) => x.cpu));
  const steps = variants.map((variant) => {
    const step = { variant, rps: Math.round(median(runs[variant].map((x) => x.rps))), cpuMicrosPerRequest: round(cpuOf(variant), 1) };
    if (BASE[variant]) Object.assign(step, { comparedWith: BASE[variant], addedMicros: round(cpuOf(variant) - cpuOf(BASE[variant]), 1) });
    return step;
  });
  for (const s of steps) log(`  ${s.variant.padEnd(12)} ${String(s.rps).padStart(6)} req/s  ${String(s.cpuMicrosPerRequest).padStart(6)} us CPU/req  ${s.comparedWith ? `${s.addedMicros >= 0 ? '+' : ''}${s.addedMicros} over ${s.comparedWith}` : ''}`);
  emit({ section: 'http-breakdown', framework, rounds: ROUNDS, seconds: SECONDS, steps, machine: machine(), measuredAt: new Date().toISOString() });
}
