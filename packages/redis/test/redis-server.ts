// Starts and stops a private redis-server on a free port, for tests that kill, pause or restart Redis
// (the shared one on 6379 is never touched), and tells tests whether a Redis they need is reachable.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** True while the server process runs (it may be paused). */
  readonly running: boolean;
  /** Starts the server on `port`, or again after a kill; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Ends the server abruptly (SIGKILL by default) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Freezes the server (SIGSTOP): its sockets stay open but nothing is answered, like a hung host. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /** Kills the server if it runs and removes its data directory. */
  dispose(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Keep data across kills and restarts: append-only file, fsync on every write. Default: true. */
  persist?: boolean;
  /** Start the server before resolving. Default: true. */
  start?: boolean;
}

/** A TCP port nobody listens on at the moment. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  // A test that dies mid-way must not leave servers behind.
  for (const child of live) child.kill('SIGKILL');
});

export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  if (!existsSync(REDIS_SERVER_BIN)) throw new Error(`redis-server not found at ${REDIS_SERVER_BIN}`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'finora-redis-'));
  const persist = options.persist ?? true;
  let child: ChildProcess | undefined;

  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', persist ? 'yes' : 'no',
    '--appendfsync', 'always',
    '--daemonize', 'no',
    '--loglevel', 'notice',
  ];

  const handle: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (handle.running) return;
      const started = spawn(REDIS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      live.add(started);
      started.once('exit', () => live.delete(started));
      await new Promise<void>((resolve, reject) => {
        let log = '';
        const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}:\n${log}`)), 10_000);
        const onData = (chunk: Buffer) => {
          log += chunk.toString();
          if (log.includes('Ready to accept connections')) {
            clearTimeout(timer);
            started.stdout?.off('data', onData);
            started.stdout?.resume();
            resolve();
          }
        };
        started.stdout?.on('data', onData);
        started.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
        started.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited (${code ?? signal}) while starting on ${port}:\n${log}`));
        });
      });
      await waitForPort(port);
    },
    async kill(signal = 'SIGKILL') {
      const running = child;
      if (!running || !handle.running) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGCONT');
      running.kill(signal);
      await exited;
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async dispose() {
      await handle.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (options.start ?? true) await handle.start();
  return handle;
}

function waitForPort(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

/** Sends PING over a raw socket: true when a Redis answers at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname || '127.0.0.1', port: Number(port || 6379) });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    let reply = '';
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
    socket.once('error', () => done(false));
  });
}

/**
 * Decides whether a test file that needs `what` runs: under CI=true a missing service fails the run (this
 * throws); elsewhere the tests are skipped with the reason printed.
 */
export function requireService(available: boolean, what: string): boolean {
  if (available) return true;
  if (process.env.CI === 'true') throw new Error(`${what} is required under CI=true but is not available`);
  console.warn(`[skipped] ${what} is not available; these tests are skipped (set CI=true to make this a failure)`);
  return false;
}
