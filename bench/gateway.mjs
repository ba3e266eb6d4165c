// Section: requests/s through the finora-auth gateway (proxying, cached key) against the same upstream called directly.
//
//   node bench/gateway.mjs [--quick] [--smoke] [--connections=N] [--rounds=N] [--no-access-log] [--gateway-dist=DIR] [--compare-dist=DIR] [--demo] [--bounds] [--long-lived]
//
// --gateway-dist=DIR runs another build of the gateway (a directory holding its index.js) instead of
// packages/gateway/dist; --compare-dist=DIR adds a second gateway from DIR, run in the same rounds
// (comparedGateway, and gateway/comparedGateway per round): before/after figures from one command. --demo adds the
// gateway without an upstream, answering its own demo route (`serve` with no --upstream; and the compared build's).
// --bounds adds two upper bounds built from the shipped sources (bench/bounds/proxy-bound.ts): node:http + undici
// + the core's decision + the target check and nothing else, sending the headers the contract requires
// (boundContract) or those the gateway sends (boundForwarding); no log, metrics or tracking.
// Every round starts the gateway processes and the bare proxies afresh, in an order that alternates from round to
// round, each warmed up again before the round: a process keeps whatever it got at its start (the one started first
// was charged ~12% more CPU than an identical build started after it; an A/A run of the HTTP section put two
// processes of one build 10-25% apart: bench/findings.md), so processes kept for the whole run would compare their
// processes as much as their code. --long-lived starts them once (faster; carries that bias; not with
// --compare-dist). The upstream is one process for every path.
//
// Processes on loopback: the upstream (a bare node:http server answering {"ok":true}); the gateway built from
// packages/gateway/dist (createGateway on a MemoryKeyStore, default options: access log on, written to /dev/null)
// proxying to it; for reference, two bare reverse proxies with no authentication, no logs and no header rules:
// one on node:http's client (http.request + pipe, keep-alive agent) and one on undici's Pool.dispatch, the client
// the gateway itself uses: the floor a Node proxy pays for the extra hop, so gateway/bare-undici is what the
// gateway's own work (the target check, the core's decision, header rules, metrics, the access log) costs; and autocannon in this process.
// Runs alternate (direct, bare proxies, gateway, …; the order rotates every round); medians are reported, and ratios are taken per round
// so drifting machine load cancels out. Each server reports its process CPU time, and this process its own (the
// load generator's), so CPU per request is given too: unlike req/s, it does not depend on which process was the
// bottleneck. On a 2-core machine all of them share the same cores, which is what caps a proxied path well below
// direct: see docs/gateway.md. One JSON object on stdout; progress on stderr.
//
// Internal roles (forked by this script): --role=upstream, --role=gateway --upstream=URL, --role=bare-proxy
// --upstream=URL, --role=bare-undici-proxy --upstream=URL, --role=bound-proxy --bound-dir=DIR --variant=V --upstream=URL.

import { Agent, createServer, request } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildBound } from './bounds/build.mjs';
import { benchGateway, emit, forkRole, hasDist, log, machine, median, parseArgs, round, serveIpc, sized } from './lib.mjs';

const args = parseArgs();
const option = (name) => args.rest.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const role = option('role');

if (role === 'upstream') {
  const body = JSON.stringify({ ok: true });
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => serveIpc({ port: server.address().port }));
} else if (role === 'bare-proxy') {
  const target = new URL(option('upstream'));
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 256 });
  const server = createServer((req, res) => {
    const upstreamReq = request({ hostname: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers, agent }, (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode, upstreamRes.headers);
      upstreamRes.pipe(res);
    });
    upstreamReq.on('error', () => res.writeHead(502).end());
    req.pipe(upstreamReq);
  });
  server.listen(0, '127.0.0.1', () => serveIpc({ port: server.address().port }));
} else if (role === 'bare-undici-proxy') {
  // undici is the gateway's dependency, so it is resolved from there.
  const { Pool } = createRequire(fileURLToPath(new URL('../packages/gateway/package.json', import.meta.url)))('undici');
  const pool = new Pool(option('upstream'));
  // undici refuses connection-level headers; a bare proxy drops them as any proxy must.
  const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection']);
  const server = createServer((req, res) => {
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (!HOP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.dispatch(
      { path: req.url, method: req.method, headers, body: hasBody ? req : null },
      {
        onRequestStart() {},
        onResponseStart(controller, status, upstreamHeaders) {
          const out = {};
          for (const name in upstreamHeaders) if (!HOP.has(name)) out[name] = upstreamHeaders[name];
          res.writeHead(status, out);
          res.on('drain', () => controller.resume());
        },
        onResponseData(controller, chunk) {
          if (!res.write(chunk)) controller.pause();
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (res.headersSent) res.destroy();
          else res.writeHead(502).end();
        },
      },
    );
  });
  server.listen(0, '127.0.0.1', () => serveIpc({ port: server.address().port }));
} else if (role === 'bound-proxy') {
  // --bounds: an upper bound built from the shipped sources (bench/bounds/proxy-bound.ts).
  const { listenBoundProxy } = await import(pathToFileURL(join(option('bound-dir'), 'index.js')).href);
  const { store, apiKey } = await benchGateway();
  const port = await listenBoundProxy({ store, upstream: option('upstream'), variant: option('variant') });
  serveIpc({ port, apiKey });
} else if (role === 'gateway') {
  // --gateway-dist=DIR runs another build of the gateway, to compare two builds.
  const { createGateway, store, apiKey } = await benchGateway(option('gateway-dist'));
  const accessLog = args.rest.includes('--no-access-log') ? false : process.stdout; // stdout is /dev/null here
  // Without --upstream: the demo API answers (the `serve` default).
  const gateway = createGateway({ store, upstream: option('upstream'), accessLog, metrics: true });
  const { port } = await gateway.listen(0, '127.0.0.1');
  serveIpc({ port, apiKey });
} else {
  await main();
}

function start(extra) {
  return forkRole(import.meta.url, extra);
}

async function main() {
  for (const pkg of ['core', 'hono', 'gateway']) {
    if (!hasDist(pkg)) throw new Error(`packages/${pkg}/dist is missing: run \`pnpm run build\` first`);
  }
  const { default: autocannon } = await import('autocannon');
  // Warm-up is long: on a small VM the first seconds of a proxy run are several times slower than the rest.
  const WARMUP_S = sized(args, 5, 2, 0.2);
  const RUN_S = sized(args, 4, 1, 0.3);
  const ROUNDS = Number(option('rounds') ?? sized(args, 7, 3, 1));
  const FRESH_WARMUP_S = sized(args, 2, 1, 0.2);
  // 20, as issue 9 measures it.
  const CONNECTIONS = Number(option('connections') ?? 20);
  const accessLog = !args.rest.includes('--no-access-log');

  const upstream = await start(['--role=upstream']);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const gatewayDist = option('gateway-dist');
  const compareDist = option('compare-dist');
  const withDemo = args.rest.includes('--demo');
  const boundDir = args.rest.includes('--bounds') ? await buildBound('proxy-bound') : undefined;
  const boundOf = (variant) => start(['--role=bound-proxy', `--bound-dir=${boundDir}`, `--variant=${variant}`, `--upstream=${upstreamUrl}`]);
  const fresh = compareDist !== undefined || !args.rest.includes('--long-lived');
  /** How each gateway process is started (again every round, unless --long-lived). */
  const gatewayOf = (dist, proxied) =>
    start(['--role=gateway', ...(proxied ? [`--upstream=${upstreamUrl}`] : []), ...(accessLog ? [] : ['--no-access-log']), ...(dist ? [`--gateway-dist=${dist}`] : [])]);
  const spawners = {
    gateway: () => gatewayOf(gatewayDist, true),
    bareProxy: () => start(['--role=bare-proxy', `--upstream=${upstreamUrl}`]),
    bareUndiciProxy: () => start(['--role=bare-undici-proxy', `--upstream=${upstreamUrl}`]),
    ...(compareDist ? { comparedGateway: () => gatewayOf(compareDist, true) } : {}),
    ...(withDemo ? { demo: () => gatewayOf(gatewayDist, false) } : {}),
    ...(boundDir ? { boundContract: () => boundOf('contract'), boundForwarding: () => boundOf('forwarding') } : {}),
    ...(withDemo && compareDist ? { comparedDemo: () => gatewayOf(compareDist, false) } : {}),
  };
  const gateway = await spawners.gateway();
  const bare = await spawners.bareProxy();
  const bareUndici = await spawners.bareUndiciProxy();
  const compared = compareDist ? await spawners.comparedGateway() : undefined;
  const demo = withDemo ? await spawners.demo() : undefined;
  const comparedDemo = withDemo && compareDist ? await spawners.comparedDemo() : undefined;
  const bounds = boundDir ? { boundContract: await spawners.boundContract(), boundForwarding: await spawners.boundForwarding() } : {};
  // Every target gets the same Authorization header; only the gateway reads it.
  const headers = { authorization: `Bearer ${gateway.apiKey}` };
  const targets = {
    direct: { url: `${upstreamUrl}/v1/invoices`, headers, proxy: undefined },
    bareProxy: { url: `http://127.0.0.1:${bare.port}/v1/invoices`, headers, proxy: bare },
    bareUndiciProxy: { url: `http://127.0.0.1:${bareUndici.port}/v1/invoices`, headers, proxy: bareUndici },
    gateway: { url: `http://127.0.0.1:${gateway.port}/v1/invoices`, headers, proxy: gateway },
  };
  if (compared) {
    // Its own key: each gateway process has its own MemoryKeyStore.
    targets.comparedGateway = { url: `http://127.0.0.1:${compared.port}/v1/invoices`, headers: { authorization: `Bearer ${compared.apiKey}` }, proxy: compared };
  }
  // The demo route: the gateway is the whole server (its CPU is reported as the proxy's; the upstream idles).
  if (demo) targets.demo = { url: `http://127.0.0.1:${demo.port}/v1/invoices`, headers: { authorization: `Bearer ${demo.apiKey}` }, proxy: demo };
  if (comparedDemo) {
    targets.comparedDemo = { url: `http://127.0.0.1:${comparedDemo.port}/v1/invoices`, headers: { authorization: `Bearer ${comparedDemo.apiKey}` }, proxy: comparedDemo };
  }
  for (const [name, proc] of Object.entries(bounds)) {
    targets[name] = { url: `http://127.0.0.1:${proc.port}/v1/invoices`, headers: { authorization: `Bearer ${proc.apiKey}` }, proxy: proc };
  }
  const NAMES = Object.keys(targets);
  /** Points target `name` at a (new) process: its port, and a gateway's own key (each has its own MemoryKeyStore). */
  const point = (name, proc) => {
    targets[name].url = `http://127.0.0.1:${proc.port}/v1/invoices`;
    if (proc.apiKey) targets[name].headers = { authorization: `Bearer ${proc.apiKey}` };
    targets[name].proxy = proc;
  };

  try {
    // The gateway must really authenticate: the key passes, no key is refused, and nothing is refused by accident.
    const ok = await fetch(targets.gateway.url, { headers: targets.gateway.headers });
    const refused = await fetch(targets.gateway.url);
    await ok.arrayBuffer();
    await refused.arrayBuffer();
    if (ok.status !== 200 || refused.status !== 401) throw new Error(`gateway check failed: key -> ${ok.status}, no key -> ${refused.status}`);
    // The bounds decide as the gateway does: the key passes, no key is refused.
    for (const name of Object.keys(bounds)) {
      const [allowed, denied] = [await fetch(targets[name].url, { headers: targets[name].headers }), await fetch(targets[name].url)];
      await Promise.all([allowed.arrayBuffer(), denied.arrayBuffer()]);
      if (allowed.status !== 200 || denied.status !== 401) throw new Error(`${name} check failed: key -> ${allowed.status}, no key -> ${denied.status}`);
    }
    for (const name of ['bareProxy', 'bareUndiciProxy']) {
      const viaBare = await fetch(targets[name].url);
      if (viaBare.status !== 200) throw new Error(`${name} check failed: ${viaBare.status}`);
      await viaBare.arrayBuffer();
    }

    async function load(name, seconds) {
      const { proxy } = targets[name];
      const [proxyBefore, upstreamBefore] = await Promise.all([proxy?.cpu() ?? 0, upstream.cpu()]);
      const loadBefore = process.cpuUsage();
      const result = await autocannon({ url: targets[name].url, headers: targets[name].headers, connections: CONNECTIONS, duration: seconds });
      const load = process.cpuUsage(loadBefore);
      const [proxyAfter, upstreamAfter] = await Promise.all([proxy?.cpu() ?? 0, upstream.cpu()]);
      const completed = result.requests.total;
      return {
        rps: completed / result.duration,
        latencyP50Ms: result.latency.p50,
        latencyP99Ms: result.latency.p99,
        proxyCpuMicrosPerRequest: (proxyAfter - proxyBefore) / completed,
        upstreamCpuMicrosPerRequest: (upstreamAfter - upstreamBefore) / completed,
        // autocannon runs in this process: its CPU per request is the load generator's share of the machine.
        loadGeneratorCpuMicrosPerRequest: (load.user + load.system) / completed,
        errors: result.errors + result.timeouts,
        non2xx: result.non2xx,
      };
    }

    log(
      `gateway: warm-up ${WARMUP_S}s each, then ${ROUNDS} rounds x ${NAMES.length} x ${RUN_S}s, ${CONNECTIONS} connections, access log ${accessLog ? 'on' : 'off'}` +
        (fresh ? `, gateway and bare proxy processes started afresh every round (warm-up ${FRESH_WARMUP_S}s)` : ''),
    );
    for (const name of NAMES) await load(name, WARMUP_S);
    const runs = Object.fromEntries(NAMES.map((name) => [name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      if (fresh && r > 0) {
        // New gateway and bare proxy processes, the order alternating, each warmed up as the first ones were (shorter).
        const names = Object.keys(spawners);
        const order = r % 2 === 0 ? names : [...names].reverse();
        await Promise.all(names.map((name) => targets[name].proxy.stop()));
        for (const name of order) point(name, await spawners[name]());
        for (const name of order) await load(name, FRESH_WARMUP_S);
      }
      // The order rotates every round, so no path always runs right after the same neighbour.
      for (const name of NAMES.map((_, i) => NAMES[(i + r) % NAMES.length])) {
        const run = await load(name, RUN_S);
        runs[name][r] = run;
        const cpu = targets[name].proxy ? `, proxy ${round(run.proxyCpuMicrosPerRequest, 1)} us CPU/req` : '';
        log(`  ${name} round ${r + 1}: ${Math.round(run.rps)} req/s, p50 ${run.latencyP50Ms} ms, upstream ${round(run.upstreamCpuMicrosPerRequest, 1)} us CPU/req${cpu}, load generator ${round(run.loadGeneratorCpuMicrosPerRequest, 1)} us CPU/req`);
      }
      const share = (name) => `${Math.round((100 * runs[name][r].rps) / runs.direct[r].rps)}%`;
      log(
        `  round ${r + 1} of direct: bare node proxy ${share('bareProxy')}, bare undici proxy ${share('bareUndiciProxy')}, gateway ${share('gateway')}` +
          (compared ? `, compared gateway ${share('comparedGateway')}` : '') +
          (boundDir ? `, bounds: contract headers ${share('boundContract')}, forwarding headers ${share('boundForwarding')}` : ''),
      );
    }
    const summarize = (list) => ({
      rps: Math.round(median(list.map((r) => r.rps))),
      rpsMin: Math.round(Math.min(...list.map((r) => r.rps))),
      rpsMax: Math.round(Math.max(...list.map((r) => r.rps))),
      latencyP50Ms: median(list.map((r) => r.latencyP50Ms)),
      latencyP99Ms: median(list.map((r) => r.latencyP99Ms)),
      upstreamCpuMicrosPerRequest: round(median(list.map((r) => r.upstreamCpuMicrosPerRequest)), 1),
      proxyCpuMicrosPerRequest: round(median(list.map((r) => r.proxyCpuMicrosPerRequest)), 1),
      loadGeneratorCpuMicrosPerRequest: round(median(list.map((r) => r.loadGeneratorCpuMicrosPerRequest)), 1),
      errors: list.reduce((n, r) => n + r.errors, 0),
      non2xx: list.reduce((n, r) => n + r.non2xx, 0),
    });
    const ratioOf = (a, b, field = 'rps') => {
      const values = runs[a].map((run, i) => run[field] / runs[b][i][field]);
      return { median: round(median(values), 3), min: round(Math.min(...values), 3), max: round(Math.max(...values), 3) };
    };
    const ratio = ratioOf('gateway', 'direct');
    const ofBareUndici = ratioOf('gateway', 'bareUndiciProxy');
    const direct = summarize(runs.direct);
    const bareProxy = summarize(runs.bareProxy);
    const bareUndiciProxy = summarize(runs.bareUndiciProxy);
    const through = summarize(runs.gateway);
    emit({
      section: 'gateway',
      quick: args.quick,
      rounds: ROUNDS,
      runSeconds: RUN_S,
      warmupSeconds: WARMUP_S,
      connections: CONNECTIONS,
      accessLog,
      freshGatewayEveryRound: fresh,
      ...(gatewayDist ? { gatewayDist } : {}),
      direct,
      bareProxy,
      bareUndiciProxy,
      gateway: through,
      gatewayVsDirect: ratio,
      bareProxyVsDirect: ratioOf('bareProxy', 'direct'),
      bareUndiciProxyVsDirect: ratioOf('bareUndiciProxy', 'direct'),
      gatewayVsBareProxy: ratioOf('gateway', 'bareProxy'),
      gatewayVsBareUndiciProxy: ofBareUndici,
      // CPU the gateway spends per request (auth, Hono, proxying, logging, metrics) over what the bare proxy spends:
      // independent of which process was the bottleneck.
      gatewayCpuVsBareProxyCpu: ratioOf('gateway', 'bareProxy', 'proxyCpuMicrosPerRequest'),
      gatewayCpuVsBareUndiciProxyCpu: ratioOf('gateway', 'bareUndiciProxy', 'proxyCpuMicrosPerRequest'),
      ...(compared
        ? {
            compareDist,
            comparedGateway: summarize(runs.comparedGateway),
            comparedGatewayVsDirect: ratioOf('comparedGateway', 'direct'),
            gatewayVsComparedGateway: ratioOf('gateway', 'comparedGateway'),
            gatewayCpuVsComparedGatewayCpu: ratioOf('gateway', 'comparedGateway', 'proxyCpuMicrosPerRequest'),
          }
        : {}),
      ...(boundDir
        ? {
            boundContract: summarize(runs.boundContract),
            boundForwarding: summarize(runs.boundForwarding),
            boundContractVsBareUndiciProxy: ratioOf('boundContract', 'bareUndiciProxy'),
            boundForwardingVsBareUndiciProxy: ratioOf('boundForwarding', 'bareUndiciProxy'),
            boundContractCpuVsBareUndiciProxyCpu: ratioOf('boundContract', 'bareUndiciProxy', 'proxyCpuMicrosPerRequest'),
            boundForwardingCpuVsBareUndiciProxyCpu: ratioOf('boundForwarding', 'bareUndiciProxy', 'proxyCpuMicrosPerRequest'),
            gatewayVsBoundForwarding: ratioOf('gateway', 'boundForwarding'),
          }
        : {}),
      ...(demo ? { demo: summarize(runs.demo) } : {}),
      ...(comparedDemo
        ? {
            comparedDemo: summarize(runs.comparedDemo),
            demoVsComparedDemo: ratioOf('demo', 'comparedDemo'),
            demoCpuVsComparedDemoCpu: ratioOf('demo', 'comparedDemo', 'proxyCpuMicrosPerRequest'),
          }
        : {}),
      targets: [
        { what: "gateway keeps >= 90% of a bare undici proxy's throughput (issue 9)", value: ofBareUndici.median, min: 0.9, met: ofBareUndici.median >= 0.9 },
        { what: 'gateway keeps >= 70% of direct throughput', value: ratio.median, min: 0.7, met: ratio.median >= 0.7 },
      ],
      machine: machine(),
      rawRuns: runs,
    });
  } finally {
    await Promise.all([...Object.keys(spawners).map((name) => targets[name]?.proxy.stop()), upstream.stop()]);
  }
}
