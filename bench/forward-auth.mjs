// Section: forward-auth behind nginx, with the shipped docs/forward-auth/nginx.conf: finora-auth against a trivial auth service.
//
//   node bench/forward-auth.mjs [--quick] [--smoke] [--connections=N] [--compare-dist=DIR | --bound] [--long-lived] [--direct]
//
// Processes on loopback: the API (a bare node:http server answering {"ok":true}); finora-auth's forward-auth
// service (createGateway({ forwardAuth: true }) from packages/gateway/dist on a MemoryKeyStore, the handler
// `finora-auth serve --forward-auth` runs, access log on, to /dev/null); a trivial auth service (a node:http
// server answering 200 to any request with an Authorization header, 401 to others); the same finora-auth service
// with its access log off (`serve --access-log off`, what a platform team whose proxy logs every request can run);
// and one nginx (one worker: the machine has 2 cores) with four servers: docs/forward-auth/nginx.conf as shipped
// with only its ports changed, in front of finora-auth, of finora-auth without its access log and of the trivial
// service, and a bare proxy_pass to the API (no auth_request) for reference. --compare-dist=DIR adds a second
// finora-auth build behind a fourth copy of the shipped configuration, in the same rounds: before/after from one
// command. --bound puts there instead an upper bound built from the shipped sources
// (bench/bounds/forward-auth-bound.ts): the core's decision and `judgeForwardAuth` answered straight from
// node:http, with no access log, metrics or tracking.
//
// --direct leaves nginx out: autocannon asks each auth service straight away, with the headers nginx's
// subrequest carries (Authorization, X-Original-URI, X-Original-Method, X-Real-IP), each service in a fresh
// process, warmed up, measured, stopped, the order rotating every round. The services then have the machine to
// themselves, so their CPU per request is far steadier than behind nginx (a few percent from round to round,
// against 10-25%): the way to compare two builds of the service, or the service against its bound.
//
// autocannon in this process, 20 connections unless told; the paths rotate their order every round (direct,
// nginx bare, nginx + trivial, nginx + finora-auth, ...), medians are reported, and ratios are taken per round.
// Every round starts the auth services and nginx afresh (the services one after another, in an order that rotates)
// and warms each path up again: one process of a build can run 10-25% faster or slower than another process of the
// same build for its whole life (bench/findings.md), a fixed bias on a long-lived process that no number of rounds
// removes. --long-lived starts them once (faster, and carries that bias). The API is one process for every path.
// Each auth service reports its process CPU time, so CPU per request is given for it; nginx's worker CPU is read
// from /proc. "Added p99" is the path's p99 latency minus nginx bare's in the same round. One JSON object on
// stdout; progress on stderr.
//
// Internal roles (forked by this script): --role=api, --role=trivial-auth, --role=finora [--gateway-dist=DIR] [--no-access-log].

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { benchGateway, emit, forkRole, hasDist, log, machine, median, parseArgs, rootDir, round, serveIpc, sized } from './lib.mjs';
import { buildBound } from './bounds/build.mjs';

const args = parseArgs();
const option = (name) => args.rest.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const role = option('role');

function listen(server) {
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => serveIpc({ port: server.address().port }));
}

if (role === 'api') {
  const body = JSON.stringify({ ok: true });
  listen(
    createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }),
  );
} else if (role === 'trivial-auth') {
  // The floor: an auth service that does nothing but answer.
  listen(
    createServer((req, res) => {
      req.resume();
      res.writeHead(req.headers.authorization ? 200 : 401, { 'content-length': 0 });
      res.end();
    }),
  );
} else if (role === 'finora') {
  // --gateway-dist=DIR runs another build of the gateway, to compare two builds.
  const { createGateway, store, apiKey } = await benchGateway(option('gateway-dist'));
  // stdout is /dev/null here: the access log is written, as in production, and costs what it costs (unless
  // --no-access-log, as `serve --access-log off`).
  const accessLog = args.rest.includes('--no-access-log') ? false : process.stdout;
  const gateway = createGateway({ store, forwardAuth: true, accessLog, metrics: true });
  const { port } = await gateway.listen(0, '127.0.0.1');
  serveIpc({ port, apiKey });
} else {
  await main();
}

function start(extra) {
  return forkRole(import.meta.url, extra);
}

/** A free loopback port (closed again at once; nginx binds it a moment later). */
function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The shipped configuration with its three ports replaced and its upstream names made unique to `tag`. */
function shippedConf(tag, { listen, auth, api }) {
  const text = readFileSync(join(rootDir, 'docs', 'forward-auth', 'nginx.conf'), 'utf8');
  const replaced = text
    .replaceAll('127.0.0.1:8787', `127.0.0.1:${auth}`)
    .replaceAll('127.0.0.1:3000', `127.0.0.1:${api}`)
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${listen}`)
    .replace(/\bfinora_(auth|api)\b/g, `finora_$1_${tag}`);
  if (/127\.0\.0\.1:(8787|3000|8080)\b/.test(replaced)) throw new Error('docs/forward-auth/nginx.conf: a port was not replaced');
  return replaced;
}

/** CPU time (user + system) of a process, in microseconds, from /proc (clock ticks of 10 ms). */
function procCpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function startNginx(dir, servers) {
  mkdirSync(dir, { recursive: true });
  const conf = `worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
${servers.join('\n')}
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  execFileSync('nginx', ['-t', '-q', '-p', dir, '-e', join(dir, 'error.log'), '-c', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  const child = spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Ready once the worker exists (its pid is the master's child).
  const deadline = Date.now() + 10_000;
  let worker;
  while (!worker) {
    if (Date.now() > deadline) throw new Error('nginx did not start');
    await new Promise((r) => setTimeout(r, 50));
    try {
      worker = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)[0];
    } catch {
      worker = undefined;
    }
  }
  return {
    cpu: () => procCpuMicros(worker),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGQUIT');
      }),
  };
}

/**
 * The auth services every mode starts, by name: the trivial one, finora-auth with and without its access log, and
 * and, when asked for, `compared`: the build of --compare-dist=DIR, or the --bound (built first).
 */
async function authServices() {
  const bound = args.rest.includes('--bound');
  const compareDist = bound ? await buildBound('forward-auth-bound') : option('compare-dist');
  const ROLES = {
    trivial: ['--role=trivial-auth'],
    finora: ['--role=finora'],
    finoraNoLog: ['--role=finora', '--no-access-log'],
    ...(compareDist ? { compared: ['--role=finora', `--gateway-dist=${compareDist}`] } : {}),
  };
  return { bound, compareDist, ROLES };
}

async function main() {
  for (const pkg of ['core', 'gateway']) {
    if (!hasDist(pkg)) throw new Error(`packages/${pkg}/dist is missing: run \`pnpm run build\` first`);
  }
  if (args.rest.includes('--direct')) return direct();
  const nginxFound = (() => {
    try {
      execFileSync('nginx', ['-v'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!nginxFound) {
    emit({ section: 'forward-auth', skipped: 'nginx is not installed (apt-get install nginx-light)', machine: machine() });
    return;
  }
  const { default: autocannon } = await import('autocannon');
  const FRESH = !args.rest.includes('--long-lived');
  // A fresh process is warmed up every round, so a full run's warm-up is shorter.
  const WARMUP_S = sized(args, FRESH ? 1.5 : 3, 1, 0.2);
  const RUN_S = sized(args, FRESH ? 3 : 4, 1, 0.3);
  const ROUNDS = sized(args, 7, 3, 1);
  const CONNECTIONS = Number(option('connections') ?? 20);
  const { bound, compareDist, ROLES } = await authServices();

  const api = await start(['--role=api']);
  const ports = { bare: await freePort(), trivial: await freePort(), finora: await freePort(), finoraNoLog: await freePort(), compared: await freePort() };
  const url = (port) => `http://127.0.0.1:${port}/v1/invoices`;
  const bearer = (key) => ({ authorization: `Bearer ${key}` });
  const NAMES = ['direct', 'nginxBare', 'nginxTrivialAuth', 'nginxFinoraAuth', 'nginxFinoraAuthNoLog', ...(compareDist ? ['nginxComparedFinoraAuth'] : [])];

  /** Round r's auth services (started one after another, the order rotating with r) and the nginx in front of them. */
  async function startRound(r) {
    const roles = Object.keys(ROLES);
    const auth = {};
    let nginx;
    try {
      for (let i = 0; i < roles.length; i++) {
        const role = roles[(i + r) % roles.length];
        auth[role] = await start(ROLES[role]);
      }
      nginx = await startNginx(join(rootDir, '.tmp', 'bench-forward-auth-nginx'), [
        `  upstream bare_api { server 127.0.0.1:${api.port}; keepalive 16; }
  server {
    listen 127.0.0.1:${ports.bare};
    location / { proxy_pass http://bare_api; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`,
        shippedConf('trivial', { listen: ports.trivial, auth: auth.trivial.port, api: api.port }),
        shippedConf('finora', { listen: ports.finora, auth: auth.finora.port, api: api.port }),
        shippedConf('nolog', { listen: ports.finoraNoLog, auth: auth.finoraNoLog.port, api: api.port }),
        ...(auth.compared ? [shippedConf('compared', { listen: ports.compared, auth: auth.compared.port, api: api.port })] : []),
      ]);
    } catch (error) {
      await Promise.all([nginx?.stop(), ...Object.values(auth).map((a) => a.stop())]);
      throw error;
    }
    const targets = {
      direct: { url: url(api.port), headers: bearer(auth.finora.apiKey), auth: undefined, viaNginx: false },
      nginxBare: { url: url(ports.bare), headers: bearer(auth.finora.apiKey), auth: undefined, viaNginx: true },
      nginxTrivialAuth: { url: url(ports.trivial), headers: bearer(auth.finora.apiKey), auth: auth.trivial, viaNginx: true },
      nginxFinoraAuth: { url: url(ports.finora), headers: bearer(auth.finora.apiKey), auth: auth.finora, viaNginx: true },
      nginxFinoraAuthNoLog: { url: url(ports.finoraNoLog), headers: bearer(auth.finoraNoLog.apiKey), auth: auth.finoraNoLog, viaNginx: true },
    };
    if (auth.compared) targets.nginxComparedFinoraAuth = { url: url(ports.compared), headers: bearer(auth.compared.apiKey), auth: auth.compared, viaNginx: true };
    const started = { nginx, targets, stop: () => Promise.all([nginx.stop(), ...Object.values(auth).map((a) => a.stop())]) };
    // finora-auth must really decide: the key passes, no key is refused with the contract's JSON, nothing by accident.
    for (const name of NAMES.filter((n) => n.includes('Finora'))) {
      const ok = await fetch(targets[name].url, { headers: targets[name].headers });
      const refused = await fetch(targets[name].url);
      const body = await refused.text();
      await ok.arrayBuffer();
      if (ok.status !== 200 || refused.status !== 401 || !body.includes('"error"')) {
        await started.stop();
        throw new Error(`${name} check failed: key -> ${ok.status}, no key -> ${refused.status} ${body.slice(0, 80)}`);
      }
    }
    for (const name of NAMES) await load(started, name, WARMUP_S);
    return started;
  }

  async function load({ nginx, targets }, name, seconds) {
    const { auth, viaNginx } = targets[name];
    const [authBefore, nginxBefore] = await Promise.all([auth?.cpu() ?? 0, viaNginx ? nginx.cpu() : 0]);
    const result = await autocannon({ url: targets[name].url, headers: targets[name].headers, connections: CONNECTIONS, duration: seconds });
    const [authAfter, nginxAfter] = await Promise.all([auth?.cpu() ?? 0, viaNginx ? nginx.cpu() : 0]);
    const completed = result.requests.total;
    return {
      rps: completed / result.duration,
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
      authCpuMicrosPerRequest: auth ? (authAfter - authBefore) / completed : undefined,
      nginxCpuMicrosPerRequest: viaNginx ? (nginxAfter - nginxBefore) / completed : undefined,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
    };
  }

  let current;
  try {
    log(
      `forward-auth: ${ROUNDS} rounds x ${NAMES.length} x ${RUN_S}s after a ${WARMUP_S}s warm-up each, ${CONNECTIONS} connections, order rotating` +
        (FRESH ? ', auth services and nginx started afresh every round' : ''),
    );
    current = await startRound(0);
    const runs = Object.fromEntries(NAMES.map((name) => [name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      if (FRESH && r > 0) {
        const old = current;
        current = undefined;
        await old.stop();
        current = await startRound(r);
      }
      const order = NAMES.map((_, i) => NAMES[(i + r) % NAMES.length]);
      for (const name of order) {
        const run = await load(current, name, RUN_S);
        runs[name][r] = run;
        const cpu = run.authCpuMicrosPerRequest === undefined ? '' : `, auth service ${round(run.authCpuMicrosPerRequest, 1)} us CPU/req`;
        log(`  ${name} round ${r + 1}: ${Math.round(run.rps)} req/s, p50 ${run.latencyP50Ms} ms, p99 ${run.latencyP99Ms} ms${cpu}`);
      }
      const share = (name) => `${Math.round((100 * runs[name][r].rps) / runs.nginxTrivialAuth[r].rps)}%`;
      log(`  round ${r + 1}, of nginx + trivial auth: nginx + finora-auth ${share('nginxFinoraAuth')}, access log off ${share('nginxFinoraAuthNoLog')}` + (compareDist ? `, ${bound ? 'bound' : 'compared build'} ${share('nginxComparedFinoraAuth')}` : ''));
    }

    const med = (list, field) => {
      const values = list.map((r) => r[field]).filter((v) => v !== undefined);
      return values.length ? round(median(values), 2) : undefined;
    };
    const summarize = (list) => ({
      rps: Math.round(median(list.map((r) => r.rps))),
      rpsMin: Math.round(Math.min(...list.map((r) => r.rps))),
      rpsMax: Math.round(Math.max(...list.map((r) => r.rps))),
      latencyP50Ms: med(list, 'latencyP50Ms'),
      latencyP99Ms: med(list, 'latencyP99Ms'),
      authCpuMicrosPerRequest: med(list, 'authCpuMicrosPerRequest'),
      nginxCpuMicrosPerRequest: med(list, 'nginxCpuMicrosPerRequest'),
      errors: list.reduce((n, r) => n + r.errors, 0),
      non2xx: list.reduce((n, r) => n + r.non2xx, 0),
    });
    const ratioOf = (a, b, field = 'rps') => {
      const values = runs[a].map((run, i) => run[field] / runs[b][i][field]);
      return { median: round(median(values), 3), min: round(Math.min(...values), 3), max: round(Math.max(...values), 3) };
    };
    /** p99 of `name` minus nginx bare's, per round, in ms. */
    const addedP99 = (name) => {
      const values = runs[name].map((run, i) => run.latencyP99Ms - runs.nginxBare[i].latencyP99Ms);
      return { median: round(median(values), 2), min: round(Math.min(...values), 2), max: round(Math.max(...values), 2) };
    };
    const finoraVsTrivial = ratioOf('nginxFinoraAuth', 'nginxTrivialAuth');
    emit({
      section: 'forward-auth',
      quick: args.quick,
      rounds: ROUNDS,
      freshServicesEveryRound: FRESH,
      runSeconds: RUN_S,
      warmupSeconds: WARMUP_S,
      connections: CONNECTIONS,
      nginx: spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace(/^nginx version: /, ''),
      ...Object.fromEntries(NAMES.map((name) => [name, summarize(runs[name])])),
      finoraVsTrivialAuth: finoraVsTrivial,
      nginxBareVsDirect: ratioOf('nginxBare', 'direct'),
      trivialAuthVsNginxBare: ratioOf('nginxTrivialAuth', 'nginxBare'),
      finoraVsNginxBare: ratioOf('nginxFinoraAuth', 'nginxBare'),
      finoraCpuVsTrivialCpu: ratioOf('nginxFinoraAuth', 'nginxTrivialAuth', 'authCpuMicrosPerRequest'),
      // What switching the access log off buys: requests/s, and the auth service's CPU per request as a factor (< 1: cheaper).
      finoraNoLogVsTrivialAuth: ratioOf('nginxFinoraAuthNoLog', 'nginxTrivialAuth'),
      finoraNoLogVsFinora: ratioOf('nginxFinoraAuthNoLog', 'nginxFinoraAuth'),
      finoraNoLogCpuVsFinoraCpu: ratioOf('nginxFinoraAuthNoLog', 'nginxFinoraAuth', 'authCpuMicrosPerRequest'),
      addedP99Ms: { trivialAuth: addedP99('nginxTrivialAuth'), finoraAuth: addedP99('nginxFinoraAuth'), finoraAuthNoLog: addedP99('nginxFinoraAuthNoLog') },
      ...(compareDist
        ? {
            compareDist: bound ? 'bench/bounds/forward-auth-bound.ts' : compareDist,
            ...(bound
              ? {
                  bound: true,
                  boundVsTrivialAuth: ratioOf('nginxComparedFinoraAuth', 'nginxTrivialAuth'),
                  finoraVsBound: ratioOf('nginxFinoraAuth', 'nginxComparedFinoraAuth'),
                  finoraCpuVsBoundCpu: ratioOf('nginxFinoraAuth', 'nginxComparedFinoraAuth', 'authCpuMicrosPerRequest'),
                }
              : {
                  comparedVsTrivialAuth: ratioOf('nginxComparedFinoraAuth', 'nginxTrivialAuth'),
                  finoraVsCompared: ratioOf('nginxFinoraAuth', 'nginxComparedFinoraAuth'),
                  finoraCpuVsComparedCpu: ratioOf('nginxFinoraAuth', 'nginxComparedFinoraAuth', 'authCpuMicrosPerRequest'),
                }),
          }
        : {}),
      targets: [
        { what: 'nginx + finora-auth keeps >= 85% of nginx + a trivial auth service', value: finoraVsTrivial.median, min: 0.85, met: finoraVsTrivial.median >= 0.85 },
      ],
      machine: machine(),
      rawRuns: runs,
    });
  } finally {
    await Promise.all([current?.stop(), api.stop()]);
  }
}

/** --direct: each auth service loaded straight away, no nginx (header comment). */
async function direct() {
  const { default: autocannon } = await import('autocannon');
  const WARMUP_S = sized(args, 3, 1, 0.2);
  const RUN_S = sized(args, 6, 2, 0.3);
  const ROUNDS = sized(args, 5, 3, 1);
  const CONNECTIONS = Number(option('connections') ?? 20);
  const { bound, compareDist, ROLES } = await authServices();
  const names = Object.keys(ROLES);
  const runs = Object.fromEntries(names.map((name) => [name, []]));
  log(`forward-auth --direct: ${ROUNDS} rounds x ${names.length} services, each fresh, ${WARMUP_S}s warm-up, ${RUN_S}s measured, ${CONNECTIONS} connections`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names.map((_, i) => names[(i + r) % names.length])) {
      const service = await start(ROLES[name]);
      try {
        const options = {
          url: `http://127.0.0.1:${service.port}/_finora_auth`,
          headers: {
            authorization: `Bearer ${service.apiKey ?? 'any'}`,
            'x-original-uri': '/v1/invoices',
            'x-original-method': 'GET',
            'x-real-ip': '203.0.113.7',
          },
          connections: CONNECTIONS,
        };
        await autocannon({ ...options, duration: WARMUP_S });
        const before = await service.cpu();
        const result = await autocannon({ ...options, duration: RUN_S });
        const cpu = (await service.cpu()) - before;
        if (result.non2xx || result.errors) throw new Error(`${name}: ${result.non2xx} answers other than 2xx, ${result.errors} errors`);
        const run = { rps: result.requests.total / result.duration, authCpuMicrosPerRequest: cpu / result.requests.total };
        runs[name].push(run);
        log(`  ${name} round ${r + 1}: ${Math.round(run.rps)} req/s, ${round(run.authCpuMicrosPerRequest, 2)} us CPU/req`);
      } finally {
        await service.stop();
      }
    }
  }
  const of = (a, b, field) => {
    const values = runs[a].map((run, i) => run[field] / runs[b][i][field]);
    return { median: round(median(values), 3), min: round(Math.min(...values), 3), max: round(Math.max(...values), 3) };
  };
  const services = Object.fromEntries(
    names.map((name) => [
      name,
      {
        rps: Math.round(median(runs[name].map((run) => run.rps))),
        authCpuMicrosPerRequest: round(median(runs[name].map((run) => run.authCpuMicrosPerRequest)), 2),
        cpuVsFinora: of(name, 'finora', 'authCpuMicrosPerRequest'),
      },
    ]),
  );
  emit({ section: 'forward-auth-direct', rounds: ROUNDS, runSeconds: RUN_S, warmupSeconds: WARMUP_S, connections: CONNECTIONS, ...(compareDist ? { compareDist, bound } : {}), services, machine: machine(), rawRuns: runs });
}
