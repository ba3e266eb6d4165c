// Shared by the nginx and Caddy harnesses: find the binary, fill a shipped configuration in, wait for a port.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { connect } from 'node:net';

/** The configurations docs/forward-auth.md ships: the tests run these very files. */
export const CONFIG_DIR = join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'forward-auth');

/** The addresses the shipped files name, replaced by the test's own. */
export interface ProxyAddresses {
  /** host:port the proxy listens on (the files say 127.0.0.1:8080). */
  listen: string;
  /** host:port of `finora-auth serve --forward-auth` (127.0.0.1:8787). */
  finora: string;
  /** host:port of the API (127.0.0.1:3000). */
  upstream: string;
}

export function shippedConfig(file: string, addresses: ProxyAddresses): string {
  const text = readFileSync(join(CONFIG_DIR, file), 'utf8');
  for (const sample of ['127.0.0.1:8080', '127.0.0.1:8787', '127.0.0.1:3000']) {
    if (!text.includes(sample)) throw new Error(`${file} no longer names ${sample}; update the harness with it`);
  }
  return text
    .replaceAll('127.0.0.1:8080', addresses.listen)
    .replaceAll('127.0.0.1:8787', addresses.finora)
    .replaceAll('127.0.0.1:3000', addresses.upstream);
}

/**
 * Why a proxy's tests cannot run here, or undefined when they can. Under CI=true a missing binary is a failure
 * (.ci/run installs it), so it throws instead of returning a reason to skip.
 */
export function missingBinary(path: string, name: string): string | undefined {
  if (existsSync(path)) return undefined;
  const reason = `${name} not found at ${path} (apt-get install ${name}; .ci/run installs it)`;
  if (process.env.CI === 'true') throw new Error(reason);
  return reason;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface Running {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Spawns a proxy and resolves once `listen` accepts connections; rejects with its output if it exits first. */
export async function spawnProxy(command: string, args: string[], listen: string, cwd: string, log?: () => string): Promise<Running> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: cwd } });
  children.add(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => (children.delete(child), resolve())));
  const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
  const deadline = Date.now() + 15_000;
  while (!(await accepts(host, port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${command} exited before listening: ${output}${log ? log() : ''}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command} did not listen on ${listen} in time: ${output}${log ? log() : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    child,
    output: () => output + (log ? log() : ''),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request with its target sent byte for byte (Node's client does not normalise the path), on a fresh connection. */
export function send(origin: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}/`, { method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
