#!/usr/bin/env node
// The `finora-auth` command as npm and pnpm link it: runs the built CLI, or says how to build it in a clone.

import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  // Only a clone can get here (the published package ships dist/): the workspace links this file before building.
  process.stderr.write(
    'finora-auth: the command is not built yet; run the build first: npx -y pnpm@10.34.9 run build\n',
  );
  process.exit(1);
}
await import(cli.href);
