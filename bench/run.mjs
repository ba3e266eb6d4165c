// `pnpm bench`: runs every benchmark section in its own process, one after another, and writes BENCHMARKS.md.
//
//   pnpm bench                    full run (several minutes); writes BENCHMARKS.md, bench/results/results.json, *.svg
//   pnpm bench --quick            everything at small sizes (under a minute on an idle 2-core machine); writes nothing
//   pnpm bench -- --only core,http   only these sections; a full partial run is merged into results.json
//   pnpm bench --smoke            tiny sizes; checks every section's figures are well-formed (bench/smoke-checks.mjs)
//                                 and exits 1 on any failure: CI runs it (.ci/run). Redis and PostgreSQL sections
//                                 are left out when nothing listens on 6379/5432, except under CI=true
//   --cpu-prof                    HTTP servers write .cpuprofile files to .tmp/profiles (see bench/profile-summary.mjs)
//   --render                      rewrite BENCHMARKS.md and the charts from bench/results/results.json, measuring nothing
//
// pnpm passes `--quick` (and `--smoke`) through to this script (`pnpm bench --quick` and `pnpm bench -- --quick` both work; the
// second form arrives with a literal `--`, which is ignored). Build first: `pnpm bench` does, `node bench/run.mjs`
// does not.
//
// Sections run one at a time, never in parallel: on 2 cores two benchmarks would measure each other.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchDir, listening, machine, parseArgs, rootDir, runJsonScript } from './lib.mjs';
import { renderMarkdown, renderSvgs, summarizeText } from './report.mjs';
import { smokeFailures } from './smoke-checks.mjs';

const args = parseArgs();
const mode = args.smoke ? 'smoke' : args.quick ? 'quick' : 'full';
const write = args.write ?? mode === 'full';

const own = (id, script, nodeArgs = []) => ({ id, script, nodeArgs, args: args.smoke ? ['--smoke'] : args.quick ? ['--quick'] : [] });
const external = (id, script, quickArgs, smokeArgs, fullArgs = []) => ({
  id,
  script,
  external: true,
  nodeArgs: [],
  args: args.smoke ? smokeArgs : args.quick ? quickArgs : fullArgs,
});

const SECTIONS = [
  own('core', 'core.mjs'),
  own('cold', 'cold.mjs'),
  own('flood', 'flood.mjs', ['--expose-gc']),
  own('memory', 'memory.mjs', ['--expose-gc']),
  own('http', 'http.mjs'),
  // Written by the store and gateway helpers; each prints one JSON object. Their size flags differ.
  external('stores-sqlite', 'stores-sqlite.mjs', ['--quick'], ['--quick', '--keys', '100', '--revocations', '5']),
  external('stores-redis', 'stores-redis.mjs', ['--keys', '300', '--revocations', '30'], ['--keys', '50', '--revocations', '5']),
  external('stores-postgres', 'stores-postgres.mjs', ['--lookups', '300', '--revocations', '30'], ['--lookups', '50', '--revocations', '5']),
  // Both with their upper bounds (bench/bounds/): what the targets leave the gateway's own work.
  external('gateway', 'gateway.mjs', ['--quick', '--bounds'], ['--smoke', '--bounds'], ['--bounds']),
  // nginx + finora-auth --forward-auth against nginx + a trivial auth service (skipped, and says so, without nginx).
  external('forward-auth', 'forward-auth.mjs', ['--quick', '--bound'], ['--smoke', '--bound'], ['--bound']),
  own('size', 'size.mjs'), // the Worker bundle of core + Hono, measured by scripts/size.mjs (the budget check)
  own('credits', 'credits.mjs'), // metered and rate-limited requests against unmetered ones, in process and on Hono
  own('credits-fleet', 'credits-fleet.mjs'), // 4 processes on Redis and PostgreSQL: exactness, refill, rate-limit overshoot
  own('scale', 'scale.mjs'), // costs as a store grows: issue, uncached lookup, expiring, list, bytes per key at 10k-1M keys
];

// --render: rewrite BENCHMARKS.md and the charts from bench/results/results.json, measuring nothing (after editing
// bench/findings.md or bench/report.mjs).
if (args.rest.includes('--render')) {
  const resultsDir = join(benchDir, 'results');
  const saved = JSON.parse(readFileSync(join(resultsDir, 'results.json'), 'utf8'));
  for (const [name, svg] of Object.entries(renderSvgs(saved))) writeFileSync(join(resultsDir, name), svg);
  writeFileSync(join(rootDir, 'BENCHMARKS.md'), renderMarkdown(saved));
  console.log(summarizeText(saved));
  process.exit(0);
}

const unknown = (args.only ?? []).filter((id) => !SECTIONS.some((s) => s.id === id));
if (unknown.length) {
  console.error(`unknown section(s): ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.id).join(', ')}`);
  process.exit(2);
}
// A smoke run off CI leaves out a store section whose service is not up, and says so; under CI=true it must run.
const SERVICES = { 'stores-redis': 6379, 'stores-postgres': 5432 };
const leftOut = [];
if (args.smoke && process.env.CI !== 'true') {
  for (const [id, port] of Object.entries(SERVICES)) {
    if (await listening(port)) continue;
    console.error(`== ${id}: nothing listens on 127.0.0.1:${port}; left out of this smoke run (required under CI=true)`);
    leftOut.push(id);
  }
}
const selected = SECTIONS.filter((s) => (!args.only || args.only.includes(s.id)) && !leftOut.includes(s.id));

const started = Date.now();
const sections = {};
for (const section of selected) {
  const path = join(benchDir, section.script);
  const sectionArgs = [...section.args, ...(section.id === 'http' && args.cpuProf ? ['--cpu-prof'] : [])];
  const command = ['node', ...section.nodeArgs, `bench/${section.script}`, ...sectionArgs].join(' ');
  if (!existsSync(path)) {
    sections[section.id] = { id: section.id, status: 'not-present', command, note: `bench/${section.script} does not exist yet` };
    console.error(`\n== ${section.id}: bench/${section.script} not present, skipped`);
    continue;
  }
  console.error(`\n== ${section.id}: ${command}`);
  const t0 = Date.now();
  const outcome = await runJsonScript(path, sectionArgs, { nodeArgs: section.nodeArgs });
  const entry = { id: section.id, status: outcome.ok ? 'ok' : 'failed', command, seconds: Math.round((Date.now() - t0) / 100) / 10 };
  if (outcome.result !== undefined) entry.result = outcome.result;
  if (!outcome.ok) {
    entry.error = outcome.error;
    entry.stderrTail = outcome.stderrTail;
    console.error(`== ${section.id} FAILED: ${outcome.error}`);
  }
  entry.measuredAt = new Date().toISOString();
  entry.commit = machine().commit;
  sections[section.id] = entry;
}

const results = {
  mode,
  generatedAt: new Date().toISOString(),
  seconds: Math.round((Date.now() - started) / 100) / 10,
  machine: machine(),
  sections,
};

console.log(summarizeText(results));

if (args.json) writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);

if (write) {
  const resultsDir = join(benchDir, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonPath = join(resultsDir, 'results.json');
  // A partial run (--only) replaces its own sections and keeps the others' last full figures.
  let merged = results;
  if (args.only && existsSync(jsonPath)) {
    const previous = JSON.parse(readFileSync(jsonPath, 'utf8'));
    merged = { ...results, sections: { ...previous.sections, ...sections } };
  }
  writeFileSync(jsonPath, `${JSON.stringify(merged, null, 2)}\n`);
  for (const [name, svg] of Object.entries(renderSvgs(merged))) writeFileSync(join(resultsDir, name), svg);
  writeFileSync(join(rootDir, 'BENCHMARKS.md'), renderMarkdown(merged));
  console.error(`\nwrote BENCHMARKS.md, bench/results/results.json and charts in ${Math.round((Date.now() - started) / 1000)} s`);
}

const failed = Object.values(sections).filter((s) => s.status === 'failed');
process.exitCode = failed.length ? 1 : 0;

// A smoke run of every section (no --only) also proves the figures are well-formed; any failure is exit 1.
if (args.smoke && !args.only) {
  const failures = smokeFailures(results, leftOut);
  for (const failure of failures) console.error(`smoke check failed: ${failure}`);
  console.error(failures.length ? `\n${failures.length} smoke check(s) failed` : '\nsmoke checks: every section well-formed');
  if (failures.length) process.exitCode = 1;
}
