// `finora-auth serve`: configuration (flags, then environment, then defaults), first-start seeding, graceful shutdown.

import type { KeyStore } from '@finora-auth/core';
import { createAdminConsole } from './admin/index';
import { readAdminToken } from './admin/token-file';
import type { Io } from './cli-admin';
import { CommandError, oneOf, parse, UsageError, wholeNumber, type Parsed } from './cli-args';
import { closeQuietly, openReachableStore, storeSpec, withDeadline, type Env } from './cli-store';
import { createGateway, type GatewayIssuer, type GatewayOptions } from './gateway';
import { HELP } from './help';
import { readInternalToken } from './internal-token';
import { readOperatorSecret, type OperatorSecret } from './operator-secret';
import { parseUpstream } from './proxy';
import { seedIfEmpty } from './seed';
import type { Signals } from './signals';
import { redactStoreUrl, unreachable, type StoreSpec } from './store-url';

export interface ServeConfig {
  port: number;
  /** The address to listen on; `0.0.0.0` (or `::`) serves every interface. */
  host: string;
  /** Answer forward-auth questions from a proxy instead of proxying or serving the demo API. */
  forwardAuth: boolean;
  /** The OAuth issuer URL (the tokens' `iss` and `aud`); default: this gateway's own address. */
  issuer: string | undefined;
  store: StoreSpec;
  upstream: string | undefined;
  upstreamTimeoutMs: number;
  metrics: boolean | { port: number; host?: string };
  accessLog: 'stdout' | 'stderr' | 'off';
  maxHeaderSize: number;
  maxBodySize: number;
  shutdownTimeoutMs: number;
  seed: boolean;
  /** Failed authentications per client address per window before 429; 0 is off. */
  throttleFailures: number;
  throttleWindowMs: number;
}

const SERVE_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  store: { type: 'string' },
  upstream: { type: 'string' },
  'upstream-timeout': { type: 'string' },
  metrics: { type: 'string' },
  'access-log': { type: 'string' },
  'max-header-size': { type: 'string' },
  'max-body-size': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'throttle-failures': { type: 'string' },
  'throttle-window': { type: 'string' },
  seed: { type: 'boolean' },
  'forward-auth': { type: 'boolean' },
  issuer: { type: 'string' },
  'secret-file': { type: 'string' },
  'internal-token-file': { type: 'string' },
  'admin-token-file': { type: 'string' },
} as const;

/** `on`, `off`, `PORT` or `HOST:PORT` (IPv6 hosts in brackets). */
export function parseMetrics(value: string, source: string): ServeConfig['metrics'] {
  const text = value.trim().toLowerCase();
  if (text === 'on' || text === 'true') return true;
  if (text === 'off' || text === 'false') return false;
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
  if (match) {
    return { host: (match[1] ?? match[2]) as string, port: wholeNumber(match[3] as string, source, 1, 65_535) };
  }
  if (/^\d+$/.test(text)) return { port: wholeNumber(text, source, 1, 65_535) };
  throw new UsageError(`${source} must be on, off, PORT or HOST:PORT; got ${JSON.stringify(value)}`);
}

/** Flags win over environment variables, which win over defaults. Every bad value is a one-line usage error. */
export function resolveServeConfig(values: Parsed['values'], env: Env, cwd: string): ServeConfig {
  const pick = (flag: string, variable?: string): { value: string; source: string } | undefined => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return { value: fromFlag, source: `--${flag}` };
    const fromEnv = variable ? env[variable] : undefined;
    if (variable && fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: variable };
    return undefined;
  };
  const number = (flag: string, variable: string | undefined, fallback: number, min: number, max?: number) => {
    const given = pick(flag, variable);
    return given ? wholeNumber(given.value, given.source, min, max) : fallback;
  };

  const upstreamGiven = pick('upstream', 'FINORA_AUTH_UPSTREAM');
  if (upstreamGiven) {
    try {
      parseUpstream(upstreamGiven.value);
    } catch (error) {
      throw new UsageError(`${upstreamGiven.source}: ${(error as Error).message.replace(/^finora-auth: /, '')}`);
    }
  }
  const forwardAuth = values['forward-auth'] === true;
  if (forwardAuth && upstreamGiven) {
    throw new UsageError(`--forward-auth and ${upstreamGiven.source} exclude each other: forward auth answers a proxy, it proxies nothing`);
  }
  const metricsGiven = pick('metrics', 'FINORA_AUTH_METRICS');
  const accessLogGiven = pick('access-log', 'FINORA_AUTH_ACCESS_LOG');
  const store = storeSpec(values.store, env, cwd);
  const seedFlag = values.seed;
  return {
    port: number('port', 'PORT', 8787, 0, 65_535),
    host: pick('host', 'FINORA_AUTH_HOST')?.value ?? '127.0.0.1',
    forwardAuth,
    issuer: pick('issuer', 'FINORA_AUTH_ISSUER')?.value,
    store,
    upstream: upstreamGiven?.value,
    upstreamTimeoutMs: number('upstream-timeout', 'FINORA_AUTH_UPSTREAM_TIMEOUT_MS', 30_000, 1),
    metrics: metricsGiven ? parseMetrics(metricsGiven.value, metricsGiven.source) : true,
    accessLog: accessLogGiven ? oneOf(accessLogGiven.value, ['stdout', 'stderr', 'off'] as const, accessLogGiven.source) : 'stdout',
    maxHeaderSize: number('max-header-size', undefined, 16_384, 1_024, 1_048_576),
    maxBodySize: number('max-body-size', undefined, 1_048_576, 0),
    shutdownTimeoutMs: number('shutdown-timeout', undefined, 10_000, 0),
    throttleFailures: number('throttle-failures', 'FINORA_AUTH_THROTTLE_FAILURES', 0, 0),
    throttleWindowMs: number('throttle-window', undefined, 60_000, 1),
    // A shared store is a fleet's production data: a demo account must never appear there by surprise.
    seed: typeof seedFlag === 'boolean' ? seedFlag : store.kind === 'sqlite',
  };
}

export type { Signals } from './signals';

export interface ServeIo extends Io {
  log(where: 'stdout' | 'stderr'): { write(chunk: string): unknown };
  signals: Signals;
}

/** How `serve` hears that it was asked to stop. */
interface StopRequest {
  /** The first signal's name, once one came. */
  readonly signal: string | undefined;
  /** Resolves with that name when it comes. */
  readonly requested: Promise<string>;
  /** Once serving, who drains the gateway on the first signal. */
  onceServing(drain: (signal: string) => void): void;
}

/**
 * Runs the gateway until SIGTERM or SIGINT, then shuts down gracefully. Resolves the exit status.
 *
 * Signals are listened for first, before the store is opened, so one that arrives while `serve` is still
 * starting never kills the process: waiting for the store is abandoned at once (exit 0); seeding, once begun,
 * is let finish so the key it made is shown, then serve exits 0 without listening. A second signal, at any
 * time, exits 1 at once.
 */
export async function serveCommand(args: string[], io: ServeIo): Promise<number> {
  let signalled: string | undefined;
  let drain: ((signal: string) => void) | undefined;
  let requested!: (signal: string) => void;
  let exitNow!: (status: number) => void;
  const exitedNow = new Promise<number>((resolve) => (exitNow = resolve));
  const stop: StopRequest = {
    get signal() {
      return signalled;
    },
    requested: new Promise<string>((resolve) => (requested = resolve)),
    onceServing: (handler) => (drain = handler),
  };
  const onSignal = (signal: string) => {
    if (signalled !== undefined) {
      // A second signal (Ctrl-C twice) means now: requests still in flight are cut.
      io.err(`${signal} again: exiting without waiting\n`);
      exitNow(1);
      return;
    }
    signalled = signal;
    if (drain) drain(signal);
    else io.err(`${signal}: stopping before the gateway started\n`);
    requested(signal);
  };
  io.signals.on('SIGTERM', () => onSignal('SIGTERM'));
  io.signals.on('SIGINT', () => onSignal('SIGINT'));
  const running = serve(args, io, stop);
  running.catch(() => {}); // observed by the race below, unless a second signal already ended it
  return Promise.race([exitedNow, running]);
}

/**
 * The OAuth issuer `serve` mounts, or undefined (said once on stderr) when there is no operator secret or the
 * store cannot hold signing keys. A secret that is given but unusable is an error: that is a mistake, not a choice.
 * `@finora-auth/oauth` (and jose) is loaded only when there is a secret.
 */
async function oauthIssuer(config: ServeConfig, secretFlag: unknown, io: ServeIo, store: KeyStore): Promise<GatewayIssuer | undefined> {
  let secret: OperatorSecret;
  try {
    secret = readOperatorSecret(typeof secretFlag === 'string' ? secretFlag : undefined, io.env, io.cwd);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err('OAuth endpoints off: no operator secret (pass --secret-file PATH or set FINORA_AUTH_SECRET_FILE to serve /oauth/token)\n');
    return undefined;
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = (config.issuer ?? `http://${host}:${config.port}`).replace(/\/+$/, '');
  const { createTokenIssuer } = await import('@finora-auth/oauth');
  let issuer;
  try {
    issuer = createTokenIssuer({ store, issuer: url, audience: url, secret: secret.bytes });
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/^finora-auth: /, '') : String(error);
    if (config.issuer !== undefined) throw new CommandError(`--issuer: ${message}`);
    io.err(`OAuth endpoints off: ${message}\n`);
    return undefined;
  }
  const path = new URL(url).pathname.replace(/\/+$/, '');
  return {
    handle: (request, options) => issuer.handle(request, options),
    verifier: issuer.verifier,
    paths: [`${path}/oauth/token`, `${path}/.well-known/jwks.json`, `/.well-known/oauth-authorization-server${path}`],
  };
}

async function serve(args: string[], io: ServeIo, stop: StopRequest): Promise<number> {
  const parsed = parse('serve', args, SERVE_OPTIONS);
  if (parsed.help) {
    io.out(HELP.serve ?? '');
    return 0;
  }
  const config = resolveServeConfig(parsed.values, io.env, io.cwd);
  // Read once, before the store opens, so a missing or short token stops serve at once; never printed.
  const internalFile = parsed.values['internal-token-file'];
  const internalToken = typeof internalFile === 'string' ? readInternalToken(internalFile, io.cwd) : undefined;
  // Read once, before the store opens, so a missing or short token stops serve at once; the token is never printed.
  const adminFile = parsed.values['admin-token-file'];
  const adminToken = typeof adminFile === 'string' ? readAdminToken(adminFile, io.cwd) : undefined;
  if (stop.signal !== undefined) return 0;
  // A store that does not answer may take seconds to give up: a signal does not wait for it.
  const opening = openReachableStore(config.store);
  const store: KeyStore | undefined = await Promise.race([opening, stop.requested.then(() => undefined)]);
  if (store === undefined || stop.signal !== undefined) {
    opening.then((opened) => closeQuietly(opened), () => {});
    return 0;
  }

  let seeded;
  try {
    seeded = config.seed ? await withDeadline(config.store, seedIfEmpty(store, io.now)) : undefined;
  } catch (error) {
    await closeQuietly(store);
    throw unreachable(config.store, error);
  }
  if (stop.signal !== undefined) {
    // The key exists now and a later start will not seed again: it is shown, or it would be lost.
    if (seeded) io.err(`Created account "${seeded.key.accountId}" (premium) and a test key; store it now, it is shown only this once:\n\n    ${seeded.apiKey}\n\n`);
    await closeQuietly(store);
    return 0;
  }

  let issuer: GatewayIssuer | undefined;
  try {
    issuer = await oauthIssuer(config, parsed.values['secret-file'], io, store);
  } catch (error) {
    await closeQuietly(store);
    throw error;
  }

  const options: GatewayOptions = {
    store,
    issuer,
    upstream: config.upstream,
    forwardAuth: config.forwardAuth,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    metrics: config.metrics,
    maxHeaderSize: config.maxHeaderSize,
    maxBodySize: config.maxBodySize,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    throttle: config.throttleFailures > 0 ? { failures: config.throttleFailures, windowMs: config.throttleWindowMs } : false,
    accessLog: config.accessLog === 'off' ? false : io.log(config.accessLog),
    internalToken,
    admin: adminToken === undefined ? undefined : createAdminConsole({ store, token: adminToken, now: () => io.now() }),
  };
  const gateway = createGateway(options);
  let address;
  try {
    address = await gateway.listen(config.port, config.host);
  } catch (error) {
    await gateway.close();
    await closeQuietly(store);
    const code = (error as { code?: string }).code;
    throw new CommandError(
      code === 'EADDRINUSE'
        ? `port ${config.port} is already in use (choose another with --port or PORT)`
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? `cannot listen on ${config.host}: not an address of this machine (choose another with --host)`
          : `cannot listen on ${config.host} port ${config.port}: ${(error as Error).message}`,
    );
  }

  const mode = config.forwardAuth
    ? 'forward auth for a proxy (nginx, Caddy, Traefik, Envoy)'
    : config.upstream
      ? `proxying to ${config.upstream}`
      : 'demo API (no --upstream)';
  // The address really bound, as the system reports it (not the name asked for).
  const bound = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  const everywhere = address.host === '0.0.0.0' || address.host === '::' ? ' every interface,' : '';
  const banner = [
    `finora-auth gateway listening on ${bound},${everywhere} ${mode}, store ${redactStoreUrl(config.store.url)}`,
    address.metricsUrl ? `metrics at ${address.metricsUrl}` : 'metrics off',
  ];
  if (issuer) banner.push(`OAuth token endpoint at ${address.url}${issuer.paths[0]}`);
  if (internalToken !== undefined) banner.push(`internal API for HttpKeyStore at ${address.url}/internal/`);
  if (adminToken !== undefined) banner.push(`admin console at ${address.url}/admin/`);
  if (seeded) {
    banner.push(
      '',
      `First start on an empty store: created account "${seeded.key.accountId}" (premium) and a test key.`,
      'Store this key now: it is shown only this once.',
      '',
      `    ${seeded.apiKey}`,
      '',
      'Try it:',
      `    curl -H "Authorization: Bearer ${seeded.apiKey}" ${address.url}/v1/invoices`,
      '',
      'More: finora-auth keys create --help, finora-auth accounts set --help',
      '',
    );
  }
  // One write, so whoever reads the first line also has the rest (the key and its curl line).
  io.err(`${banner.join('\n')}\n`);

  return new Promise<number>((resolve) => {
    const drainAndExit = (signal: string) => {
      io.err(`${signal}: finishing requests in flight (up to ${config.shutdownTimeoutMs} ms), then exiting\n`);
      // If closing itself hangs (a driver that never says goodbye), leave anyway, and say it was not graceful.
      const hardStop = setTimeout(() => {
        io.err('shutdown did not finish in time; exiting\n');
        resolve(1);
      }, config.shutdownTimeoutMs + 5_000);
      hardStop.unref();
      void (async () => {
        const { forced } = await gateway.close();
        await closeQuietly(store, 2_000);
        clearTimeout(hardStop);
        io.err(forced > 0 ? `stopped; ${forced} request(s) cut at the deadline\n` : 'stopped\n');
        resolve(0);
      })();
    };
    // A signal that came while the port was being bound is honoured now, after the banner.
    if (stop.signal !== undefined) drainAndExit(stop.signal);
    else stop.onceServing(drainAndExit);
  });
}
