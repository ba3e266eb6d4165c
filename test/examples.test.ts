// Every example in examples/ run as its README says, against the built packages: started, one allowed request with a
// key issued through the `finora-auth` command, refusals, stopped.

import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, cliJson, runCli, startServe } from '../packages/gateway/test/support';

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

/** A program's own binary for the first word of a start script (`node`, `python3`, or a name mapped by the caller). */
type Binaries = Record<string, string>;

/**
 * Runs the example's `start` script as written in its package.json (the command its README gives), with PORT=0,
 * and waits for the `listening on http://…` line it prints.
 */
function startExample(name: string, env: Record<string, string>, binaries: Binaries = {}): Promise<Running> {
  const cwd = join(examples, name);
  const script = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')).scripts.start as string;
  const [command, ...args] = script.split(' ') as [string, ...string[]];
  const binary = binaries[command] ?? (command === 'node' ? process.execPath : command);
  const child = spawn(binary, args, { cwd, env: childEnv({ PORT: '0', NO_COLOR: '1', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 20 s:\n${output}`)), 20_000);
    void exited.then((code) => reject(new Error(`${name} exited ${code} before listening:\n${output}`)));
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /listening on (http:\/\/[^\s,]+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        url: match[1] as string,
        child,
        output: () => output,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
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
