// Built packages for tests that read dist/ (type-checks, packing): stale ones rebuilt, then work done under the
// same lock the gateway's tests build under, so no parallel test file rebuilds a dist halfway through it.

import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const LOCK = join(tmpdir(), 'finora-auth-gateway-build.lock');
const BUILD_STALE = join(root, 'packages', 'gateway', 'test', 'build-stale.mjs');

/** Rebuilds each named package whose dist is missing or older than its source (a no-op after the build). */
export async function ensureBuilt(packages: string[]): Promise<void> {
  await run('flock', [LOCK, process.execPath, BUILD_STALE, ...packages], { cwd: root, timeout: 300_000 });
}

/** Runs a command while no test builds a package; resolves its output, or rejects with it. */
export function underBuildLock(command: string, args: string[], options: { cwd: string; timeout?: number }) {
  return run('flock', [LOCK, command, ...args], { ...options, encoding: 'utf8' });
}
