// Test helpers: build the binary, run `finora-auth` as a user would, start `serve` and small upstreams, find services.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';

export const root = join(import.meta.dirname, '..', '..', '..');
export const cliPath = join(root, 'packages', 'gateway', 'dist', 'cli.js');

/** Everything the binary loads at run time. */
const RUNTIME_PACKAGES = ['core', 'hono', 'sqlite', 'redis', 'postgres', 'oauth', 'gateway'];

/** Builds the packages whose dist is missing or stale (a no-op after `pnpm run build`), one test file at a time. */
export function ensureBuilt(): void {
  execFileSync(
    'flock',
    [join(tmpdir(), 'finora-auth-gateway-build.lock'), process.execPath, join(import.meta.dirname, 'build-stale.mjs'), ...RUNTIME_PACKAGES],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 240_000 },
  );
}

/** The environment a child gets: this one, minus anything that would configure the gateway behind the test's back. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('FINORA_AUTH_') || name === 'PORT') delete env[name];
  return { ...env, ...extra };
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: options.cwd ?? root,
      env: childEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `runCli` that must succeed, returning stdout parsed as JSON. */
export async function cliJson<T = any>(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<T> {
  const result = await runCli([...args, '--json'], options);
  if (result.code !== 0) throw new Error(`finora-auth ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export interface ServeHandle {
  url: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Parsed access log lines so far. */
  accessLog(): Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `finora-auth serve --port 0 …` and resolves once it prints where it listens. */
export function startServe(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; /** Pass `--port 0`. Default: true. */ portFlag?: boolean } = {},
): Promise<ServeHandle> {
  const port = options.portFlag === false ? [] : ['--port', '0'];
  const child = spawn(process.execPath, [cliPath, 'serve', ...port, ...args], {
    cwd: options.cwd ?? root,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start in time; stderr: ${stderr}`));
    }, 20_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const match = /listening on (http:\/\/\S+?),/.exec(stderr);
      if (match && timer.hasRef()) {
        clearTimeout(timer);
        timer.unref();
        resolve({
          url: match[1] as string,
          child,
          stdout: () => stdout,
          stderr: () => stderr,
          accessLog: () =>
            stdout
              .split('\n')
              .filter((line) => line.startsWith('{'))
              .map((line) => JSON.parse(line) as Record<string, unknown>),
          exited,
          async stop(signal: NodeJS.Signals = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then(({ code }) => {
      if (timer.hasRef()) {
        clearTimeout(timer);
        reject(new Error(`serve exited ${code} before listening; stderr: ${stderr}`));
      }
    });
  });
}

export interface TempDir {
  dir: string;
  /** A fresh sqlite store URL inside the directory. */
  storeUrl: string;
  remove(): void;
}

export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), 'finora-gateway-'));
  return { dir, storeUrl: `sqlite:${join(dir, 'keys.db')}`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Upstream {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on which nothing listens (it was free a moment ago). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function reachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The one polling helper (core/testing); re-exported here only for files that still import it from this module. */
export { eventually } from '@finora-auth/core/testing';

export const KEY_PATTERN = /(live|test)_sk_[0-9a-f]{48}/g;

/** Deletes every Redis key under `prefix`: what a test's run left behind on the shared server. */
export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/** Drops a test run's PostgreSQL schema and all it holds. */
export async function dropPostgresSchema(connectionString: string, schema: string): Promise<void> {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
