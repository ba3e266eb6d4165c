// Starting a bundle on Node, workerd, Bun or Deno from a test: the runtimes' own binaries, a free port, waiting until it serves.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
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
    const timer = setTimeout(() => reject(new Error(`${command} did not start in 20 s:\n${output}`)), 20_000);
    const done = (value: number) => {
      settled = true;
      clearTimeout(timer);
      resolve({ child, port: value });
    };
    child.on('exit', (code) => {
      settled = true;
      reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
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
