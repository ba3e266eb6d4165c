// Shared benchmark helpers: argument parsing, statistics, machine facts, fixtures and the JSON-line protocol.

import { randomBytes } from 'node:crypto';
import { execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const benchDir = dirname(fileURLToPath(import.meta.url));
export const rootDir = join(benchDir, '..');

/**
 * `--quick` (under a minute in all), `--smoke` (tiny sizes: only proves the harness runs; implies --quick),
 * `--only=a,b` / `--only a,b`, `--json PATH`, `--no-write`, `--cpu-prof`; a bare `--` (pnpm passes it on) is ignored.
 */
export function parseArgs(argv = process.argv.slice(2)) {
  const args = { quick: false, smoke: false, only: undefined, json: undefined, write: undefined, cpuProf: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (arg === '--') continue;
    else if (flag === '--quick') args.quick = true;
    else if (flag === '--smoke') args.smoke = args.quick = true;
    else if (flag === '--only') args.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (flag === '--json') args.json = value();
    else if (flag === '--no-write') args.write = false;
    else if (flag === '--write') {
      // `--write=false` must never write: only `--write` and `--write=true` do.
      if (inline !== undefined && inline !== 'true' && inline !== 'false') throw new Error(`--write takes true or false; got ${inline}`);
      args.write = inline !== 'false';
    }
    else if (flag === '--cpu-prof') args.cpuProf = true;
    else args.rest.push(arg);
  }
  return args;
}

/** The size for this mode: full, quick or smoke. */
export function sized(args, full, quick, smoke = quick) {
  return args.smoke ? smoke : args.quick ? quick : full;
}

// ---------------------------------------------------------------- statistics

export function sorted(values) {
  return Float64Array.from(values).sort();
}

/** Nearest-rank percentile (p in 0..100) of a list of numbers. */
export function percentile(values, p) {
  const s = values instanceof Float64Array ? values : sorted(values);
  if (s.length === 0) return NaN;
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank];
}

export const median = (values) => {
  const s = sorted(values);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

export const round = (value, digits = 2) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : value);

// ---------------------------------------------------------------- machine

export function machine() {
  const cpus = os.cpus();
  let commit;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: rootDir, encoding: 'utf8' }).trim();
    // A run over uncommitted changes measured no commit: say so rather than name HEAD.
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: rootDir, encoding: 'utf8' }).trim();
    if (dirty) commit += '+uncommitted';
  } catch {
    commit = undefined;
  }
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg().map((l) => round(l, 2)),
    commit,
  };
}

// ---------------------------------------------------------------- fixtures

/** The built packages, not the sources: what users run. */
export function distUrl(pkg) {
  return pathToFileURL(join(rootDir, 'packages', pkg, 'dist', 'index.js')).href;
}

export function hasDist(pkg) {
  return existsSync(join(rootDir, 'packages', pkg, 'dist', 'index.js'));
}

export async function loadCore() {
  if (!hasDist('core')) throw new Error('packages/core/dist is missing: run `pnpm run build` first');
  return import(distUrl('core'));
}

/** A well-formed key that no store holds. */
/**
 * What a gateway role of a bench starts from: `createGateway` from the built gateway (or from `gatewayDist`, another
 * build's directory holding its index.js, to compare two builds), a memory store, and one live key issued in it.
 */
export async function benchGateway(gatewayDist) {
  const core = await import(distUrl('core'));
  const { createGateway } = await import(gatewayDist ? pathToFileURL(join(resolve(gatewayDist), 'index.js')).href : distUrl('gateway'));
  const store = new core.MemoryKeyStore();
  const manager = core.createKeyManager({ store });
  await manager.putAccount({ id: 'acct_bench', tier: 'premium' });
  const { apiKey } = await manager.issue({ accountId: 'acct_bench', environment: 'live' });
  return { createGateway, store, apiKey };
}

export function randomKey(environment = 'live') {
  return `${environment}_sk_${randomBytes(24).toString('hex')}`;
}

/**
 * A store that counts `findByHash` (optionally delaying it, or holding it until `gate()` resolves), wrapping a real one. Everything else is passed through,
 * so invalidation events still reach the authenticator.
 */
export function countingStore(inner, { delayMs = 0, gate, onLookup } = {}) {
  const counter = { lookups: 0 };
  const store = Object.create(null);
  for (const name of ['getAccount', 'putAccount', 'getKey', 'insertKey', 'revokeKey', 'listKeys', 'listExpiring', 'close']) {
    store[name] = (...args) => inner[name](...args);
  }
  store.subscribe = (listener) => inner.subscribe(listener);
  store.findByHash = async (hash, options) => {
    counter.lookups++;
    onLookup?.(hash);
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (gate) await gate();
    return inner.findByHash(hash, options);
  };
  return { store, counter };
}

/** A memory store with one premium account and `count` live keys issued through the public key manager. */
export async function issueKeys(core, count, { store = new core.MemoryKeyStore(), accountId = 'acct_bench' } = {}) {
  const manager = core.createKeyManager({ store });
  await manager.putAccount({ id: accountId, tier: 'premium' });
  const keys = new Array(count);
  for (let i = 0; i < count; i++) keys[i] = (await manager.issue({ accountId, environment: 'live' })).apiKey;
  return { store, manager, keys };
}

// ---------------------------------------------------------------- timing

/**
 * Runs `fn` (sync or async, as `kind` says) in batches until `ms` have passed; returns operations per second.
 * Async functions are awaited one at a time: the figure is the latency of one call, as a request handler sees it.
 */
export async function opsPerSecond(fn, ms, kind = 'async') {
  let ops = 0;
  let batch = 64;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    if (kind === 'sync') {
      for (let i = 0; i < batch; i++) fn();
    } else {
      for (let i = 0; i < batch; i++) await fn();
    }
    ops += batch;
    elapsed = performance.now() - start;
    if (elapsed < ms / 20) batch *= 2;
  }
  return (ops * 1000) / elapsed;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Forces a full collection (needs `--expose-gc`) and returns heapUsed in bytes. */
export async function settledHeap() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await sleep(10);
  }
  return process.memoryUsage().heapUsed;
}

export const MiB = 2 ** 20;

/**
 * The host's CPU steal so far: `{ steal, total }` in jiffies, from the aggregate `cpu` line of /proc/stat (steal is its
 * 8th value; total is the sum of the first eight, guest time being counted in user already). Undefined where there is
 * no /proc/stat (macOS) or it cannot be read. Two readings' deltas give the steal share of the time between them.
 */
export function cpuSteal() {
  let line;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
  } catch {
    return undefined;
  }
  const values = line?.trim().split(/\s+/).slice(1, 9).map(Number);
  if (!values || values.length < 8 || values.some((v) => !Number.isFinite(v))) return undefined;
  return { steal: values[7], total: values.reduce((a, b) => a + b, 0) };
}

// ---------------------------------------------------------------- protocol

/** Section scripts print progress on stderr and one JSON object as the last line of stdout. */
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export function log(...parts) {
  process.stderr.write(`${parts.join(' ')}\n`);
}

/** The last JSON object printed: one line, or pretty-printed over several lines starting at a `{` in column 0. */
export function lastJson(stdout) {
  const lines = stdout.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].startsWith('{')) continue;
    for (const candidate of [lines[i], lines.slice(i).join('\n')]) {
      try {
        const value = JSON.parse(candidate);
        if (value && typeof value === 'object') return value;
      } catch {
        // not this one
      }
    }
  }
  return undefined;
}

/**
 * Runs `node [nodeArgs] script [args]` and parses the last JSON line of its stdout.
 * Resolves `{ ok, result?, error?, stderrTail }`; never rejects, so one broken section does not stop the others.
 */
export function runJsonScript(script, args = [], { nodeArgs = [], timeoutMs = 600_000, env, echo = true } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
      cwd: rootDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (echo) process.stderr.write(chunk);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderrTail = stderr.split('\n').slice(-15).join('\n');
      const result = lastJson(stdout);
      if (code !== 0 || result === undefined) {
        resolve({ ok: false, error: signal ? `killed by ${signal}` : `exit ${code}${result === undefined ? ', no JSON on stdout' : ''}`, result, stderrTail });
      } else {
        resolve({ ok: true, result, stderrTail });
      }
    });
  });
}

// ---------------------------------------------------------------- child processes and services

/** Replies to the parent: ready (port, key), and CPU time on request. */
export function serveIpc(info) {
  process.send({ type: 'ready', ...info });
  process.on('message', (message) => {
    if (message.type === 'cpu') process.send({ type: 'cpu', usage: process.cpuUsage(), elu: performance.eventLoopUtilization() });
    if (message.type === 'stop') process.exit(0);
  });
}

/**
 * Starts `scriptUrl` again in a child process with `extra` arguments (a `--role=` the script serves) and waits for its
 * `serveIpc` ready message; the result can ask the child's CPU time and stop it.
 */
export function forkRole(scriptUrl, extra) {
  const child = fork(fileURLToPath(scriptUrl), extra, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const queue = [];
  const waiters = [];
  child.on('message', (message) => (waiters.length ? waiters.shift()(message) : queue.push(message)));
  const next = () =>
    new Promise((resolve, reject) => {
      if (queue.length) return resolve(queue.shift());
      const timer = setTimeout(() => reject(new Error(`${extra.join(' ')} did not answer`)), 30_000);
      waiters.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  return next().then((ready) => ({
    ...ready,
    child,
    async cpu() {
      child.send({ type: 'cpu' });
      const { usage } = await next();
      return usage.user + usage.system;
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.send({ type: 'stop' });
      }),
  }));
}

/** True when something accepts connections on 127.0.0.1:port (within 1 s). */
export const listening = (port) =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
