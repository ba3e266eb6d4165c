// Every example in examples/ run as its README says, against the built packages: started, one allowed request with a
// key issued through the `finora-auth` command, refusals, stopped.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@finora-auth/core/testing';
import { childEnv, cliJson, runCli, startServe, type ServeHandle } from '../packages/gateway/test/support';
import { freePort, platformBinary } from './support/runtime-launch';

const root = join(import.meta.dirname, '..');
const examples = join(root, 'examples');

/** Everything an example loads at run time, built from source when its dist is missing or stale. */
const PACKAGES = ['core', 'express', 'koa', 'hono', 'fastify', 'sqlite', 'redis', 'postgres', 'oauth', 'http', 'gateway'];

const children = new Set<ChildProcess>();
let dir: string;

beforeAll(() => {
  execFileSync(
    'flock',
    [join(tmpdir(), 'finora-auth-gateway-build.lock'), process.execPath, join(root, 'packages', 'gateway', 'test', 'build-stale.mjs'), ...PACKAGES],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 240_000 },
  );
  dir = mkdtempSync(join(tmpdir(), 'finora-examples-'));
}, 300_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Running {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code (null if it had to be killed by a signal). */
  stop(): Promise<number | null>;
}

/** The binary for a script's first word: the runtimes' own binaries (their npm shims spawn grandchildren a kill orphans). */
function binaryFor(command: string, cwd: string): string {
  if (command === 'node') return process.execPath;
  if (command === 'bun') return platformBinary('bun', '@oven/bun-linux-x64', 'bin/bun');
  if (command === 'deno') return platformBinary('deno', '@deno/linux-x64-glibc', 'deno');
  if (command === 'workerd') return platformBinary('workerd', '@cloudflare/workerd-linux-64', 'bin/workerd');
  if (command === 'esbuild') return join(cwd, 'node_modules', '.bin', 'esbuild');
  return command;
}

/** An example's `start` script, one [binary, args] per command it chains with `&&`. */
function startCommands(name: string): [string, string[]][] {
  const cwd = join(examples, name);
  const text = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')).scripts.start as string;
  return text.split(' && ').map((command) => {
    const [first, ...args] = command.split(' ') as [string, ...string[]];
    return [binaryFor(first, cwd), args];
  });
}

/**
 * Runs the example's `start` script as written in its package.json (the command its README gives), with PORT=0
 * (commands before a `&&` run to completion first),
 * and waits for the `listening on http://…` line it prints, or, given `port`, until `GET /healthz` answers there.
 */
function startExample(name: string, env: Record<string, string>, options: { extraArgs?: string[]; port?: number } = {}): Promise<Running> {
  const cwd = join(examples, name);
  const commands = startCommands(name);
  const [binary, args] = commands.pop()!;
  for (const [before, beforeArgs] of commands) execFileSync(before, beforeArgs, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
  const child = spawn(binary, [...args, ...(options.extraArgs ?? [])], {
    cwd,
    env: childEnv({ PORT: '0', NO_COLOR: '1', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  let settled = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 20 s:\n${output}`)), 20_000);
    void exited.then((code) => reject(new Error(`${name} exited ${code} before listening:\n${output}`)));
    const ready = (url: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        url,
        child,
        output: () => output,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    };
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /listening on (http:\/\/[^\s,]+)/.exec(output);
      if (match && options.port === undefined) ready(match[1] as string);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    if (options.port !== undefined) {
      const url = `http://127.0.0.1:${options.port}`;
      const poll = () =>
        fetch(`${url}/healthz`).then(
          (response) => (response.ok ? ready(url) : setTimeout(poll, 100)),
          () => !settled && setTimeout(poll, 100),
        );
      void poll();
    }
  });
}

/** A fresh SQLite store with one premium account and one retail test key in it, written by the CLI. */
async function storeWithKey(name: string): Promise<{ store: string; apiKey: string; keyId: string }> {
  const store = `sqlite:${join(dir, `${name}.db`)}`;
  const account = await runCli(['accounts', 'set', 'acme', '--tier', 'premium', '--store', store]);
  expect(account.code, account.stderr).toBe(0);
  const issued = await cliJson<{ apiKey: string; key: { id: string } }>(['keys', 'create', '--account', 'acme', '--env', 'test', '--store', store]);
  return { store, apiKey: issued.apiKey, keyId: issued.key.id };
}

const get = (url: string, apiKey?: string) => fetch(url, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});

async function expectRefusal(response: Response, status: number, code: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
}

describe.each(['express', 'koa', 'fastify', 'hono-node'])('examples/%s on the CLI-written SQLite store', (name) => {
  it('serves an issued key, refuses a missing key and a retail key on an enterprise module, stops on SIGTERM', async () => {
    const { store, apiKey } = await storeWithKey(name);
    const app = await startExample(name, { FINORA_AUTH_STORE: store });

    const allowed = await get(`${app.url}/v1/invoices`, apiKey);
    expect(allowed.status, app.output()).toBe(200);
    expect(await allowed.json()).toEqual({ module: 'invoices', account: 'acme' });
    await expectRefusal(await get(`${app.url}/v1/invoices`), 401, 'MISSING_API_KEY');
    await expectRefusal(await get(`${app.url}/v1/payments`, apiKey), 403, 'ENTERPRISE_ONLY');

    expect(await app.stop()).toBe(0);
  });
});

describe('examples/python behind finora-auth serve --upstream', () => {
  it('reaches the Python service with an issued key and the identity headers, never the key; refuses without one', async () => {
    const { store, apiKey } = await storeWithKey('python');
    const service = await startExample('python', {});
    const gateway = await startServe(['--upstream', service.url, '--store', store, '--access-log', 'off']);

    const allowed = await get(`${gateway.url}/v1/invoices`, apiKey);
    expect(allowed.status, gateway.stderr()).toBe(200);
    expect(await allowed.json()).toEqual({ path: '/v1/invoices', account: 'acme', environment: 'test', module: 'invoices', authorization: null });
    await expectRefusal(await get(`${gateway.url}/v1/invoices`), 401, 'MISSING_API_KEY');
    await expectRefusal(await get(`${gateway.url}/v1/payments`, apiKey), 403, 'ENTERPRISE_ONLY');

    expect((await gateway.stop()).code).toBe(0);
    expect(await service.stop()).toBe(0);
  });
});

interface Gateway {
  store: string;
  token: string;
  gateway: ServeHandle;
}

/** `finora-auth serve --internal-token-file` on its own store: what HttpKeyStore asks. */
async function gatewayFor(name: string, store: string): Promise<Gateway> {
  const token = randomBytes(32).toString('hex');
  const tokenFile = join(dir, `${name}.token`);
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const gateway = await startServe(['--store', store, '--internal-token-file', tokenFile, '--access-log', 'off']);
  return { store, token, gateway };
}

const POLL_MS = 50;

/** Asks until `url` answers `status`, returning how long that took; gives up after `limitMs`. */
async function msUntil(url: string, apiKey: string, status: number, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const response = await get(url, apiKey);
    await response.body?.cancel();
    const elapsed = performance.now() - started;
    if (response.status === status || elapsed > limitMs) return elapsed;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

describe.each(['hono-bun', 'hono-deno'])('examples/%s through HttpKeyStore and a real gateway', (name) => {
  it('serves an issued key, refuses without one and on an enterprise module, hears a CLI revocation, stops on SIGTERM', async () => {
    const { store, apiKey, keyId } = await storeWithKey(name);
    const { token, gateway } = await gatewayFor(name, store);
    const app = await startExample(name, { FINORA_GATEWAY_URL: gateway.url, FINORA_INTERNAL_TOKEN: token });
    try {
      const allowed = await get(`${app.url}/v1/invoices`, apiKey);
      expect(allowed.status, app.output()).toBe(200);
      expect(await allowed.json()).toEqual({ module: 'invoices', account: 'acme' });
      await expectRefusal(await get(`${app.url}/v1/invoices`), 401, 'MISSING_API_KEY');
      await expectRefusal(await get(`${app.url}/v1/payments`, apiKey), 403, 'ENTERPRISE_ONLY');

      // The gateway hears the CLI's write within 1 s (SQLite's change poll) and tells the app over its stream (1 s bound).
      const revoked = await runCli(['keys', 'revoke', keyId, '--store', store]);
      expect(revoked.code, revoked.stderr).toBe(0);
      const heard = await msUntil(`${app.url}/v1/invoices`, apiKey, 401, 5_000);
      console.info(`examples/${name}: refused ${Math.round(heard)} ms after \`keys revoke\` returned`);
      expect(heard).toBeLessThanOrEqual(2_000 + POLL_MS);
      expect(await app.stop()).toBe(0);
    } finally {
      await gateway.stop();
    }
  });
});

describe('examples/worker on workerd through HttpKeyStore and a real gateway', () => {
  it('200 for an issued key, 401 within its cache TTL of a CLI revocation, 503 once the gateway is stopped', async () => {
    const cwd = join(examples, 'worker');
    const bound = Number(/const REVOCATION_BOUND_MS = ([\d_]+)/.exec(readFileSync(join(cwd, 'worker.ts'), 'utf8'))![1]!.replace(/_/g, ''));

    const { store, apiKey, keyId } = await storeWithKey('worker');
    const other = await cliJson<{ apiKey: string }>(['keys', 'create', '--account', 'acme', '--env', 'live', '--store', store]);
    const { token, gateway } = await gatewayFor('worker', store);
    const port = await freePort();
    const worker = await startExample(
      'worker',
      { FINORA_GATEWAY_URL: gateway.url, FINORA_INTERNAL_TOKEN: token },
      { extraArgs: ['--socket-addr', `http=127.0.0.1:${port}`], port },
    );
    try {
      const allowed = await get(`${worker.url}/v1/invoices`, apiKey);
      expect(allowed.status, worker.output()).toBe(200);
      expect(await allowed.json()).toEqual({ module: 'invoices', account: 'acme' });
      await expectRefusal(await get(`${worker.url}/v1/invoices`), 401, 'MISSING_API_KEY');
      // The Worker hands authenticator.flush() to waitUntil (no timer outlives a request there): the allowed
      // request's usage reaches the gateway's store.
      const usage = () => cliJson<Array<{ allowed: number }>>(['usage', 'acme', '--store', store, '--json']);
      await eventually(async () => (await usage()).reduce((sum, row) => sum + row.allowed, 0) === 1, 5_000, { what: 'usage at the gateway' });

      // Warm the Worker's cache just before the revocation, so the bound (the cache TTL) is what is measured.
      expect((await get(`${worker.url}/v1/invoices`, apiKey)).status).toBe(200);
      const revoked = await runCli(['keys', 'revoke', keyId, '--store', store]);
      expect(revoked.code, revoked.stderr).toBe(0);
      // Observed within the bound, plus one poll interval of the observer.
      const refusedAfter = await msUntil(`${worker.url}/v1/invoices`, apiKey, 401, bound + 3_000);
      console.info(`examples/worker: refused ${Math.round(refusedAfter)} ms after \`keys revoke\` returned (bound ${bound} ms)`);
      expect(refusedAfter).toBeLessThanOrEqual(bound + POLL_MS);
      await expectRefusal(await get(`${worker.url}/v1/invoices`, apiKey), 401, 'INVALID_API_KEY');

      expect((await gateway.stop()).code).toBe(0);
      const unavailable = await get(`${worker.url}/v1/invoices`, other.apiKey); // never cached: the lookup must reach the gateway
      expect(unavailable.headers.get('retry-after')).toMatch(/^\d+$/);
      await expectRefusal(unavailable, 503, 'AUTH_UNAVAILABLE');
    } finally {
      await gateway.stop();
      await worker.stop();
    }
  });
});
