// Credits and rate limits, side by side: allowed live requests of a metered account and of a rate-limited one
// against the same requests of an unmetered account, in process (authenticate()) and over HTTP on Hono.
//
// In process, the candidates run in interleaved rounds (unmetered, metered, limited, …) in processes of their build
// (bench/credits-inprocess.mjs: builds sharing a heap would slow each other's GC), and the ratio to unmetered is
// taken per round in each process; the median over processes of each process's median ratio is reported (target:
// >= 0.90). Several processes per build (5 in a full run), because one process's figures carry that process's
// luck: the same build measured in four processes side by side gave rate-limited ratios from 0.907 to 0.966. Over HTTP one Hono
// server (bench/credits-server.mjs, its own process) holds all three keys and autocannon drives it from this one,
// in interleaved runs. The store is a MemoryKeyStore: a lease is taken every few hundred requests, so what is
// measured is the local bookkeeping (lease, usage batch, limiter), not a store round trip.
//
// --baseline=DIR: also runs another checkout's built core (and, over HTTP, its bench/credits-server.mjs) in the same
// interleaved rounds, as candidates `base:unmetered`, `base:metered`, …: before/after side by side. Its ratios are
// taken against its own unmetered key, and `vsBaseline` compares the two builds' candidates directly.

import { fork } from 'node:child_process';
import { join, resolve } from 'node:path';
import { benchDir, emit, hasDist, log, machine, median, parseArgs, rootDir, round, sized } from './lib.mjs';

const args = parseArgs();
const ROUNDS = sized(args, 30, 6, 1);
const ROUND_OPS = sized(args, 25_000, 10_000, 500);
const PROCESSES = sized(args, 5, 1, 1);
const HTTP_ROUNDS = sized(args, 5, 1, 1);
const HTTP_S = sized(args, 3, 0.5, 0.2);
const CONNECTIONS = 10;
const KINDS = ['unmetered', 'metered', 'limited', 'expiring'];
const BASELINE_ARG = args.rest.find((a) => a.startsWith('--baseline='))?.slice(11);
const BASELINE_DIR = BASELINE_ARG && resolve(BASELINE_ARG);
const CANDIDATES = [...KINDS, ...(BASELINE_DIR ? KINDS.map((id) => `base:${id}`) : [])];
const kindOf = (id) => id.replace(/^base:/, '');

/** A child process, with its messages in order: `next()` is the next one. */
function forkWithMessages(script, argv, options) {
  const child = fork(script, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...options });
  const messages = [];
  const waiters = [];
  child.on('message', (message) => (waiters.length ? waiters.shift()(message) : messages.push(message)));
  const next = () => new Promise((resolve) => (messages.length ? resolve(messages.shift()) : waiters.push(resolve)));
  return { child, next };
}

/**
 * One build's in-process side (bench/credits-inprocess.mjs), a process per build: builds sharing one heap slow
 * each other's candidates (a build that leaves many number strings in V8's cache made the other's GC dearer too).
 */
async function startInProcess(dir) {
  const { child, next } = forkWithMessages(join(benchDir, 'credits-inprocess.mjs'), [dir]);
  const ready = await next();
  const run = async (kind, ops) => {
    child.send({ type: 'run', kind, ops });
    return (await next()).nsPerCall;
  };
  return { child, headers: ready.headers, run };
}
if (!hasDist('core')) throw new Error('packages/core/dist is missing: run `pnpm run build` first');
const startBuild = async (dir) => {
  const processes = [];
  for (let p = 0; p < PROCESSES; p++) processes.push(await startInProcess(dir));
  return processes;
};
/** Per build, its processes. */
const builds = [await startBuild(rootDir), ...(BASELINE_DIR ? [await startBuild(BASELINE_DIR)] : [])];
const buildOf = (id, p = 0) => builds[id.startsWith('base:') ? 1 : 0][p];

// Each candidate is what it claims: allowed, with (metered) the balance header, with (limited) the RateLimit fields.
for (const candidate of CANDIDATES) {
  const id = kindOf(candidate);
  const names = buildOf(candidate).headers[id];
  const hasBalance = names.includes('Finora-Credits-Remaining');
  const hasLimit = names.includes('RateLimit');
  const hasExpiry = names.includes('Finora-Key-Expires-At');
  if (hasBalance !== (id === 'metered') || hasLimit !== (id === 'limited') || hasExpiry !== (id === 'expiring')) throw new Error(`credits bench: the ${id} key's headers are not as expected`);
}

/**
 * CPU time of `ROUND_OPS` awaited calls, in ns per call, in the candidate's build's process. CPU time (not wall
 * time) so that other processes on a shared 2-core machine slow the figure less; rounds are interleaved and
 * compared pairwise all the same.
 */
const cpuNsPerCall = (id, p) => buildOf(id, p).run(kindOf(id), ROUND_OPS);
log(`credits: in process, ${ROUNDS} rounds x ${PROCESSES} processes per build x ${CANDIDATES.length} candidates x ${ROUND_OPS} calls`);
/** runs[candidate][process]: ns per call, one per round. */
const runs = Object.fromEntries(CANDIDATES.map((id) => [id, Array.from({ length: PROCESSES }, () => [])]));
for (let p = 0; p < PROCESSES; p++) for (const id of CANDIDATES) await cpuNsPerCall(id, p); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order each round, so no candidate always runs after the same one; one process runs at a time.
  for (let p = 0; p < PROCESSES; p++) {
    for (let j = 0; j < CANDIDATES.length; j++) {
      const id = CANDIDATES[(round + p + j) % CANDIDATES.length];
      runs[id][p].push(await cpuNsPerCall(id, p));
    }
  }
}
// Throughput ratio = inverse CPU-time ratio, per round and process (both candidates measured in that process).
const ratioIn = (id, to, p) => median(runs[id][p].map((ns, i) => runs[to][p][i] / ns));
const ratio = (id, to = 'unmetered') => median(Array.from({ length: PROCESSES }, (_, p) => ratioIn(id, to, p)));
const inProcess = {
  processesPerBuild: PROCESSES,
  cpuNsPerCall: Object.fromEntries(CANDIDATES.map((id) => [id, Math.round(median(runs[id].flat()))])),
  meteredRatio: round(ratio('metered'), 3),
  limitedRatio: round(ratio('limited'), 3),
  expiringRatio: round(ratio('expiring'), 3),
  /** Each process's own median ratio, to show the spread between processes. */
  perProcess: Object.fromEntries(['metered', 'limited'].map((id) => [id, Array.from({ length: PROCESSES }, (_, p) => round(ratioIn(id, 'unmetered', p), 3))])),
  ...(BASELINE_DIR && {
    baseline: { meteredRatio: round(ratio('base:metered', 'base:unmetered'), 3), limitedRatio: round(ratio('base:limited', 'base:unmetered'), 3), expiringRatio: round(ratio('base:expiring', 'base:unmetered'), 3) },
    // Throughput of this build over the baseline's, per candidate (> 1: this build is cheaper).
    vsBaseline: Object.fromEntries(KINDS.map((id) => [id, round(ratio(id, `base:${id}`), 3)])),
  }),
};
log(`credits: in process ${JSON.stringify(inProcess)}`);

// Over HTTP on Hono.
const { default: autocannon } = await import('autocannon');
/** One build's Hono server (its own process), asked for its CPU time over IPC. */
async function startServer(dir) {
  const { child, next } = forkWithMessages(join(dir, 'bench', 'credits-server.mjs'), [], { cwd: dir });
  const ready = await next();
  const cpu = async () => {
    child.send({ type: 'cpu' });
    const { usage } = await next();
    return usage.user + usage.system;
  };
  return { child, ready, cpu };
}
const servers = [await startServer(rootDir), ...(BASELINE_DIR ? [await startServer(BASELINE_DIR)] : [])];
async function load(candidate, seconds) {
  const { ready, cpu } = servers[candidate.startsWith('base:') ? 1 : 0];
  const id = kindOf(candidate);
  const before = await cpu();
  const result = await autocannon({
    url: `http://127.0.0.1:${ready.port}/v1/invoices`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${ready.keys[id]}` },
  });
  const cpuMicros = (await cpu()) - before;
  if (result.non2xx > 0) throw new Error(`credits bench: ${result.non2xx} refusals for the ${id} key over HTTP`);
  return { rps: result.requests.total / result.duration, cpuMicrosPerRequest: cpuMicros / result.requests.total };
}
log(`credits: over HTTP on Hono, ${HTTP_ROUNDS} rounds x ${CANDIDATES.length} x ${HTTP_S} s, ${CONNECTIONS} connections`);
const httpRuns = Object.fromEntries(CANDIDATES.map((id) => [id, []]));
try {
  for (const id of CANDIDATES) await load(id, Math.min(HTTP_S, 1)); // warm-up
  for (let round = 0; round < HTTP_ROUNDS; round++) {
    for (let j = 0; j < CANDIDATES.length; j++) {
      const id = CANDIDATES[(round + j) % CANDIDATES.length];
      httpRuns[id].push(await load(id, HTTP_S));
    }
  }
} finally {
  for (const { child } of servers) child.send({ type: 'stop' });
}
const httpRatio = (id, field, to = 'unmetered') => median(httpRuns[id].map((run, i) => run[field] / httpRuns[to][i][field]));
const http = {
  rps: Object.fromEntries(CANDIDATES.map((id) => [id, Math.round(median(httpRuns[id].map((r) => r.rps)))])),
  serverCpuMicrosPerRequest: Object.fromEntries(CANDIDATES.map((id) => [id, round(median(httpRuns[id].map((r) => r.cpuMicrosPerRequest)), 1)])),
  meteredRatio: round(httpRatio('metered', 'rps'), 3),
  limitedRatio: round(httpRatio('limited', 'rps'), 3),
  // Server CPU per request is steadier than requests/s when the load generator shares the 2 cores.
  meteredCpuRatio: round(1 / httpRatio('metered', 'cpuMicrosPerRequest'), 3),
  limitedCpuRatio: round(1 / httpRatio('limited', 'cpuMicrosPerRequest'), 3),
  // For reference: an unmetered key whose answers carry one header too (its expiry warning).
  expiringRatio: round(httpRatio('expiring', 'rps'), 3),
  expiringCpuRatio: round(1 / httpRatio('expiring', 'cpuMicrosPerRequest'), 3),
  ...(BASELINE_DIR && {
    baseline: Object.fromEntries(
      ['metered', 'limited', 'expiring'].flatMap((id) => [
        [`${id}Ratio`, round(httpRatio(`base:${id}`, 'rps', 'base:unmetered'), 3)],
        [`${id}CpuRatio`, round(1 / httpRatio(`base:${id}`, 'cpuMicrosPerRequest', 'base:unmetered'), 3)],
      ]),
    ),
    // Requests/s of this build over the baseline's, and the inverse of its server CPU per request over the baseline's.
    vsBaseline: Object.fromEntries(KINDS.map((id) => [id, round(httpRatio(id, 'rps', `base:${id}`), 3)])),
    vsBaselineCpu: Object.fromEntries(KINDS.map((id) => [id, round(1 / httpRatio(id, 'cpuMicrosPerRequest', `base:${id}`), 3)])),
  }),
};
log(`credits: over HTTP ${JSON.stringify(http)}`);

emit({
  machine: machine(),
  target: 0.9,
  inProcess,
  http,
  met: inProcess.meteredRatio >= 0.9 && inProcess.limitedRatio >= 0.9 && http.meteredRatio >= 0.9 && http.limitedRatio >= 0.9,
});
for (const { child } of builds.flat()) child.send({ type: 'stop' });
