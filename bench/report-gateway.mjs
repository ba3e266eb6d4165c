// BENCHMARKS.md sections 7 and 8: the gateway's proxy mode (bench/gateway.mjs) and forward-auth behind nginx (bench/forward-auth.mjs).

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const num = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const pct = (n, digits = 1) => (Number.isFinite(n) ? `${(n * 100).toFixed(digits)}%` : '–');
const verdict = (met) => (met === true ? 'met' : met === false ? '**MISSED**' : 'not measured');
const range = (r, format = pct) => (r ? `${format(r.median)} (${format(r.min)} – ${format(r.max)})` : '–');
const times = (n) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '–');

/** The per-round ratios a section reports (`…Vs…` keys), one bullet each; CPU ratios as factors. */
function ratioLines(r) {
  const lines = [];
  for (const [key, value] of Object.entries(r)) {
    if (!/Vs/.test(key) || typeof value?.median !== 'number') continue;
    const label = key.replace(/([A-Z])/g, ' $1').toLowerCase().replace(' vs ', ' / ');
    if (/Cpu/.test(key)) lines.push(`- ${label} per request: ${range(value, times)}`);
    else lines.push(`- ${label} requests/s: ${range(value)}`);
  }
  return lines;
}

const targetLines = (r) => (r.targets ?? []).map((t) => `- target, ${t.what}: ${typeof t.value === 'number' && t.value <= 5 ? pct(t.value) : t.value} — ${verdict(t.met)}`);

/** Section 7, from bench/gateway.mjs. `header` is report.mjs's sectionHeader. */
export function gatewaySection(results, header) {
  const { lines, result: r } = header(results, 'gateway', '7. Gateway (proxy mode) against a bare proxy and the upstream called directly');
  if (!r?.direct || !r.gateway) return lines;
  const proxyCpu = (v) => v.proxyCpuMicrosPerRequest ?? v.gatewayCpuMicrosPerRequest;
  const paths = [
    ['upstream directly', r.direct],
    ['through a bare `node:http` proxy (no auth)', r.bareProxy],
    ['through a bare undici proxy (no auth)', r.bareUndiciProxy],
    ['through the gateway', r.gateway],
    [`through the gateway built from \`${r.compareDist}\` (before)`, r.comparedGateway],
    ['upper bound: the decision, the target check and the contract\'s headers only, no log, metrics or tracking (`--bounds`)', r.boundContract],
    ['upper bound: the same with the headers the gateway sends (`--bounds`)', r.boundForwarding],
    ['the gateway answering its demo route (no upstream)', r.demo],
    [`the same, built from \`${r.compareDist}\` (before)`, r.comparedDemo],
  ].filter(([, v]) => v);
  lines.push(
    'From `bench/gateway.mjs` (its header comment says exactly what runs). autocannon with',
    `${r.connections} connections in its own process; the paths alternate in an order that rotates every round, ${r.rounds} rounds of ${r.runSeconds} s, medians; access log ${r.accessLog ? 'on' : 'off'}.` +
      (r.freshGatewayEveryRound ? ' The gateway and bare proxy processes are started afresh every round and warmed up again, so no process\'s luck at its start biases a path (bench/findings.md).' : ''),
    '',
    '| path | req/s (median) | range | p50 / p99 latency | gateway / proxy CPU µs/req | upstream CPU µs/req |',
    '|---|---:|---|---|---:|---:|',
  );
  for (const [name, v] of paths) {
    const cpu = v === r.direct ? '–' : num(proxyCpu(v), 1);
    lines.push(`| ${name} | ${int(v.rps)} | ${int(v.rpsMin)} – ${int(v.rpsMax)} | ${v.latencyP50Ms} / ${v.latencyP99Ms} ms | ${cpu} | ${num(v.upstreamCpuMicrosPerRequest, 1)} |`);
  }
  lines.push('', 'Per-round ratios, median (min – max):', '', ...ratioLines(r), '', ...targetLines(r), '');
  return lines;
}

/** Section 8, from bench/forward-auth.mjs. */
export function forwardAuthSection(results, header) {
  const { lines, result: r } = header(results, 'forward-auth', '8. Forward-auth behind nginx against a trivial auth service');
  if (!r) return lines;
  if (r.skipped) {
    lines.push(`Not measured: ${r.skipped}.`, '');
    return lines;
  }
  const added = (name) => {
    const i = r.rawRuns?.[name];
    if (!i || !r.rawRuns.nginxBare) return undefined;
    const values = i.map((run, k) => run.latencyP99Ms - r.rawRuns.nginxBare[k].latencyP99Ms).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)];
  };
  const paths = [
    ['API directly', 'direct'],
    ['nginx, bare `proxy_pass` (no auth)', 'nginxBare'],
    ['nginx + trivial auth service (shipped nginx.conf)', 'nginxTrivialAuth'],
    ['nginx + finora-auth forward-auth (shipped nginx.conf)', 'nginxFinoraAuth'],
    ['the same, access log off (`serve --access-log off`)', 'nginxFinoraAuthNoLog'],
    [r.bound ? 'upper bound: the decision straight from node:http, no log, metrics or tracking (`--bound`)' : `nginx + finora-auth built from \`${r.compareDist}\` (before)`, 'nginxComparedFinoraAuth'],
  ].filter(([, key]) => r[key]);
  lines.push(
    'From `bench/forward-auth.mjs` (its header comment says exactly what runs): one nginx',
    `(${r.nginx}, one worker) with \`docs/forward-auth/nginx.conf\` as shipped but for its ports; autocannon with ${r.connections} connections;`,
    `the paths rotate their order every round, ${r.rounds} rounds of ${r.runSeconds} s, medians. Added p99 is the path's p99 minus nginx bare's in the same round (autocannon's latencies are whole milliseconds).` +
      (r.freshServicesEveryRound ? ' The auth services and nginx are started afresh every round and warmed up again, so no process\'s luck at its start biases a path (bench/findings.md).' : ''),
    '',
    '| path | req/s (median) | range | p50 / p99 latency | added p99 | auth service CPU µs/req | nginx worker CPU µs/req |',
    '|---|---:|---|---|---:|---:|---:|',
  );
  for (const [name, key] of paths) {
    const v = r[key];
    const extra = key === 'direct' || key === 'nginxBare' ? '' : `${added(key) ?? '–'} ms`;
    lines.push(
      `| ${name} | ${int(v.rps)} | ${int(v.rpsMin)} – ${int(v.rpsMax)} | ${v.latencyP50Ms} / ${v.latencyP99Ms} ms | ${extra} | ${num(v.authCpuMicrosPerRequest, 1)} | ${num(v.nginxCpuMicrosPerRequest, 1)} |`,
    );
  }
  lines.push('', 'Per-round ratios, median (min – max):', '', ...ratioLines(r), '', ...targetLines(r), '');
  return lines;
}

/** The Targets table's row for section 8. */
export function forwardAuthTarget(result) {
  const t = result?.targets?.[0];
  return {
    n: 8,
    what: 'forward-auth behind nginx against nginx + a trivial auth service',
    value: t ? `${pct(t.value)} (target >= ${pct(t.min, 0)})` : result?.skipped,
    met: t?.met,
    section: 'forward-auth',
  };
}
