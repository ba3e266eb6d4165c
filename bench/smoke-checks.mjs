// What `pnpm bench --smoke` proves about its own results: every section ran and printed figures of the right shape (never speed).

import { renderMarkdown, renderSvgs, storeFigures } from './report.mjs';

const finite = (n) => typeof n === 'number' && Number.isFinite(n);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The checks, over the results run.mjs assembled. `leftOut` names the service sections not run (no service, not
 * under CI). Returns what is wrong, one line each; an empty list is a pass.
 */
export function smokeFailures(results, leftOut = []) {
  const failures = [];
  const check = (ok, message) => {
    if (!ok) failures.push(message);
  };
  const section = (id) => results.sections[id]?.result;

  for (const s of Object.values(results.sections)) check(s.status !== 'failed', `${s.id} failed: ${s.error}\n${s.stderrTail ?? ''}`);
  for (const id of ['core', 'cold', 'flood', 'memory', 'http']) check(results.sections[id]?.status === 'ok', `${id}: status ${results.sections[id]?.status}`);
  check(finite(results.machine?.cores) && results.machine?.node === process.version, 'machine: cores and node version');

  const core = section('core');
  if (core) {
    const ids = ['floor-node', 'oneshot-node', 'floor-node-await', 'floor-web', 'auth-node', 'auth-node-module', 'auth-node-now', 'auth-web'];
    check(same(core.rows?.map((r) => r.id), ids), `core: rows ${JSON.stringify(core.rows?.map((r) => r.id))}, want ${JSON.stringify(ids)}`);
    for (const row of core.rows ?? []) check(finite(row.opsPerSec) && row.opsPerSec > 0, `core: ${row.id} opsPerSec ${row.opsPerSec}`);
    for (const [name, value] of Object.entries(core.ratios ?? {})) check(finite(value) && value > 0, `core: ratio ${name} = ${value}`);
    check(same(core.hashPathCheck, { subtleDigestsNodePath: 0, subtleDigestsWebPath: 1 }), `core: hash paths ${JSON.stringify(core.hashPathCheck)}`);
    check(typeof core.target?.met === 'boolean', 'core: target verdict');
  }

  const http = section('http');
  if (http) {
    const frameworks = http.frameworks ?? [];
    check(same(frameworks.map((f) => f.framework), ['hono', 'express', 'koa', 'fastify']), `http: frameworks ${frameworks.map((f) => f.framework)}`);
    const statuses = {
      floor: { validKeyStatus: 200, unknownKeyStatus: 200 },
      async: { validKeyStatus: 200, unknownKeyStatus: 200 },
      finora: { validKeyStatus: 200, unknownKeyStatus: 401 },
      peer: { validKeyStatus: 200, unknownKeyStatus: 401 },
    };
    for (const f of frameworks) {
      check(f.measured === true, `http: ${f.framework} not measured: ${f.reason}`);
      check(same(f.checks, statuses), `http: ${f.framework} auth checks ${JSON.stringify(f.checks)} (auth must really be on)`);
      check(same(f.variants?.map((v) => v.variant), ['floor', 'async', 'finora', 'peer']), `http: ${f.framework} variants`);
      for (const v of f.variants ?? []) {
        check(v.rps > 0 && finite(v.cpuMicrosPerRequest), `http: ${f.framework}/${v.variant} rps ${v.rps}, cpu ${v.cpuMicrosPerRequest}`);
        check(v.errors === 0 && v.non2xx === 0, `http: ${f.framework}/${v.variant} errors ${v.errors}, non-2xx ${v.non2xx}`);
      }
      for (const [name, ratio] of Object.entries(f.ratios ?? {})) check(finite(ratio.median), `http: ${f.framework} ratio ${name}`);
    }
    check(http.targets?.length === 5, 'http: five targets');
  }

  const cold = section('cold');
  if (cold) {
    check(cold.coalescing?.length === 5, 'cold: five coalescing bursts');
    for (const c of cold.coalescing ?? []) {
      const answered = Object.values(c.statuses ?? {}).reduce((a, b) => a + b, 0);
      check(c.requests === 1_000 && c.storeLookups === 1 && answered === 1_000, `cold: ${c.via} ${c.requests} requests, ${c.storeLookups} lookups, ${answered} answered`);
    }
    const first = cold.latency?.[0];
    check(first?.store === 'memory' && first.storeLookups === first.samples && finite(first.coldP99Us), 'cold: memory latency figures');
  }

  const flood = section('flood');
  if (flood) {
    const c = flood.check ?? {};
    check(c.hotHitRate >= 0 && c.hotHitRate <= 1, `flood: hot hit rate ${c.hotHitRate}`);
    check(c.repeatedRandomLookups === 0 && c.randomLookups === c.randomRequests, 'flood: one lookup per random key');
    check(flood.heapPass?.heap?.length === 11 && flood.heapPass.heap.every((r) => r.heapMiB > 0), 'flood: eleven heap readings');
    check(flood.targets?.length === 3, 'flood: three targets');
  }

  const memory = section('memory');
  if (memory) {
    check(memory.variants?.length === 2, 'memory: two record kinds');
    for (const v of memory.variants ?? []) {
      check(v.bytesPerCachedKey > 0 && v.storeLookupsFill === memory.keys && v.storeLookupsSecondPass === 0, `memory: ${v.variant ?? v.kind} cache held every key`);
    }
    check(finite(memory.mibPer100kKeys), 'memory: MiB per 100k keys');
  }

  for (const store of ['sqlite', 'redis', 'postgres']) {
    const s = results.sections[`stores-${store}`];
    if (leftOut.includes(`stores-${store}`) || s?.status === 'not-present') continue;
    check(s?.status === 'ok', `stores-${store}: status ${s?.status}`);
    if (s?.status !== 'ok') continue;
    const figures = storeFigures(s.result);
    check(finite(figures?.fleet?.p50Ms), `stores-${store}: fleet revocation p50`);
    check(finite((figures?.findByHash ?? figures?.authenticateMiss)?.p50Ms), `stores-${store}: cold lookup p50`);
  }
  const gateway = results.sections.gateway;
  if (gateway && gateway.status === 'ok') {
    check(typeof gateway.result === 'object', 'gateway: a JSON object');
    check(typeof gateway.result.boundContractVsBareUndiciProxy?.median === 'number', 'gateway: the upper bounds ran (--bounds)');
  }
  const forwardAuth = results.sections['forward-auth'];
  if (forwardAuth && forwardAuth.status === 'ok' && !forwardAuth.result?.skipped) {
    check(forwardAuth.result?.bound === true && typeof forwardAuth.result.boundVsTrivialAuth?.median === 'number', 'forward-auth: the upper bound ran (--bound)');
  }

  const markdown = renderMarkdown(results);
  for (const heading of ['## Targets', '## 1. Core', '## 2. HTTP', '## 3. Cold path', '## 4. Flood', '## 5. Memory', '## 6. Fleet revocation', '## 7. Gateway', '## 8. Forward-auth', '## 9. Worker bundle size', '## 10. Credits', '## 11. Credits and rate limits across a fleet', '## 12. Costs as a store grows']) {
    check(markdown.includes(heading), `BENCHMARKS.md: no "${heading}"`);
  }
  check(!/undefined|NaN/.test(markdown), 'BENCHMARKS.md: renders undefined or NaN');
  const svgs = renderSvgs(results);
  check(same(Object.keys(svgs).sort(), ['core.svg', 'http-cpu.svg', 'http.svg']), `charts: ${Object.keys(svgs)}`);
  for (const [name, svg] of Object.entries(svgs)) {
    check(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && !/undefined|NaN/.test(svg), `charts: ${name} malformed`);
  }
  return failures;
}
