// Renders benchmark results: BENCHMARKS.md, the SVG bar charts in bench/results/, and the console summary.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchDir } from './lib.mjs';
import { forwardAuthSection, forwardAuthTarget, gatewaySection } from './report-gateway.mjs';

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const num = (n, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const pct = (n, digits = 1) => (Number.isFinite(n) ? `${(n * 100).toFixed(digits)}%` : '–');
const ms = (n) => (Number.isFinite(n) ? (n < 1 ? `${(n * 1000).toFixed(0)} µs` : `${n.toFixed(n < 10 ? 2 : 1)} ms`) : '–');
const verdict = (met) => (met === true ? 'met' : met === false ? '**MISSED**' : 'not measured');
const day = (iso) => (iso ? iso.slice(0, 10) : '–');

const ok = (results, id) => (results.sections[id]?.status === 'ok' ? results.sections[id].result : undefined);

/** One store script's output, whatever its exact shape, reduced to the figures the tables need. */
export function storeFigures(raw) {
  if (!raw) return undefined;
  const pick = (...candidates) => candidates.find((c) => c && typeof c.p50Ms === 'number');
  return {
    findByHash: pick(raw.coldLookup?.findByHash, raw.lookup),
    authenticateMiss: pick(raw.coldLookup?.authenticateCacheMiss, raw.coldLookup?.authenticate),
    lookupNote: raw.coldLookup?.note ?? raw.lookup?.what,
    fleet: pick(raw.fleetRevocation?.untilOtherRefusesMs, raw.fleetRevocation, raw.propagation),
    fleetNote: raw.fleetRevocation?.note ?? raw.propagation?.what,
    fleetTarget:
      raw.fleetRevocation?.target ??
      (raw.fleetRevocation?.targetP99Ms !== undefined ? { p99Ms: raw.fleetRevocation.targetP99Ms, met: raw.fleetRevocation.metTarget } : undefined),
  };
}

/** Every target the issue names, with what was measured. */
export function targets(results) {
  const rows = [];
  const core = ok(results, 'core');
  rows.push({
    n: 1,
    what: 'authenticate() on a cached key <= 1.5x one SHA-256 (node:crypto createHash, the faster of its two floors)',
    value: core ? `${num(core.ratios.authNodeVsFastestNodeFloor ?? core.ratios.authNodeVsNodeFloor)}x` : undefined,
    met: core?.target.met,
    section: 'core',
  });
  // Issue 15's HTTP targets, as bench/http.mjs judged them (each a ratio measured side by side in one run).
  const http = ok(results, 'http');
  for (const t of http?.targets ?? [{ what: 'finoraAuth against the bare route or the async control, per framework' }]) {
    rows.push({
      n: 2,
      what: t.what,
      value: t.value === undefined ? undefined : t.min < 1 ? pct(t.value) : `${num(t.value)}x`,
      met: t.met,
      section: 'http',
    });
  }
  const cold = ok(results, 'cold');
  rows.push({
    n: 3,
    what: '1,000 concurrent requests for one uncached key: exactly one store lookup',
    value: cold ? cold.coalescing.filter((c) => c.measured !== false).map((c) => c.storeLookups).join(', ') : undefined,
    met: cold?.target.met,
    section: 'cold',
  });
  const flood = ok(results, 'flood');
  for (const t of flood?.targets ?? [{ what: 'hot-key hit rate, lookups per random key, bounded heap' }]) {
    rows.push({
      n: 4,
      what: `flood: ${t.what}`,
      value: t.value === undefined ? undefined : typeof t.value === 'number' && t.value <= 1 && /rate/.test(t.what) ? pct(t.value, 2) : String(t.value),
      met: t.met,
      section: 'flood',
    });
  }
  const memory = ok(results, 'memory');
  rows.push({
    n: 5,
    what: 'heap per 100,000 cached keys < 64 MB',
    value: memory ? `${num(memory.mibPer100kKeys, 1)} MiB (${num((memory.mibPer100kKeys * 2 ** 20) / 1e6, 1)} MB)` : undefined,
    met: memory?.target.met,
    section: 'memory',
  });
  for (const store of ['sqlite', 'redis', 'postgres']) {
    const figures = storeFigures(ok(results, `stores-${store}`));
    rows.push({
      n: 6,
      what: `fleet revocation, ${store}: p50 / p99 until another process refuses${figures?.fleetTarget ? ` (store's target p99 < ${figures.fleetTarget.p99Ms} ms)` : ''}`,
      value: figures?.fleet ? `${ms(figures.fleet.p50Ms)} / ${ms(figures.fleet.p99Ms)}` : undefined,
      met: figures?.fleetTarget?.met ?? (figures?.fleet ? 'reported' : undefined),
      section: `stores-${store}`,
    });
  }
  const gateway = ok(results, 'gateway');
  rows.push({
    n: 7,
    what: 'gateway throughput against calling the upstream directly',
    value: gateway ? gatewayHeadline(gateway) : undefined,
    met: gateway ? (gateway.targets ? gateway.targets.every((t) => t.met) : (gateway.target?.met ?? 'reported')) : undefined,
    section: 'gateway',
  });
  rows.push(forwardAuthTarget(ok(results, 'forward-auth')));
  const size = ok(results, 'size');
  rows.push({
    n: 9,
    what: size?.target.what ?? "core + Hono adapter as a Worker bundle: finora-auth's own code under 12 KB gzipped, no Node polyfills",
    value: size ? size.rows.filter((row) => row.budgetGzipBytes !== undefined).map((row) => `${row.id} ${num(row.gzipBytes / 1024, 2)} KB`).join(', ') : undefined,
    met: size?.target.met,
    section: 'size',
  });
  rows.push(...creditsTargets(ok(results, 'credits')), ...creditsFleetTargets(ok(results, 'credits-fleet')), ...scaleTargets(ok(results, 'scale')));
  return rows;
}

// Issue 11: allowed requests of a metered and of a rate-limited key against an unmetered one's, as bench/credits.mjs took them.
const CREDITS_RATIOS = [
  ['inProcess', 'meteredRatio', 'in process: metered'],
  ['inProcess', 'limitedRatio', 'in process: rate-limited'],
  ['http', 'meteredRatio', 'over HTTP on Hono: metered'],
  ['http', 'limitedRatio', 'over HTTP on Hono: rate-limited'],
];

function creditsTargets(c) {
  return CREDITS_RATIOS.map(([where, key, label]) => {
    const value = c?.[where]?.[key];
    // Over HTTP the server's CPU per request is the steadier figure on a shared machine; shown beside the judged one.
    const cpu = where === 'http' ? c?.http?.[key.replace('Ratio', 'CpuRatio')] : undefined;
    return {
      n: 10,
      what: `credits, ${label} throughput >= ${pct(c?.target ?? 0.9, 0)} of an unmetered key's`,
      value: Number.isFinite(value) ? `${pct(value)}${Number.isFinite(cpu) ? ` (at equal server CPU: ${pct(cpu)})` : ''}` : undefined,
      met: Number.isFinite(value) ? value >= (c.target ?? 0.9) : undefined,
      section: 'credits',
    };
  });
}

function creditsFleetTargets(f) {
  const rows = [];
  for (const s of f?.stores ?? [{ store: 'PostgreSQL and Redis' }]) {
    const unmeasured = s.measured === false ? `not measured: ${s.reason}` : undefined;
    const { exactness: e, crash: c, refill: r, rateLimit: l } = s;
    rows.push({
      n: 11,
      what: `credits across ${f?.processes ?? 4} processes, ${s.store}: a grant spent with no overshoot, a crash loses at most one lease per process, a refill once per period`,
      value: unmeasured ?? (e ? `overshoot ${int(e.overshoot)} of ${int(e.grant)}; crash lost ${int(c.lost)} (bound ${int(c.bound)}); refill ${int(r.sameDayAllowed)} / ${int(r.acrossMidnightAllowed)} of ${int(r.amount)}` : undefined),
      met: e ? e.overshoot === 0 && c.withinBound && r.exact : undefined,
      section: 'credits-fleet',
    });
    rows.push({
      n: 11,
      what: `rate limit across ${f?.processes ?? 4} processes, ${s.store}: worst full window over the limit (bound: what one sync interval is offered)`,
      value: unmeasured ?? (l ? `${signed(l.maxOvershoot)} (${signedPct(l.maxOvershootShare)}) over ${int(l.limit.requests)} per ${l.limit.perSeconds} s; bound ~${int(l.boundEstimate)}` : undefined),
      met: l ? 'reported' : undefined,
      section: 'credits-fleet',
    });
  }
  return rows;
}

const signed = (n) => (Number.isFinite(n) ? `${n > 0 ? '+' : ''}${int(n)}` : '–');
const signedPct = (n) => (Number.isFinite(n) ? `${n > 0 ? '+' : ''}${pct(n)}` : '–');

// Issue 15: each cost at the largest store size over the smallest, judged flat by bench/scale.mjs.
const GROWTH = { issueP50: 'issue p50', lookupP50: 'uncached lookup p50', lookupP99: 'lookup p99', expiringP50: 'expiring(7) p50', listP50: 'list p50', bytesPerKey: 'bytes per key' };

function scaleTargets(sc) {
  const flat = sc?.flat ?? 1.5;
  const gone = (sc?.leftOut ?? []).map((l) => ({ store: l.store, leftOut: l.reason }));
  return [...(sc?.stores ?? [{ store: 'sqlite, postgres, redis' }]), ...gone].map((s) => ({
    n: 12,
    what: `per-write and lookup costs flat as the store grows, ${s.store}${s.sizes ? ` (${int(s.sizes[0])} → ${int(s.sizes.at(-1))} keys)` : ''}: <= ${num(flat, 1)}x`,
    value: s.leftOut
      ? `not measured: ${s.leftOut}`
      : s.growth
        ? Object.entries(GROWTH).map(([key, label]) => `${label} ${num(s.growth[key])}x${s.verdicts[key] ? '' : ' (grows)'}`).join(', ')
        : undefined,
    met: s.verdicts ? Object.values(s.verdicts).every(Boolean) : undefined,
    section: 'scale',
  }));
}

function gatewayHeadline(g) {
  const ratio = g.ratio ?? g.ratios?.gatewayVsDirect ?? g.gatewayVsDirect;
  if (typeof ratio === 'number') return `${pct(ratio)} of direct`;
  if (typeof ratio?.median === 'number') {
    const own = (g.targets ?? []).map((t) => `${t.what}: ${t.met ? 'met' : 'missed'}`).join('; ');
    return `${pct(ratio.median)} of direct${own ? ` (gateway's own targets: ${own})` : ''}`;
  }
  return 'see section 7';
}

// ---------------------------------------------------------------- console

export function summarizeText(results) {
  const lines = [`\nfinora-auth benchmarks (${results.mode}, ${results.seconds} s)`];
  for (const [id, s] of Object.entries(results.sections)) {
    lines.push(`  ${id.padEnd(16)} ${s.status}${s.seconds !== undefined ? ` (${s.seconds} s)` : ''}${s.error ? `: ${s.error}` : ''}`);
  }
  lines.push('targets:');
  for (const t of targets(results)) {
    const mark = t.met === true ? 'ok  ' : t.met === false ? 'MISS' : t.met === undefined ? '--  ' : 'info';
    lines.push(`  [${mark}] ${t.n}. ${t.what}: ${t.value ?? 'not measured'}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- SVG

const escapeXml = (s) => String(s).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
const COLORS = { floor: '#9aa0a6', async: '#c5c8cc', finora: '#1a73e8', peer: '#e8710a' };
const variantName = (v, peer) => ({ floor: 'no auth (floor)', async: 'async no-op (control)', finora: 'finoraAuth', baseline: 'finoraAuth, baseline checkout' })[v] ?? peer;

/** Horizontal grouped bar chart: groups of labelled bars on one linear scale. */
export function barChart({ title, subtitle, groups, unit, width = 760 }) {
  const left = 190;
  const right = 120;
  const barH = 18;
  const gap = 4;
  const groupGap = 18;
  const top = subtitle ? 62 : 44;
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value)), 1);
  const plotW = width - left - right;
  let y = top;
  const parts = [];
  for (const group of groups) {
    parts.push(`<text x="12" y="${y + 13}" font-weight="bold">${escapeXml(group.label)}</text>`);
    for (const bar of group.bars) {
      const w = Math.max(1, (bar.value / max) * plotW);
      parts.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${escapeXml(bar.label)}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${bar.color ?? '#1a73e8'}" rx="2"/>`);
      parts.push(`<text x="${left + w + 6}" y="${y + 13}">${escapeXml(bar.text ?? `${int(bar.value)} ${unit}`)}</text>`);
      y += barH + gap;
    }
    y += groupGap;
  }
  const height = y + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>
${subtitle ? `<text x="12" y="42" fill="#555">${escapeXml(subtitle)}</text>` : ''}
${parts.join('\n')}
</svg>
`;
}

export function renderSvgs(results) {
  const svgs = {};
  const http = ok(results, 'http');
  if (http) {
    const groups = http.frameworks
      .filter((f) => f.measured)
      .map((f) => ({
        label: f.framework,
        bars: f.variants.map((v) => ({
          label: variantName(v.variant, shortPeer(f.framework)),
          value: v.rps,
          color: COLORS[v.variant],
          text: `${int(v.rps)} req/s${v.variant === 'floor' ? '' : ` (${pct(v.rps / f.variants[0].rps, 0)})`}`,
        })),
      }));
    svgs['http.svg'] = barChart({
      title: 'HTTP requests/s, GET /v1/invoices, cached key (median of interleaved runs)',
      subtitle: `${results.machine.cores} cores, ${results.machine.cpuModel}, Node ${results.machine.node}, ${day(http.measuredAt)}; server and autocannon in separate processes`,
      groups,
      unit: 'req/s',
    });
  }
  if (http) {
    svgs['http-cpu.svg'] = barChart({
      title: 'HTTP server CPU per request, µs (lower is better; median of interleaved runs)',
      subtitle: 'process.cpuUsage() in the server process: independent of whether server or load generator was the bottleneck',
      groups: http.frameworks
        .filter((f) => f.measured)
        .map((f) => ({
          label: f.framework,
          bars: f.variants.map((v) => ({
            label: variantName(v.variant, shortPeer(f.framework)),
            value: v.cpuMicrosPerRequest,
            color: COLORS[v.variant],
            text: `${num(v.cpuMicrosPerRequest, 1)} µs`,
          })),
        })),
      unit: 'µs',
    });
  }
  const core = ok(results, 'core');
  if (core) {
    const rows = core.rows.filter((r) => !r.id.endsWith('web'));
    const color = (id) => (id.startsWith('auth') ? COLORS.finora : id.startsWith('oneshot') ? '#c5c8cc' : COLORS.floor);
    svgs['core.svg'] = barChart({
      title: 'Core: nanoseconds per call on the node:crypto path (lower is better)',
      subtitle: `authenticate() of a cached key is ${num(core.ratios.authNodeVsFastestNodeFloor ?? core.ratios.authNodeVsNodeFloor)}x one createHash SHA-256 (the faster floor); Web Crypto figures are in BENCHMARKS.md`,
      groups: [
        {
          label: 'per call',
          bars: rows.map((r) => ({ label: r.id, value: r.nsPerOp, color: color(r.id), text: `${int(r.nsPerOp)} ns` })),
        },
      ],
      unit: 'ns',
    });
  }
  return svgs;
}

const shortPeer = (framework) => ({ hono: 'hono bearerAuth', express: 'passport-http-bearer', koa: 'hand-written bearer', fastify: 'hand-written bearer' })[framework] ?? 'peer';

// ---------------------------------------------------------------- Markdown

function sectionHeader(results, id, title) {
  const s = results.sections[id];
  const lines = [`## ${title}`, ''];
  if (!s || s.status === 'not-present') {
    lines.push(`**Not yet measured**: ${s?.note ?? `the ${id} section was not run`}.`, '');
    return { lines, result: undefined };
  }
  if (s.status === 'failed') {
    lines.push(`**Not measured: the run failed** (${s.error}). Command: \`${s.command}\`.`, '');
    if (s.stderrTail) lines.push('```', s.stderrTail.trim(), '```', '');
    return { lines, result: undefined };
  }
  const m = s.result.machine;
  lines.push(
    `Reproduce: \`pnpm run build && ${s.command}\` (or \`pnpm bench -- --only ${id}\`). ` +
      `Measured ${day(s.measuredAt)}${s.commit ? ` at commit \`${s.commit}\`` : ' (commit not recorded)'}${m ? ` on ${m.cores} × ${m.cpuModel}, Node ${m.node}, load average ${m.loadAverage?.[0]}` : ''}, ${s.seconds} s.`,
    '',
  );
  return { lines, result: s.result };
}

function coreSection(results) {
  const { lines, result: r } = sectionHeader(results, 'core', '1. Core: `authenticate()` on a cached key against one SHA-256');
  if (!r) return lines;
  lines.push(
    `Every candidate runs in one process, in ${r.rounds} interleaved rounds of ${r.roundMs} ms (after a warm-up round); ops/s is the`,
    'median round, and each ratio is the median of per-round ratios, so a noisy neighbour slows floor and candidate alike.',
    'The order rotates every round, and the two Web Crypto candidates are interleaved as a group of their own after the',
    'node:crypto group: a Web Crypto run leaves thread-pool work and garbage behind that would slow whatever ran next.',
    'Async candidates are awaited one call at a time: the figure is what one request pays. The createHash floor is',
    'measured two ways, in a synchronous loop and awaited one call at a time like `authenticate()`; oddly the synchronous',
    'burst is the slower of the two here (its native Hash objects pile up for the collector), so the target is judged',
    'against whichever was faster in each round: the stricter reading.',
    '',
    '| candidate | ops/s (median) | ns/op | range over rounds (ops/s) |',
    '|---|---:|---:|---|',
  );
  for (const row of r.rows) lines.push(`| ${row.label} | ${int(row.opsPerSec)} | ${int(row.nsPerOp)} | ${int(row.minOpsPerSec)} – ${int(row.maxOpsPerSec)} |`);
  const x = r.ratios;
  lines.push(
    '',
    '| ratio (times the floor\'s time per call) | value |',
    '|---|---:|',
    ...(x.authNodeVsFastestNodeFloor !== undefined
      ? [
          `| **authenticate() (node:crypto path) / the faster createHash floor of each round** — target <= ${r.target.max} | **${num(x.authNodeVsFastestNodeFloor)}** (${verdict(r.target.met)}) |`,
          `| authenticate() with module 'invoices' / the faster createHash floor | ${num(x.authNodeModuleVsFastestNodeFloor)} |`,
          ...(x.authNodeNowVsFastestNodeFloor !== undefined
            ? [`| authenticateNow() with module 'invoices' (no promise) / the faster createHash floor | ${num(x.authNodeNowVsFastestNodeFloor)} |`]
            : []),
        ]
      : []),
    `| authenticate() / createHash floor, synchronous loop | ${num(x.authNodeVsNodeFloor)} |`,
    `| authenticate() with module 'invoices' / createHash floor, synchronous loop | ${num(x.authNodeModuleVsNodeFloor)} |`,
    `| authenticate() / createHash floor, awaited one call at a time | ${num(x.authNodeVsAwaitedNodeFloor)} |`,
    ...(x.createHashVsOneShotHash !== undefined
      ? [
          `| createHash floor / one-shot \`crypto.hash\` (not a floor the target names; see Findings) | ${num(x.createHashVsOneShotHash)} |`,
          `| authenticate() / one-shot \`crypto.hash\` | ${num(x.authNodeVsOneShotHash)} |`,
        ]
      : []),
    `| authenticate() (Web Crypto path, forced) / subtle.digest floor | ${num(x.authWebVsWebFloor)} |`,
    `| subtle.digest floor / createHash floor | ${num(x.webFloorVsNodeFloor)} |`,
    `| authenticate() Web Crypto path / node:crypto path | ${num(x.authWebVsAuthNode)} |`,
    '',
    ...(r.components
      ? [
          '',
          'Where the time goes: each piece alone in a tight loop (warm caches, so the pieces do not add up to a request',
          'in a busy server, but they rank the costs):',
          '',
          '| piece | ns per call |',
          '|---|---:|',
          ...r.components.map((c) => `| ${c.label} | ${int(c.nsPerOp)} |`),
        ]
      : []),
    '',
    '![core chart](bench/results/core.svg)',
    '',
    `**Why core looks for node:crypto at run time.** On Node an awaited \`crypto.subtle.digest\` of a 56-byte key costs`,
    `${num(x.webFloorVsNodeFloor, 0)}x a synchronous \`createHash\` here: each digest is a job on libuv's thread pool and a promise`,
    'resolution back on the main thread, and on a busy 2-core machine that hand-off waits for a core. `authenticate()` on the',
    `Web Crypto path costs ${num(x.authWebVsAuthNode, 0)}x the node:crypto path. The Web Crypto path stays as the fallback for Workers, Deno`,
    'and browsers, where there is no node:crypto. The forced path is a second copy of the built core loaded with',
    '`process.getBuiltinModule` hidden; a check counts `subtle.digest` calls during one `authenticate()` of each copy',
    `(node path: ${r.hashPathCheck.subtleDigestsNodePath}, Web Crypto path: ${r.hashPathCheck.subtleDigestsWebPath}).`,
    '',
  );
  return lines;
}

function httpSection(results) {
  const { lines, result: r } = sectionHeader(results, 'http', '2. HTTP overhead per framework');
  if (!r) return lines;
  lines.push(
    `Route \`${r.route}\`, every variant sent the same \`Authorization: Bearer <valid key>\`. autocannon (programmatic API),`,
    `${r.connections} connections, no pipelining, ${r.rounds} rounds of ${r.runSeconds} s per variant after a ${r.warmupSeconds} s warm-up,`,
    'interleaved floor, finora, peer, floor, …; the table shows medians. Each server variant runs in its own child process',
    '(`bench/http-server.mjs`), the load generator in the parent: on 2 cores each gets one, and neither measures the other.',
    ...(r.freshServersEveryRound
      ? [
          'Every round starts each variant\'s server afresh and warms it up again: one process of a build can run 10-25% faster or',
          'slower than another of the same build for its whole life, a bias that only fresh processes average out (bench/findings.md).',
        ]
      : []),
    'Server CPU per request comes from `process.cpuUsage()` inside the server, read before and after each run: unlike',
    'requests/s it does not depend on whether the server or the load generator was the bottleneck ("CPU share" near 1.0',
    'means the server had a full core busy). Before the runs each variant is checked: the valid key gets 200 and, on',
    'finora and the peer, an unknown key gets 401.',
    '',
    'Peers: Hono `bearerAuth` from `hono/bearer-auth` with the key as its static token (it compares by hashing both sides with',
    'Web Crypto); Express: `passport.initialize()` + `passport-http-bearer`, whose verify callback hashes the token with',
    'node:crypto and looks the digest up in a Map (the same cached lookup, done by hand); Koa: a small hand-written bearer',
    'middleware (regex, node:crypto SHA-256, Map lookup) in `bench/http-server.mjs`. finoraAuth runs with its defaults:',
    '`finoraAuth({ authenticator })`, module derived from the path (`invoices`). The async no-op control is a middleware',
    'that only continues after a resolved promise (Hono, Koa: `async (c, next) => { await next() }`; Express:',
    '`Promise.resolve().then(next)`): what any middleware that awaits a lookup pays before doing any work, so',
    '"finora / async control" is the cost of finoraAuth\'s own work.',
    '',
    '![HTTP chart](bench/results/http.svg)',
    '',
    '![HTTP CPU chart](bench/results/http-cpu.svg)',
    '',
    '| framework | variant | req/s (median) | range | p50 / p99 latency | server CPU µs/req | CPU share |',
    '|---|---|---:|---|---|---:|---:|',
  );
  for (const f of r.frameworks) {
    if (!f.measured) {
      lines.push(`| ${f.framework} | — | not measured: ${f.reason} | | | | |`);
      continue;
    }
    for (const v of f.variants) {
      const name = variantName(v.variant, f.peer);
      lines.push(
        `| ${f.framework} | ${name} | ${int(v.rps)} | ${int(v.rpsMin)} – ${int(v.rpsMax)} | ${v.latencyP50Ms} / ${v.latencyP99Ms} ms | ${num(v.cpuMicrosPerRequest, 1)} | ${num(v.serverCpuShare)} |`,
      );
    }
  }
  lines.push(
    '',
    'Ratios (median of per-round ratios, range over rounds). "At equal CPU" divides server CPU per request instead of',
    'requests/s: 80% there means the server spends 1/0.8 = 1.25x the CPU per request.',
    '',
    '| framework | finora / floor req/s | finora / floor at equal CPU | async control / floor req/s | async control / floor at equal CPU | finora / async control at equal CPU | finora / peer req/s | finora / peer at equal CPU |',
    '|---|---|---|---|---|---|---|---|',
  );
  const range = (x) => (x ? `${pct(x.median)} (${pct(x.min, 0)} – ${pct(x.max, 0)})` : '–');
  for (const f of r.frameworks.filter((x) => x.measured)) {
    const q = f.ratios;
    lines.push(
      `| ${f.framework} | ${range(q.finoraVsFloor)} | ${range(q.finoraVsFloorCpu)} | ${range(q.asyncVsFloor)} | ${range(q.asyncVsFloorCpu)} | ${range(q.finoraVsAsyncCpu)} | ${range(q.finoraVsPeer)} | ${range(q.finoraVsPeerCpu)} |`,
    );
  }
  lines.push('', 'Targets:', '');
  for (const t of r.targets) lines.push(`- ${t.what}: ${t.min < 1 ? pct(t.value) : `${num(t.value)}x`} — ${verdict(t.met)}`);
  lines.push('');
  return lines;
}

function coldSection(results) {
  const { lines, result: r } = sectionHeader(results, 'cold', '3. Cold path');
  lines.push('### Coalescing', '');
  if (r) {
    lines.push(
      `Each row: ${int(r.coalescing[0]?.requests)} requests for one key the cache has never seen, all started before the store answers, against a`,
      `store that counts \`findByHash\` calls. Through \`authenticate()\` the store answers after ${r.storeDelayMs} ms; over HTTP it holds the`,
      'lookup until all 1,000 requests have reached the server (real sockets on loopback, one per request), so every request',
      'arrives while the lookup is in flight. "miss" counts requests that waited on that one lookup, "hit" requests served after it.',
      '',
      '| via | key | requests | store lookups | statuses | cache outcomes |',
      '|---|---|---:|---:|---|---|',
    );
    for (const c of r.coalescing) {
      if (c.measured === false) lines.push(`| ${c.via} | | | not measured: ${c.reason} | | |`);
      else {
        lines.push(
          `| ${c.via} | ${c.key} | ${int(c.requests)} | **${c.storeLookups}** | ${Object.entries(c.statuses).map(([k, v]) => `${v} × ${k}`).join(', ')} | ${Object.entries(c.cacheOutcomes ?? {}).map(([k, v]) => `${v} ${k}`).join(', ')} |`,
        );
      }
    }
    lines.push('', `Exactly one lookup per burst: ${verdict(r.target.met)}.`, '');
  }
  lines.push(
    '### Cold lookup latency per store',
    '',
    'A key the authenticator has not cached: `findByHash` alone, and the whole `authenticate()` (hash, cache miss, lookup, decision).',
    'Memory store: from `bench/cold.mjs`; the real stores: from `bench/stores-*.mjs` (written with each store), on this machine\'s',
    'PostgreSQL and Redis over loopback and SQLite on local disk.',
    '',
    '| store | findByHash p50 / p99 | authenticate(), cache miss, p50 / p99 | samples | source |',
    '|---|---|---|---:|---|',
  );
  if (r) {
    for (const l of r.latency) {
      lines.push(`| ${l.store} | (in process) | ${ms(l.coldP50Us / 1000)} / ${ms(l.coldP99Us / 1000)} (cached: ${ms(l.warmP50Us / 1000)} / ${ms(l.warmP99Us / 1000)}) | ${int(l.samples)} | \`${results.sections.cold.command}\` |`);
    }
  } else lines.push('| memory | not measured | | | |');
  for (const store of ['sqlite', 'redis', 'postgres']) {
    const s = results.sections[`stores-${store}`];
    const f = storeFigures(s?.status === 'ok' ? s.result : undefined);
    if (!f) {
      lines.push(`| ${store} | not yet measured (${s?.status === 'failed' ? `bench/stores-${store}.mjs failed: ${s.error}` : `bench/stores-${store}.mjs ${s ? 'not present' : 'not run'}`}) | | | |`);
      continue;
    }
    const pair = (x) => (x ? `${ms(x.p50Ms)} / ${ms(x.p99Ms)}` : '–');
    lines.push(`| ${store} | ${pair(f.findByHash)} | ${pair(f.authenticateMiss)} | ${int((f.findByHash ?? f.authenticateMiss)?.samples)} | \`${s.command}\` (${day(s.measuredAt)}) |`);
  }
  lines.push('');
  return lines;
}

function floodSection(results) {
  const { lines, result: r } = sectionHeader(results, 'flood', '4. Flood of random keys beside a hot set');
  if (!r) return lines;
  const c = r.check;
  lines.push(
    `${int(c.randomRequests)} requests with distinct random well-formed keys, interleaved with ${int(c.hotRequests)} requests over a hot set of`,
    `${int(r.hotKeys)} valid keys (each hot key authenticated once before the flood), ${r.inFlight} requests in flight at a time, on a`,
    `memory store that counts lookups. Cache: ${r.cacheOptions}. Two passes: one tracks every random hash`,
    'the store was asked for (to count repeats); one keeps only counters and reads the heap after a full GC at every tenth.',
    '',
    '| measure | value |',
    '|---|---:|',
    `| hot-key cache hit rate during the flood | ${pct(c.hotHitRate, 3)} (heap pass: ${pct(r.heapPass.hotHitRate, 3)}) |`,
    `| store lookups for hot keys during the flood | ${int(c.hotLookupsDuringFlood)} |`,
    `| store lookups for random keys | ${int(c.randomLookups)} for ${int(c.randomRequests)} keys, ${int(c.repeatedRandomLookups)} repeated |`,
    `| random keys refused with 401 | ${int(c.randomRefused)} |`,
    `| heap after GC, start → end of flood | ${num(r.heapPass.heap[0].heapMiB, 1)} → ${num(r.heapPass.heap.at(-1).heapMiB, 1)} MiB (peak ${num(r.heapPeakMiB, 1)}; second half adds ${num(r.heapGrowthSecondHalfMiB, 1)}) |`,
    `| throughput, authenticate() in process | ${int(c.requestsPerSecond)} requests/s |`,
    '',
    `Heap (MiB) at each tenth of the flood: ${r.heapPass.heap.map((h) => num(h.heapMiB, 1)).join(' → ')}.`,
    '',
  );
  for (const t of r.targets) lines.push(`- ${t.what}: ${verdict(t.met)}`);
  lines.push('');
  return lines;
}

function memorySection(results) {
  const { lines, result: r } = sectionHeader(results, 'memory', '5. Memory per 100,000 cached keys');
  if (!r) return lines;
  lines.push(
    `\`node --expose-gc\`; ${int(r.keys)} keys issued into a memory store first, then an authenticator with \`cache.max = ${int(r.keys)}\` asked for`,
    'each once; heapUsed after full GCs, before the authenticator is created and after its cache is full. A second pass over',
    'every key must make no store lookup (the cache really held them all). MemoryKeyStore hands back records whose strings it',
    'shares with itself, which flatters the cache; a database driver allocates every string afresh, so the cache is measured',
    'again with each record\'s strings copied. The target is judged on the larger figure.',
    '',
    '| records | empty authenticator | heap delta, cache full | bytes per key | per 100,000 keys | lookups on 2nd pass |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const v of r.variants) {
    lines.push(`| ${v.variant} | ${num(v.emptyAuthenticatorMiB, 1)} MiB | ${num(v.filledDeltaMiB, 1)} MiB | ${int(v.bytesPerCachedKey)} | **${num(v.mibPer100kKeys, 1)} MiB** | ${v.storeLookupsSecondPass} |`);
  }
  lines.push('', `Target under 64 MB (61.0 MiB): ${num(r.mibPer100kKeys, 1)} MiB — ${verdict(r.target.met)}.`, '');
  return lines;
}

function fleetSection(results) {
  const lines = [
    '## 6. Fleet revocation',
    '',
    'Time from a revocation in one process until another process, whose authenticator had the key cached, refuses it.',
    'From the store scripts (`bench/stores-*.mjs`, written with each store); what each one times exactly is in its own words',
    'in the last column.',
    '',
    '| store | p50 | p99 | max | samples | store\'s own target | what is timed | command |',
    '|---|---:|---:|---:|---:|---|---|---|',
  ];
  for (const store of ['sqlite', 'redis', 'postgres']) {
    const s = results.sections[`stores-${store}`];
    const f = storeFigures(s?.status === 'ok' ? s.result : undefined);
    if (!f?.fleet) {
      lines.push(`| ${store} | not yet measured (${s?.status === 'failed' ? `failed: ${s.error}` : s ? s.status : 'not run'}) | | | | | | |`);
      continue;
    }
    const t = f.fleetTarget ? `p99 < ${f.fleetTarget.p99Ms} ms: ${verdict(f.fleetTarget.met)}` : '–';
    lines.push(`| ${store} | ${ms(f.fleet.p50Ms)} | ${ms(f.fleet.p99Ms)} | ${ms(f.fleet.maxMs)} | ${int(f.fleet.samples)} | ${t} | ${f.fleetNote ?? ''} | \`${s.command}\` (${day(s.measuredAt)}) |`);
  }
  lines.push('', 'The contract\'s bound for the gateway is 1 second (`finora-auth keys revoke` reaching a running `serve`).', '');
  return lines;
}

const kb = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(2)} KB` : '–');

function sizeSection(results) {
  const { lines, result: r } = sectionHeader(results, 'size', '9. Worker bundle size');
  if (!r) return lines;
  lines.push(
    `From \`bench/size.mjs\`, which runs the budget check itself (\`scripts/size.mjs\`, part of the root build): ${r.how}.`,
    'Sizes do not depend on the machine or the run size.',
    '',
    '| bundle | minified | gzipped | budget (gzipped) | Node polyfills | largest inputs (minified) |',
    '|---|---:|---:|---|---|---|',
  );
  for (const row of r.rows) {
    const budget = row.budgetGzipBytes === undefined ? '–' : `${kb(row.budgetGzipBytes)}: ${verdict(row.gzipBytes <= row.budgetGzipBytes)}`;
    const inputs = (row.largestInputs ?? []).map((i) => `\`${i.input}\` ${kb(i.minifiedBytes)}`).join(', ');
    lines.push(`| ${row.id}: ${row.what} | ${kb(row.minifiedBytes)} | **${kb(row.gzipBytes)}** | ${budget} | ${row.nodePolyfills?.length ? row.nodePolyfills.join(', ') : 'none'} | ${inputs} |`);
  }
  lines.push('', `Target, ${r.target.what}: ${verdict(r.target.met)}${r.target.failures?.length ? ` (${r.target.failures.join('; ')})` : ''}.`, '');
  return lines;
}

function creditsSection(results) {
  const { lines, result: r } = sectionHeader(results, 'credits', '10. Credits and rate limits against an unmetered key');
  if (!r) return lines;
  const kinds = Object.keys(r.inProcess.cpuNsPerCall).filter((k) => !k.startsWith('base:'));
  const ratio = (where, kind) => (kind === 'unmetered' ? '1.000' : num(r[where][`${kind}Ratio`], 3));
  lines.push(
    'From `bench/credits.mjs` (its header comment says exactly what runs): allowed requests of a metered key (credits), a',
    'rate-limited key and a key about to expire (one header more), against the same requests of an unmetered key, on a',
    'MemoryKeyStore (so what is measured is the local bookkeeping: leases, usage batches, the limiter, not a store round',
    'trip). In process: interleaved rounds in each of a few processes, CPU time per awaited `authenticate()`, ratio per',
    'round, the median over processes of each one\'s median (one process\'s figures carry its own luck).',
    'Over HTTP: one Hono server in its own process holds all the keys, autocannon drives it in interleaved runs; the ratio',
    'is of requests/s, with the server\'s CPU per request beside it (steadier when the load generator shares the cores).',
    '',
    '| key | in process: CPU ns/call | in process: / unmetered | HTTP req/s (median) | HTTP: / unmetered | server CPU µs/req | at equal server CPU |',
    '|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const kind of kinds) {
    lines.push(
      `| ${kind} | ${int(r.inProcess.cpuNsPerCall[kind])} | ${ratio('inProcess', kind)} | ${int(r.http.rps[kind])} | ${ratio('http', kind)} | ${num(r.http.serverCpuMicrosPerRequest[kind], 1)} | ${kind === 'unmetered' ? '1.000' : num(r.http[`${kind}CpuRatio`], 3)} |`,
    );
  }
  if (r.inProcess.perProcess) {
    const spread = Object.entries(r.inProcess.perProcess).map(([kind, ratios]) => `${kind} ${ratios.map((x) => num(x, 3)).join(' / ')}`);
    lines.push('', `In process, each process's median ratio (${r.inProcess.processesPerBuild} processes): ${spread.join('; ')}.`);
  }
  lines.push('', `Targets (metered and rate-limited keys keep >= ${pct(r.target, 0)} of the unmetered key's requests; the expiring key is for reference):`, '');
  for (const t of creditsTargets(r)) lines.push(`- ${t.what.replace(/^credits, /, '')}: ${t.value} — ${verdict(t.met)}`);
  lines.push('');
  return lines;
}

function creditsFleetSection(results) {
  const { lines, result: r } = sectionHeader(results, 'credits-fleet', '11. Credits and rate limits across a fleet');
  if (!r) return lines;
  const stores = r.stores.filter((s) => s.measured);
  lines.push(
    `From \`bench/credits-fleet.mjs\` (its header comment says exactly what runs): ${r.processes} processes (\`bench/credits-worker.mjs\`) on one store over`,
    'loopback. The bounds are the ones docs/credits.md states: the balance never goes below zero, a crashed process loses',
    'at most its lease, a refill happens once per period whatever the clocks say; a rate limit across processes can overshoot',
    'by about what the fleet is offered in one sync interval (no target: reported).',
    '',
  );
  for (const s of r.stores.filter((x) => !x.measured)) lines.push(`${s.store}: not measured (${s.reason}).`, '');
  if (stores.length === 0) return lines;
  const row = (label, cell) => `| ${label} | ${stores.map(cell).join(' | ')} |`;
  lines.push(
    `| | ${stores.map((s) => s.store).join(' | ')} |`,
    `|---|${stores.map(() => '---').join('|')}|`,
    row('grant spent to the last credit: allowed, overshoot, 503s', (s) => `${int(s.exactness.allowed)} of ${int(s.exactness.grant)}: overshoot **${int(s.exactness.overshoot)}**, ${int(s.exactness.unavailable503)} × 503`),
    row('balance before / after the graceful close', (s) => `${int(s.exactness.balanceBeforeClose)} / ${int(s.exactness.balanceAfterClose)}`),
    row('allowed requests per second, whole fleet, metered', (s) => int(s.exactness.allowedPerSecond)),
    row('processes SIGKILL-ed mid-load: credits lost', (s) => `${int(s.crash.lost)} (bound ${s.processes} × ${int(s.crash.boundPerProcess)} = ${int(s.crash.bound)}): ${verdict(s.crash.withinBound)}`),
    row(`daily refill, clocks ${num(stores[0].refill.clockSkewMs / 60_000, 0)} min apart: allowed in the day / across midnight`, (s) => `${int(s.refill.sameDayAllowed)} / ${int(s.refill.acrossMidnightAllowed)} of ${int(s.refill.amount)}: ${s.refill.exact ? 'exact' : '**not exact**'}`),
    row('rate limit: requests/s offered', (s) => int(s.rateLimit.offeredPerSecond)),
    row('rate limit: allowed per fixed window (first and last partial)', (s) => `${s.rateLimit.windowCounts.map(int).join(', ')} (limit ${int(s.rateLimit.limit.requests)} per ${s.rateLimit.limit.perSeconds} s)`),
    row('rate limit: worst full window over the limit', (s) => `${signed(s.rateLimit.maxOvershoot)} (${signedPct(s.rateLimit.maxOvershootShare)}); bound ~${int(s.rateLimit.boundEstimate)} (${s.rateLimit.syncMs} ms of offered load)`),
    '',
  );
  return lines;
}

function scaleSection(results) {
  const { lines, result: r } = sectionHeader(results, 'scale', '12. Costs as a store grows');
  if (!r) return lines;
  lines.push(
    'From `bench/scale.mjs` (its header comment says exactly what runs): each store filled in bulk to each size with keys',
    `shaped like issued ones, then, through the public API only, ${int(r.issuesPerSize)} \`issue()\` calls (the per-write cost),`,
    `${int(r.lookupsPerSize)} uncached \`authenticate()\` lookups, \`expiring(7)\` and \`list()\` of one 100-key account. Times in ms, p50 / p99.`,
    '',
  );
  const lm = r.lookupMethod;
  if (lm?.stealMaxPct != null) {
    lines.push(
      `On this shared VM the host's CPU steal (from \`/proc/stat\`) swings between 0 and ~35% from one 5 s window to the next, and a lookup p99 taken under it measures the host, not the store: so after each fill the bench waits (at most ${num(lm.settleLimitSeconds, 0)} s) for steal under ${num(lm.stealMaxPct, 0)}% over ${lm.settleWindowSeconds} s, times ${lm.rounds} rounds of lookups (and of \`expiring(7)\` and \`list()\`) after ${lm.warmupRounds} warm-up, each after a quiet ${lm.roundSettleWindowSeconds ?? 1} s window where one comes within ${lm.roundSettleLimitSeconds ?? 10} s, sets aside the rounds with ${num(lm.stealMaxPct, 0)}% steal or more (and over one jiffy of it, a short round's resolution) and reports the median p50 and p99 of the rest (or, when none is under, the least-steal round, marked so); every round is in results.json.`,
      '',
    );
  }
  const stealCell = (row) => {
    const rounds = row.lookupRounds?.filter((x) => typeof x.stealPct === 'number');
    if (!rounds?.length) return '–';
    const pcts = rounds.map((x) => x.stealPct);
    const range = `${num(Math.min(...pcts), 1)}-${num(Math.max(...pcts), 1)}%`;
    return row.lookupSettled === false
      ? `${range}: **none under ${num(lm?.stealMaxPct ?? 3, 0)}%**, least-steal round`
      : `${range} (${rounds.filter((x) => x.counted).length} of ${rounds.length} counted)`;
  };
  for (const l of r.leftOut ?? []) lines.push(`${l.store}: not measured (${l.reason}).`, '');
  lines.push(
    '| store | keys | issue() | uncached lookup | lookup rounds\' steal | expiring(7) | list() | bytes per key | fill |',
    '|---|---:|---|---|---|---|---|---:|---:|',
  );
  const pair = (x) => `${num(x.p50, 3)} / ${num(x.p99, 3)}`;
  for (const s of r.stores) {
    for (const row of s.rows) {
      lines.push(`| ${s.store} | ${int(row.keys)} | ${pair(row.issueMs)} | ${pair(row.lookupMs)} | ${stealCell(row)} | ${pair(row.expiringMs)} (${row.expiringKeys} keys) | ${pair(row.listMs)} (${row.listKeys} keys) | ${num(row.bytesPerKey, 0)} (${s.bytesLabel}) | ${num(row.fillSeconds, 1)} s |`);
    }
  }
  lines.push(
    '',
    `Growth, each figure at the largest size over the smallest (target: flat, <= ${num(r.flat, 1)}x; a scan per call grows with the store):`,
    '',
    `| store | sizes | ${Object.values(GROWTH).join(' | ')} |`,
    `|---|---|${Object.keys(GROWTH).map(() => '---:').join('|')}|`,
  );
  for (const s of r.stores) {
    const cells = Object.keys(GROWTH).map((key) => `${num(s.growth[key])}x${s.verdicts[key] ? '' : ' **grows**'}`);
    lines.push(`| ${s.store} | ${int(s.sizes[0])} → ${int(s.sizes.at(-1))} | ${cells.join(' | ')} |`);
  }
  lines.push('', `Every figure flat on every store: ${verdict(r.met)}.`, '');
  return lines;
}

function measuredSpan(results) {
  const times = Object.values(results.sections)
    .map((s) => s.measuredAt)
    .filter(Boolean)
    .sort();
  if (times.length === 0) return 'never';
  const fmt = (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
  return times.length === 1 || times[0].slice(0, 16) === times.at(-1).slice(0, 16) ? `${fmt(times[0])} UTC` : `from ${fmt(times[0])} to ${fmt(times.at(-1))} UTC`;
}

export function renderMarkdown(results) {
  const m = results.machine;
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/run.mjs (`pnpm bench`); edit bench/report.mjs or bench/findings.md, not this file. -->',
    '',
    `Generated by \`pnpm bench\` (${results.mode} run) at commit \`${m.commit ?? '?'}\`; sections measured ${measuredSpan(results)}, each at the commit its section names (partial runs keep other sections' last figures).`,
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node} (V8 ${m.v8}), ${m.os}.`,
    'The machine is shared and noisy: other work ran beside these benchmarks. Absolute figures move from run to run;',
    'what the targets are about is ratios, and every ratio here is measured side by side in one run, interleaved, with',
    'medians. Each section says how to rerun it alone and when it was measured.',
    '',
    'Run it: `pnpm bench` (full, several minutes, rewrites this file), `pnpm bench --quick` (everything small, under a',
    'minute, writes nothing), `pnpm bench -- --only http,core` (some sections; merged into `bench/results/results.json`).',
    'Raw figures: [`bench/results/results.json`](bench/results/results.json).',
    '',
    '## Targets',
    '',
    '| # | target | measured | verdict |',
    '|---|---|---|---|',
  ];
  for (const t of targets(results)) {
    const v = t.met === 'reported' ? 'reported (no target)' : verdict(t.met);
    lines.push(`| ${t.n} | ${t.what} | ${t.value ?? 'not yet measured'} | ${v} |`);
  }
  lines.push('');
  const findingsPath = join(benchDir, 'findings.md');
  if (existsSync(findingsPath)) lines.push(readFileSync(findingsPath, 'utf8').trim(), '');
  lines.push(
    ...coreSection(results),
    ...httpSection(results),
    ...coldSection(results),
    ...floodSection(results),
    ...memorySection(results),
    ...fleetSection(results),
    ...gatewaySection(results, sectionHeader),
    ...forwardAuthSection(results, sectionHeader),
    ...sizeSection(results),
    ...creditsSection(results),
    ...creditsFleetSection(results),
    ...scaleSection(results),
  );
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}
