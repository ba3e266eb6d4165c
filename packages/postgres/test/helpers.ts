// Test helpers: reach the real PostgreSQL (fail under CI, skip otherwise), a schema per run, admin queries.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Client } from 'pg';

/** The shared test database; FINORA_TEST_POSTGRES_URL points elsewhere. */
export const POSTGRES_URL = process.env.FINORA_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Whether PostgreSQL answers. Under CI=true an unreachable database fails the file (a missing service must not
 * pass as green); elsewhere the suites are skipped with the reason printed.
 */
export async function probePostgres(file: string): Promise<boolean> {
  const client = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    const reason = `PostgreSQL unreachable at ${new URL(POSTGRES_URL).host}: ${(error as Error).message}`;
    if (process.env.CI === 'true') throw new Error(`${file}: ${reason} (CI=true: the service is required)`);
    console.warn(`[${file}] skipping PostgreSQL tests: ${reason}`);
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh, unused schema name for one run. */
export const uniqueSchema = (label: string): string => `finora_test_${label}_${randomBytes(5).toString('hex')}`;

/** An application_name unique to one store under test, so faults are injected into its connections only. */
export const uniqueApplicationName = (label: string): string => `finora-test-${label}-${randomBytes(4).toString('hex')}`;

/** Runs `fn` with a short-lived admin connection. */
export async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: POSTGRES_URL, application_name: 'finora-test-admin' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withAdmin((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

/** Every row of every table in the schema, as text: what is at rest. */
export async function dumpSchema(schema: string): Promise<string> {
  return withAdmin(async (client) => {
    const { rows: tables } = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [schema],
    );
    const parts: string[] = [];
    for (const { table_name } of tables) {
      const { rows } = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${table_name}" t`);
      parts.push(table_name, ...rows.map((r) => r.row));
    }
    return parts.join('\n');
  });
}

/** Terminates the backends with this application_name; returns how many. */
export async function terminate(applicationName: string): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
      [applicationName],
    );
    for (const { pid } of rows) await client.query('SELECT pg_terminate_backend($1)', [pid]);
    return rows.length;
  });
}

export async function backendCount(applicationName: string): Promise<number> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_stat_activity WHERE application_name = $1`,
      [applicationName],
    );
    return rows[0]?.n ?? 0;
  });
}

/**
 * A TCP proxy in front of PostgreSQL that a test can cut: `refuse` drops every connection (a database that is
 * down), `freeze` keeps sockets open but forwards nothing (a server that stopped answering), `pass` forwards.
 */
export class TcpProxy {
  mode: 'pass' | 'refuse' | 'freeze';
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #target: { host: string; port: number };

  private constructor(server: Server, target: { host: string; port: number }, mode: TcpProxy['mode']) {
    this.#server = server;
    this.#target = target;
    this.mode = mode;
  }

  static async start(mode: TcpProxy['mode']): Promise<TcpProxy> {
    const target = new URL(POSTGRES_URL);
    const server = createServer();
    const proxy = new TcpProxy(server, { host: target.hostname, port: Number(target.port || 5432) }, mode);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (!address || typeof address === 'string') throw new Error('proxy not listening');
    return address.port;
  }

  /** POSTGRES_URL with the proxy's host and port. */
  get url(): string {
    const url = new URL(POSTGRES_URL);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  /** Destroys every proxied connection (both sides). */
  cutAll(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    if (this.mode === 'refuse') {
      socket.destroy();
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    this.#sockets.add(socket).add(upstream);
    const forget = () => {
      socket.destroy();
      upstream.destroy();
      this.#sockets.delete(socket);
      this.#sockets.delete(upstream);
    };
    socket.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
    socket.on('data', (chunk) => {
      if (this.mode === 'pass') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (this.mode === 'pass') socket.write(chunk);
    });
  }
}

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/**
 * Builds this package's dist (tsup) unless it is newer than every source file, so child processes run the
 * JavaScript users get. Skipping a fresh build also avoids wiping dist under another suite reading it.
 */
export function ensureBuilt(): void {
  const dist = `${packageDir}dist/index.js`;
  const newestSource = Math.max(
    ...readdirSync(`${packageDir}src`).map((name) => statSync(`${packageDir}src/${name}`).mtimeMs),
    statSync(`${packageDir}package.json`).mtimeMs,
  );
  if (existsSync(dist) && statSync(dist).mtimeMs > newestSource) return;
  execFileSync('npx', ['tsup'], { cwd: packageDir, stdio: 'pipe' });
}
