// Real upstreams in other languages for the gateway's tests: the JDK's HttpServer, Python's wsgiref, and Node routing with new URL().

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EchoUpstream {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface NodeEchoUpstream extends EchoUpstream {
  /** Requests it received, as it echoed them. */
  seen: { host: string; route: string; target: string; rawHeaders: string[] }[];
}

/** Whether every command runs (`cmd -version` or `--version` exits 0). */
export function commandsAvailable(...commands: string[]): boolean {
  return commands.every((command) => {
    const result = spawnSync(command, [command.startsWith('java') ? '-version' : '--version'], { stdio: 'ignore' });
    return result.status === 0;
  });
}

/**
 * Whether a suite needing `commands` runs here: always on CI (where a missing tool must fail the suite, not skip
 * it), elsewhere only when they are installed, with the reason printed when they are not.
 */
export function runsHere(...commands: string[]): boolean {
  if (process.env.CI === 'true' || commandsAvailable(...commands)) return true;
  console.warn(`skipping the ${commands.join('/')} upstream tests: not installed (CI=true would fail instead)`);
  return false;
}

/** Spawns a child that prints `listening PORT` on its first stdout line. */
function spawnListening(command: string, args: string[], cleanup: () => void): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      cleanup();
      reject(error);
    });
    child.once('exit', (code) => {
      cleanup();
      reject(new Error(`${command} exited ${code} before listening: ${stderr}`));
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /listening (\d+)/.exec(stdout);
      if (match) {
        child.removeAllListeners('exit');
        resolve({ child, port: Number(match[1]) });
      }
    });
  });
}

function stopChild(child: ChildProcess, cleanup: () => void): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => {
      cleanup();
      resolve();
    });
    child.kill('SIGKILL');
  });
}

/**
 * The JDK's `com.sun.net.httpserver.HttpServer` with contexts `/v1/payments`, `/v1/invoices` and `/`, compiled
 * from EchoUpstream.java into a temporary directory. Echoes `{ context, uri, path, headers }` (Finora-* only).
 */
export async function startJavaUpstream(): Promise<EchoUpstream> {
  const dir = mkdtempSync(join(tmpdir(), 'finora-java-upstream-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const compiled = spawnSync('javac', ['-d', dir, join(import.meta.dirname, 'EchoUpstream.java')], { encoding: 'utf8' });
  if (compiled.status !== 0) {
    remove();
    throw new Error(`javac failed (${compiled.error?.message ?? compiled.status}): ${compiled.stderr ?? ''}`);
  }
  const { child, port } = await spawnListening('java', ['-cp', dir, 'EchoUpstream'], remove);
  return { url: `http://127.0.0.1:${port}`, port, close: () => stopChild(child, remove) };
}

/** Python's `wsgiref.simple_server`: echoes `{ path_info, finora (HTTP_FINORA_* keys), forwarding, urlsplit, target }`. */
export async function startPythonUpstream(): Promise<EchoUpstream> {
  const { child, port } = await spawnListening('python3', ['-u', join(import.meta.dirname, 'wsgi_echo.py')], () => undefined);
  return { url: `http://127.0.0.1:${port}`, port, close: () => stopChild(child, () => undefined) };
}

/**
 * A Node upstream that routes on `new URL(req.url, 'http://base')`, as many Node apps do: echoes
 * `{ host, route, rawHeaders }` where `route` is the routed pathname. Everything it receives lands in `seen`.
 */
export async function startNodeUpstream(): Promise<NodeEchoUpstream> {
  const seen: NodeEchoUpstream['seen'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://base');
    const body = { host: url.host, route: url.pathname, target: req.url ?? '', rawHeaders: req.rawHeaders };
    seen.push(body);
    req.resume();
    req.once('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
