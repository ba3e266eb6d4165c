// Builds, one after another, each package the gateway's binary loads whose dist is missing or older than its source.
// Run under `flock` by the tests, so parallel test files never build the same package at once.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..');
const packages = process.argv.slice(2);

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return /\.test\.ts$/.test(path) ? 0 : stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

for (const name of packages) {
  const dir = join(root, 'packages', name);
  const built = join(dir, 'dist', 'index.js');
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const changedAt = Math.max(newest(join(dir, 'src')), newest(join(dir, 'package.json')), newest(join(dir, 'tsup.config.ts')));
  if (builtAt >= changedAt && existsSync(join(dir, 'dist', 'index.d.ts'))) continue;
  process.stderr.write(`building @finora-auth/${name} (dist missing or older than src)\n`);
  execFileSync('npx', ['--no-install', 'tsup'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
}
