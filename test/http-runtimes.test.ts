// The built @finora-auth/http on Node, workerd, Bun and Deno: an edge app authenticates against a real gateway's internal API.

import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryKeyStore, createKeyManager } from '@finora-auth/core';
import { eventually } from '@finora-auth/core/testing';
import { createInternalApi, type InternalApi } from '../packages/gateway/src/internal-api';
import { send } from './support/adapters';
import {
  freePort,
  launch,
  platformBinary,
  startBundle,
  stopBundle,
  type BundleRuntime,
  type RunningBundle,
  type Started,
} from './support/runtime-launch';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'packages', 'http', 'dist', 'index.js');
const TTL_MS = 400;

/** workerd with outbound fetch allowed to loopback (its default network service reaches public addresses only). */
async function startWorkerdLocal(bundle: string, dir: string): Promise<Started> {
  const port = await freePort();
  const config = join(dir, `config-${port}.capnp`); // one per instance: two may share a bundle
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker), (name = "loopback", network = (allow = ["local", "private", "public"]))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "${basename(bundle)}")],
  compatibilityDate = "2025-09-01",
  globalOutbound = "loopback",
);
`,
  );
  return launch(platformBinary('workerd', '@cloudflare/workerd-linux-64', 'bin/workerd'), ['serve', config], dir, port);
}

interface Runtime extends BundleRuntime {
  name: string;
  serve: string;
  /** Whether the store should hear the gateway's stream there (false on Workers, by its own detection). */
  streams: boolean;
}

const RUNTIMES: Runtime[] = [
  {
    name: 'node',
    serve: `import { createServer } from 'node:http';
      const server = createServer(async (req, res) => {
        const reply = await handler(new Request('http://edge' + req.url, { headers: req.headers }));
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(await reply.text());
      });
      server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));`,
    platform: 'node',
    conditions: [],
    streams: true,
    start: (bundle, dir) => launch(process.execPath, [bundle], dir),
  },
  {
    name: 'workerd',
    // Workers hand the authenticator's flush to ctx.waitUntil: no timer's fetch outlives the request there.
    serve: 'export default { fetch: (request, env, ctx) => handler(request, ctx) };',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    streams: false,
    start: startWorkerdLocal,
  },
  {
    name: 'bun',
    serve: `const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => handler(request) });
      console.log(JSON.stringify({ port: server.port }));`,
    platform: 'neutral',
    conditions: ['bun'],
    streams: true,
    start: (bundle, dir) => launch(platformBinary('bun', '@oven/bun-linux-x64', 'bin/bun'), [bundle], dir),
  },
  {
    name: 'deno',
    serve: `Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => console.log(JSON.stringify({ port })) }, (request) => handler(request));`,
    platform: 'neutral',
    conditions: ['deno'],
    streams: true,
    start: (bundle, dir) =>
      launch(platformBinary('deno', '@deno/linux-x64-glibc', 'deno'), ['run', '--allow-net=127.0.0.1', '--no-prompt', bundle], dir),
  },
];

const backing = new MemoryKeyStore();
const manager = createKeyManager({ store: backing });
const token = randomBytes(32).toString('hex');
let api: InternalApi;
let gateway: Server;
let gatewayUrl: string;

beforeAll(async () => {
  // The bundles take both packages' dist (the core's through its package exports).
  for (const name of ['http', 'core']) {
    const src = join(root, 'packages', name, 'src');
    const built = join(root, 'packages', name, 'dist', 'index.js');
    const newest = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs));
    if (!existsSync(built) || statSync(built).mtimeMs < newest) {
      throw new Error(`packages/${name}/dist is missing or older than its source: run \`pnpm run build\` first (pnpm test does)`);
    }
  }
  await manager.putAccount({ id: 'edge', tier: 'premium' });
  api = createInternalApi({ store: backing, token });
  gateway = createServer((req, res) => {
    if (!api.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});

afterAll(async () => {
  api?.close();
  gateway?.closeAllConnections();
  await new Promise((resolve) => gateway?.close(resolve));
});

// The edge app: the store and authenticator made once (at module scope, as an edge function would).
const app = () => `import { createAuthenticator } from '@finora-auth/core';
import { HttpKeyStore } from ${JSON.stringify(dist)};
const store = new HttpKeyStore({ url: ${JSON.stringify(gatewayUrl)}, token: ${JSON.stringify(token)} });
const authenticator = createAuthenticator({ store, cache: { ttlMs: ${TTL_MS} } });
async function handler(request, ctx) {
  const { pathname } = new URL(request.url);
  if (pathname === '/health') return new Response('ok');
  const result = await authenticator.authenticate({ authorization: request.headers.get('authorization') });
  // Workers: usage and rate-window counts leave after the response, kept alive by waitUntil; elsewhere timers send them.
  ctx?.waitUntil(authenticator.flush());
  return Response.json(
    result.ok
      ? { ok: true, keyId: result.context.keyId, credits: result.context.creditsRemaining }
      : { ok: false, status: result.error.status, code: result.error.code },
  );
}
`;

/** The edge app bundled for `runtime` and started `instances` times (separate processes: separate isolates). */
const startEdge = (runtime: Runtime, instances = 1) => startBundle(runtime, `${app()}\n${runtime.serve}`, { instances });

const askAt = async (origin: string, apiKey: string) => JSON.parse((await send(origin, '/v1/invoices', { authorization: `Bearer ${apiKey}` })).text);

describe.each(RUNTIMES)('$name', (runtime) => {
  let edge: RunningBundle | undefined;

  beforeAll(async () => {
    edge = await startEdge(runtime);
  }, 60_000);

  afterAll(() => stopBundle(edge));

  const ask = (apiKey: string) => askAt(edge!.origins[0]!, apiKey);

  it('allows a key the gateway knows, refuses one it does not', async () => {
    const { apiKey, key } = await manager.issue({ accountId: 'edge', environment: 'live' });
    expect(await ask(apiKey)).toEqual({ ok: true, keyId: key.id });
    const other = await manager.issue({ accountId: 'edge', environment: 'test' });
    await manager.revoke(other.key.id);
    expect(await ask(other.apiKey)).toEqual({ ok: false, status: 401, code: 'INVALID_API_KEY' });
  });

  it("spends a metered account's credits through the gateway, then refuses 402; its usage reaches the gateway", async () => {
    const accountId = `edge-metered-${runtime.name}`;
    await manager.putAccount({ id: accountId, tier: 'premium' });
    await manager.grantCredits(accountId, 2);
    const { apiKey, key } = await manager.issue({ accountId, environment: 'live' });
    expect(await ask(apiKey)).toEqual({ ok: true, keyId: key.id, credits: 1 });
    expect(await ask(apiKey)).toEqual({ ok: true, keyId: key.id, credits: 0 });
    expect(await ask(apiKey)).toEqual({ ok: false, status: 402, code: 'CREDITS_EXHAUSTED' });
    expect((await manager.credits(accountId)).balance).toBe(0);
    // Node, Bun, Deno: the batch timer sends it a second later. Workers: no timer's fetch outlives the request, so
    // the app hands authenticator.flush() to ctx.waitUntil, which sends it after each response.
    const counted = () => backing.listUsage(accountId, '2000-01-01', '2999-12-31');
    const waited = await eventually(async () => (await counted())[0]?.allowed === 2, 5_000, { what: 'usage at the gateway' });
    expect(await counted()).toEqual([{ day: expect.any(String), keyId: key.id, environment: 'live', allowed: 2, creditsSpent: 2 }]);
    console.info(`[measured] ${runtime.name}: usage at the gateway ${Math.round(waited)} ms after the last request`);
  });

  it(runtime.streams ? 'hears a revocation over the stream, well within the cache ttl' : 'hears nothing (Workers): a revocation is seen once the cache ttl has passed', async () => {
    const { apiKey, key } = await manager.issue({ accountId: 'edge', environment: 'live' });
    expect((await ask(apiKey)).ok).toBe(true);
    await manager.revoke(key.id);
    const revokedAt = Date.now();
    let last = await ask(apiKey);
    while (last.ok && Date.now() - revokedAt < 5_000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      last = await ask(apiKey);
    }
    const seenAfter = Date.now() - revokedAt;
    expect(last).toEqual({ ok: false, status: 401, code: 'INVALID_API_KEY' });
    console.info(`[measured] ${runtime.name}: revocation honoured after ${seenAfter} ms (cache ttl ${TTL_MS} ms)`);
    if (runtime.streams) expect(seenAfter).toBeLessThan(TTL_MS / 2);
    else expect(seenAfter).toBeGreaterThanOrEqual(TTL_MS / 2);
  });
});

describe('workerd, two isolates flushing through ctx.waitUntil', () => {
  let edge: RunningBundle | undefined;

  beforeAll(async () => {
    edge = await startEdge(RUNTIMES.find((runtime) => runtime.name === 'workerd')!, 2);
  }, 60_000);

  afterAll(() => stopBundle(edge));

  it('share a rate limit: the second refuses soon after the first spent it, not after a limit of its own', async () => {
    const [one, two] = edge!.origins as [string, string];
    const requests = 4;
    const perSeconds = 24 * 60 * 60; // one window for the whole test (a day's boundary during it would only split the count)
    const { apiKey, key } = await manager.issue({ accountId: 'edge', environment: 'live', rateLimit: { requests, perSeconds } });
    const windowMs = perSeconds * 1000;
    const counted = async () => {
      const start = Math.floor(Date.now() / windowMs) * windowMs;
      const counts = await Promise.all([start - windowMs, start].map((at) => backing.incrementRateWindow(key.id, at, 0, 60_000)));
      return counts[0]! + counts[1]!;
    };
    for (let i = 0; i < requests; i++) expect(await askAt(one, apiKey)).toEqual({ ok: true, keyId: key.id });
    expect(await askAt(one, apiKey)).toEqual({ ok: false, status: 429, code: 'RATE_LIMITED' });
    await eventually(async () => (await counted()) === requests, 5_000, { what: "the first isolate's counts at the gateway" });
    // The second isolate has not served this key: its first request is judged before it has heard of the others
    // (the fleet bound in docs/credits.md); its flush reads the fleet's count back.
    let allowedByTwo = 0;
    let last = await askAt(two, apiKey);
    while (last.ok && allowedByTwo < requests) {
      allowedByTwo += 1;
      await eventually(async () => (await counted()) === requests + allowedByTwo, 5_000, { what: "the second isolate's count at the gateway" });
      last = await askAt(two, apiKey);
    }
    expect(last).toEqual({ ok: false, status: 429, code: 'RATE_LIMITED' });
    // Per isolate it would have allowed `requests` of its own; shared, what its first flush's answer came too late for.
    expect(allowedByTwo).toBeGreaterThanOrEqual(1);
    expect(allowedByTwo).toBeLessThan(requests);
    console.info(`[measured] workerd: a second isolate allowed ${allowedByTwo} of a limit the first had spent (limit ${requests})`);
  });
});
