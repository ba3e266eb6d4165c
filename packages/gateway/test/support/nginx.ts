// Runs the real nginx with the shipped forward-auth configuration (docs/forward-auth/nginx.conf) in a temp dir.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingBinary, shippedConfig, spawnProxy, type ProxyAddresses } from './forward-proxy';

export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

/** Why nginx tests cannot run here (skip), or undefined; throws under CI=true when nginx is missing. */
export const nginxMissing = (): string | undefined => missingBinary(NGINX_BIN, 'nginx');

export interface RunningNginx {
  url: string;
  /** nginx's error log so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground, as this user, with every path inside a fresh directory. */
export async function startNginx(addresses: ProxyAddresses): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'finora-nginx-'));
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'forward-auth.conf'), shippedConfig('nginx.conf', addresses));
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      `error_log ${join(dir, 'logs', 'error.log')} info;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'logs', 'access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `  ${name}_temp_path ${join(dir, name)};`),
      `  include ${join(dir, 'forward-auth.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  const errorLog = () => {
    const path = join(dir, 'logs', 'error.log');
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  };
  const running = await spawnProxy(
    NGINX_BIN,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`],
    addresses.listen,
    dir,
    errorLog,
  );
  return {
    url: `http://${addresses.listen}`,
    errorLog,
    async stop() {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
