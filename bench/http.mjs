// Section 2: HTTP requests/s per framework with no auth (floor), an async no-op middleware (control), finoraAuth
// (cached key) and the peer.
//
// Each server variant runs in its own child process (bench/http-server.mjs); autocannon drives it from this one.
// On 2 cores that gives the server one core and the load generator the other: a server sharing its event loop
// with the load generator would be measured together with it. The variants of one framework are measured
// in interleaved runs (floor, async, finora, peer, then async, finora, peer, floor, …: the order rotates each round,
// so no variant always runs first or right after the same neighbour); medians are reported, and the finora/floor
// ratio is taken per round, between runs seconds apart, so drifting machine load cancels out.
// Every round starts its servers afresh (one after another, in the round's order) and warms each up again: on this VM
// one process of a build can run 10-25% faster or slower than another process of the same build for its whole life
// (an A/A run, --same=finora: bench/findings.md), so long-lived processes would give each variant a fixed bias that
// no number of rounds removes; fresh ones turn it into round-to-round noise, which the medians absorb.
// Server CPU time per request (process.cpuUsage in the server) is reported too: it does not depend on whether
// the server or the load generator was the bottleneck.
// --frameworks=hono,koa (default: hono, express, koa, fastify), --rounds=N, --seconds=S, --warmup=S override the mode's choices (for investigations).
// --baseline=DIR: also runs finoraAuth from another checkout's built packages (DIR/bench/http-server.mjs, which resolves
// DIR's packages) as a fifth variant, `baseline`, in the same interleaved rounds: before/after ratios side by side.
// --long-lived: start each variant's server once and keep it for every round (faster; carries the per-process bias).
// --same=VARIANT: run VARIANT in every slot (an A/A run: how far identical servers read apart under this method).
// --cpu-prof (implies --long-lived): each server records a V8 CPU profile of the measured runs (not start-up or warm-up) into
// .tmp/profiles/<framework>-<variant>.cpuprofile; read them with bench/profile-summary.mjs.

import { fork } from 'node:child_process';
import { join } from 'node:path';
import { benchDir, emit, hasDist, log, machine, median, parseArgs, randomKey, rootDir, round, sized } from './lib.mjs';

const args = parseArgs();
const FRAMEWORKS = (args.rest.find((a) => a.startsWith('--frameworks='))?.slice(13).split(',')) ?? ['hono', 'express', 'koa', 'fastify'];
const BASELINE_DIR = args.rest.find((a) => a.startsWith('--baseline='))?.slice(11);
const VARIANTS = ['floor', 'async', 'finora', 'peer', ...(BASELINE_DIR ? ['baseline'] : [])];
const SAME = args.rest.find((a) => a.startsWith('--same='))?.slice(7);
if (SAME !== undefined && !['floor', 'async', 'finora', 'peer'].includes(SAME)) throw new Error(`--same takes floor, async, finora or peer; got ${SAME}`);
const FRESH = !args.rest.includes('--long-lived') && !args.cpuProf;
const restNumber = (name) => {
  const found = args.rest.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? undefined : Number(found.slice(name.length + 3));
};
// Quick and smoke runs skip the warm-up: each autocannon run costs about half a second more than its duration.
// A fresh process is warmed up every round, so a full run's rounds are shorter and more of them.
const WARMUP_S = restNumber('warmup') ?? sized(args, FRESH ? 1 : 2, 0, 0);
const RUN_S = restNumber('seconds') ?? sized(args, FRESH ? 2 : 3, 0.4, 0.2);
const ROUNDS = restNumber('rounds') ?? sized(args, FRESH ? 8 : 6, 1, 1);
const CONNECTIONS = 10;
const PEERS = {
  hono: 'hono/bearer-auth (static token)',
  express: 'passport + passport-http-bearer (SHA-256 + Map lookup)',
  koa: 'hand-written bearer middleware (regex, SHA-256 + Map lookup)',
  fastify: 'hand-written synchronous onRequest hook (regex, SHA-256 + Map lookup)',
};
const profileDir = join(rootDir, '.tmp', 'profiles');

const { default: autocannon } = await import('autocannon');

function startServer(framework, variant) {
  const [script, as] = variant === 'baseline' ? [join(BASELINE_DIR, 'bench', 'http-server.mjs'), 'finora'] : [join(benchDir, 'http-server.mjs'), SAME ?? variant];
  const child = fork(script, [framework, as], { cwd: rootDir, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies = [];
  const waiters = [];
  child.on('message', (message) => {
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else replies.push(message);
  });
  let exited;
  child.once('exit', (code) => {
    exited = new Error(`${framework}/${variant} server exited with ${code}`);
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });
  const next = () =>
    new Promise((resolve, reject) => {
      if (replies.length) return resolve(replies.shift());
      if (exited) return reject(exited);
      const timer = setTimeout(() => reject(new Error(`${framework}/${variant} server did not answer`)), 30_000);
      waiters.push((m) => {
        clearTimeout(timer);
        if (m === undefined) reject(exited);
        else resolve(m);
      });
    });
  return next().then((ready) => ({
    framework,
    variant,
    child,
    port: ready.port,
    apiKey: ready.apiKey,
    async cpu() {
      child.send({ type: 'cpu' });
      const { usage } = await next();
      return usage.user + usage.system;
    },
    async profile(action) {
      child.send({ type: 'profile', action, file: join(profileDir, `${framework}-${variant}.cpuprofile`) });
      await next();
    },
    stop: () =>
      new Promise((resolve) => {
        if (exited || child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.send({ type: 'stop' });
      }),
  }));
}

async function probe(server, authorization) {
  const response = await fetch(`http://127.0.0.1:${server.port}/v1/invoices`, { headers: { authorization } });
  await response.arrayBuffer();
  return response.status;
}

async function load(server, seconds) {
  const before = await server.cpu();
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/v1/invoices`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${server.apiKey}` },
  });
  const cpuMicros = (await server.cpu()) - before;
  const completed = result.requests.total;
  return {
    rps: completed / result.duration,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    cpuMicrosPerRequest: cpuMicros / completed,
    serverCpuShare: cpuMicros / 1e6 / result.duration,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const frameworks = [];
for (const framework of FRAMEWORKS) {
  if (!hasDist(framework)) {
    log(`http: packages/${framework}/dist missing; ${framework} not measured`);
    frameworks.push({ framework, measured: false, reason: `packages/${framework}/dist is missing (not built)` });
    continue;
  }
  log(
    `http: ${framework}: ${ROUNDS} rounds x ${VARIANTS.length} variants x ${RUN_S}s, ${CONNECTIONS} connections` +
      (FRESH ? `, servers started afresh every round (warm-up ${WARMUP_S}s each)` : '') +
      (SAME ? `, ${SAME} in every slot` : ''),
  );
  let servers = [];
  const checks = {};
  /** Every variant answers the bench key; finora and the peer refuse a key they do not know. */
  async function check(server) {
    const ok = await probe(server, `Bearer ${server.apiKey}`);
    const unknown = await probe(server, `Bearer ${randomKey()}`);
    checks[server.variant] = { validKeyStatus: ok, unknownKeyStatus: unknown };
    const runs = server.variant === 'baseline' ? 'finora' : (SAME ?? server.variant);
    const wantUnknown = runs === 'floor' || runs === 'async' ? 200 : 401;
    if (ok !== 200 || unknown !== wantUnknown) {
      throw new Error(`${framework}/${server.variant}: valid key got ${ok}, unknown key got ${unknown} (want 200, ${wantUnknown})`);
    }
  }
  /** Round r's servers: started one after another in the round's order, checked, warmed up; listed in VARIANTS order. */
  async function startRound(r) {
    const started = [];
    try {
      for (let i = 0; i < VARIANTS.length; i++) started.push(await startServer(framework, VARIANTS[(i + r) % VARIANTS.length]));
      for (const server of started) await check(server);
      if (WARMUP_S > 0) for (const server of started) await load(server, WARMUP_S);
    } catch (error) {
      await Promise.all(started.map((s) => s.stop()));
      throw error;
    }
    return VARIANTS.map((variant) => started.find((s) => s.variant === variant));
  }
  try {
    servers = await startRound(0);
    if (args.cpuProf) for (const server of servers) await server.profile('start');
    const runs = Object.fromEntries(VARIANTS.map((v) => [v, []]));
    for (let r = 0; r < ROUNDS; r++) {
      if (FRESH && r > 0) {
        const old = servers;
        servers = [];
        await Promise.all(old.map((s) => s.stop()));
        servers = await startRound(r);
      }
      for (let i = 0; i < servers.length; i++) {
        const server = servers[(i + r) % servers.length];
        const run = await load(server, RUN_S);
        runs[server.variant].push(run);
        log(`  ${framework}/${server.variant} round ${r + 1}: ${Math.round(run.rps)} req/s, ${round(run.cpuMicrosPerRequest, 1)} us CPU/req`);
      }
    }
    if (args.cpuProf) for (const server of servers) await server.profile('stop');
    const perRound = (a, b, field) => runs[a].map((run, i) => run[field] / runs[b][i][field]);
    const summarize = (variant) => {
      const list = runs[variant];
      return {
        variant,
        rps: Math.round(median(list.map((r) => r.rps))),
        rpsMin: Math.round(Math.min(...list.map((r) => r.rps))),
        rpsMax: Math.round(Math.max(...list.map((r) => r.rps))),
        latencyP50Ms: median(list.map((r) => r.latencyP50Ms)),
        latencyP99Ms: median(list.map((r) => r.latencyP99Ms)),
        cpuMicrosPerRequest: round(median(list.map((r) => r.cpuMicrosPerRequest)), 1),
        serverCpuShare: round(median(list.map((r) => r.serverCpuShare)), 2),
        errors: list.reduce((n, r) => n + r.errors, 0),
        non2xx: list.reduce((n, r) => n + r.non2xx, 0),
      };
    };
    const ratioSummary = (values) => ({ median: round(median(values), 3), min: round(Math.min(...values), 3), max: round(Math.max(...values), 3) });
    frameworks.push({
      framework,
      measured: true,
      peer: PEERS[framework],
      checks,
      variants: VARIANTS.map(summarize),
      ratios: {
        // Throughput kept: finora req/s / floor req/s, per round.
        finoraVsFloor: ratioSummary(perRound('finora', 'floor', 'rps')),
        finoraVsPeer: ratioSummary(perRound('finora', 'peer', 'rps')),
        finoraVsAsync: ratioSummary(perRound('finora', 'async', 'rps')),
        asyncVsFloor: ratioSummary(perRound('async', 'floor', 'rps')),
        peerVsFloor: ratioSummary(perRound('peer', 'floor', 'rps')),
        // The same at equal server CPU: floor CPU per request / finora CPU per request.
        finoraVsFloorCpu: ratioSummary(perRound('floor', 'finora', 'cpuMicrosPerRequest')),
        finoraVsPeerCpu: ratioSummary(perRound('peer', 'finora', 'cpuMicrosPerRequest')),
        finoraVsAsyncCpu: ratioSummary(perRound('async', 'finora', 'cpuMicrosPerRequest')),
        ...(BASELINE_DIR
          ? {
              baselineVsFloor: ratioSummary(perRound('baseline', 'floor', 'rps')),
              baselineVsAsync: ratioSummary(perRound('baseline', 'async', 'rps')),
              baselineVsPeer: ratioSummary(perRound('baseline', 'peer', 'rps')),
              finoraVsBaseline: ratioSummary(perRound('finora', 'baseline', 'rps')),
              finoraVsBaselineCpu: ratioSummary(perRound('baseline', 'finora', 'cpuMicrosPerRequest')),
            }
          : {}),
        asyncVsFloorCpu: ratioSummary(perRound('floor', 'async', 'cpuMicrosPerRequest')),
      },
      rawRuns: runs,
    });
  } catch (error) {
    // One framework's failure (an adapter mid-change, a server that would not start) must not hide the others.
    log(`http: ${framework} not measured: ${error.message}`);
    frameworks.push({ framework, measured: false, reason: `failed: ${error.message}` });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

const byName = Object.fromEntries(frameworks.filter((f) => f.measured).map((f) => [f.framework, f]));
// Issue 15's targets. Express and Fastify can continue synchronously, so finoraAuth is held to the bare route there;
// Hono and Koa run every middleware as an async function, so there it is held to the async no-op control.
const targets = [];
const target = (framework, what, ratio, min) => {
  if (!byName[framework]) return;
  const value = byName[framework].ratios[ratio].median;
  targets.push({ framework, what: `${framework}: ${what}`, ratio, value, min, met: value >= min });
};
target('express', "finoraAuth keeps >= 95% of the bare route's requests/s", 'finoraVsFloor', 0.95);
target('fastify', "finoraAuth keeps >= 95% of the bare route's requests/s", 'finoraVsFloor', 0.95);
target('hono', "finoraAuth keeps >= 90% of an async no-op middleware's requests/s", 'finoraVsAsync', 0.9);
target('koa', "finoraAuth keeps >= 90% of an async no-op middleware's requests/s", 'finoraVsAsync', 0.9);
target('hono', "finoraAuth >= 3x bearerAuth's requests/s", 'finoraVsPeer', 3);

emit({
  section: 'http',
  quick: args.quick,
  rounds: ROUNDS,
  freshServersEveryRound: FRESH,
  same: SAME,
  runSeconds: RUN_S,
  warmupSeconds: WARMUP_S,
  connections: CONNECTIONS,
  route: 'GET /v1/invoices -> {"ok":true}',
  frameworks,
  targets,
  cpuProfiles: args.cpuProf ? profileDir : undefined,
  smoke: args.smoke || undefined,
  machine: machine(),
  measuredAt: new Date().toISOString(),
});
