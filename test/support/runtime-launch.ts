// Starting a bundle on Node, workerd, Bun or Deno from a test: esbuild for the runtime, the runtimes' own binaries,
// a free port, waiting until it serves, and stopping it again.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { build } from 'esbuild';
import { send } from './adapters';

const root = join(import.meta.dirname, '..', '..');
const require = createRequire(join(root, 'package.json'));

/**
 * The runtime's own binary, from the platform package its npm package depends on. The npm packages' `bin`
 * entries are Node scripts that spawn it as a grandchild (which a kill would orphan), and Bun's needs a
 * postinstall that pnpm does not run.
 */
export function platformBinary(npmPackage: string, platformPackage: string, file: string): string {
  const packageRequire = createRequire(require.resolve(`${npmPackage}/package.json`));
  return join(dirname(packageRequire.resolve(`${platformPackage}/package.json`)), file);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Started {
  child: ChildProcess;
  port: number;
}

/** Starts `command`, waits for the `{"port":N}` line it prints (or for `port` to answer `GET /health`). */
export function launch(command: string, args: string[], cwd: string, port?: number): Promise<Started> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  let settled = false;
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    };
    // A start that times out would otherwise leave the child running after the test gave up on it.
    const timer = setTimeout(() => {
      fail(new Error(`${command} did not start in 20 s:\n${output}`));
      child.kill('SIGKILL');
    }, 20_000);
    const done = (value: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ child, port: value });
    };
    child.on('exit', (code) => fail(new Error(`${command} exited with ${code}:\n${output}`)));
    child.on('error', (error) => fail(new Error(`${command} could not be started: ${error.message}`)));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
      const match = /\{"port":(\d+)\}/.exec(output);
      if (match) done(Number(match[1]));
    });
    if (port !== undefined) {
      const poll = async () => {
        try {
          await send(`http://127.0.0.1:${port}`, '/health');
          done(port);
        } catch {
          if (!settled) setTimeout(poll, 100);
        }
      };
      setTimeout(poll, 200);
    }
  });
}

/** Serves the bundle's default export `{ fetch }` on workerd at a free port. */
export async function startWorkerd(bundle: string, dir: string): Promise<Started> {
  const port = await freePort();
  const config = join(dir, 'config.capnp');
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "${basename(bundle)}")],
  compatibilityDate = "2025-09-01",
);
`,
  );
  return launch(platformBinary('workerd', '@cloudflare/workerd-linux-64', 'bin/workerd'), ['serve', config], dir, port);
}

/** How a runtime takes a bundle: what esbuild targets for it, and how a built bundle is started there. */
export interface BundleRuntime {
  platform: 'node' | 'neutral';
  conditions: string[];
  start(bundle: string, dir: string): Promise<Started>;
}

export interface RunningBundle {
  /** The temporary folder holding the bundle (and any runtime config); removed by `stopBundle`. */
  dir: string;
  children: ChildProcess[];
  /** One `http://127.0.0.1:<port>` a started instance. */
  origins: string[];
}

/**
 * Bundles `contents` (resolved from the repository root) for `runtime` into a fresh temporary folder and starts it
 * `instances` times (separate processes: separate isolates). What it started is stopped again if any start fails.
 */
export async function startBundle(
  runtime: BundleRuntime,
  contents: string,
  { loader = 'js', instances = 1 }: { loader?: 'js' | 'ts'; instances?: number } = {},
): Promise<RunningBundle> {
  const running: RunningBundle = { dir: mkdtempSync(join(tmpdir(), 'finora-runtime-')), children: [], origins: [] };
  try {
    const bundle = join(running.dir, 'server.mjs');
    await build({
      stdin: { contents, resolveDir: root, loader },
      bundle: true,
      format: 'esm',
      platform: runtime.platform,
      mainFields: ['module', 'main'],
      conditions: runtime.conditions,
      target: 'es2022',
      outfile: bundle,
      logLevel: 'silent',
    });
    for (let i = 0; i < instances; i++) {
      const started = await runtime.start(bundle, running.dir);
      running.children.push(started.child);
      running.origins.push(`http://127.0.0.1:${started.port}`);
    }
    return running;
  } catch (error) {
    stopBundle(running);
    throw error;
  }
}

/** Kills every instance (without the exit being taken for a failed start) and removes the bundle's folder. */
export function stopBundle(running: RunningBundle | undefined): void {
  if (!running) return;
  for (const child of running.children) {
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
  }
  rmSync(running.dir, { recursive: true, force: true });
}
