// Runs the real Caddy with the shipped forward-auth configuration (docs/forward-auth/Caddyfile) in a temp dir.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingBinary, shippedConfig, spawnProxy, type ProxyAddresses } from './forward-proxy';

export const CADDY_BIN = process.env.CADDY_BIN ?? '/usr/bin/caddy';

/** Why Caddy tests cannot run here (skip), or undefined; throws under CI=true when Caddy is missing. */
export const caddyMissing = (): string | undefined => missingBinary(CADDY_BIN, 'caddy');

export interface RunningCaddy {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts Caddy with its admin endpoint off and its data and config directories inside a fresh directory. */
export async function startCaddy(addresses: ProxyAddresses): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'finora-caddy-'));
  // Global options first: no admin listener (two tests would fight over :2019), no automatic HTTPS.
  const global = '{\n\tadmin off\n\tauto_https off\n}\n\n';
  writeFileSync(join(dir, 'Caddyfile'), global + shippedConfig('Caddyfile', addresses));
  const running = await spawnProxy(
    CADDY_BIN,
    ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'],
    addresses.listen,
    dir,
  );
  return {
    url: `http://${addresses.listen}`,
    output: running.output,
    async stop() {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
