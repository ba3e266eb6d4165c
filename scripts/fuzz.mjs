#!/usr/bin/env node
// `pnpm fuzz`: the fuzz campaigns of test/support at full size, against the built dists (not the sources vitest uses).
//
//   node scripts/fuzz.mjs [--runs N] [--http-runs N] [--path-runs N] [--seed S] [--only core,headers,paths] [--json FILE]
//
// --runs       Authorization headers through authenticate() directly (default 100,000)
// --http-runs  generated requests per adapter package over real HTTP, shared between its framework majors
//              (Express 5/4, Koa 3/2), and through the gateway (default 25,000 each: 100,000 over HTTP in all)
// --path-runs  fuzzed path spellings per subject (each framework's routing, each adapter, the gateway in front
//              of three upstreams), each sent with a retail and an enterprise key (default 5,000)
// --seed       base seed, for a reproducible run (default: random, printed)
// --only       a comma-separated subset of the campaigns
// --json       also write the whole report to FILE
//
// Exits 1 when any campaign has a finding, or when anything rejected unhandled or threw uncaught during the run.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    'http-runs': { type: 'string', default: '25000' },
    'path-runs': { type: 'string', default: '5000' },
    seed: { type: 'string' },
    only: { type: 'string', default: 'core,headers,paths' },
    json: { type: 'string' },
  },
});
const count = (name) => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`--${name} must be a whole number; got ${args[name]}`);
  return value;
};
const runs = count('runs');
const httpRuns = count('http-runs');
const pathRuns = count('path-runs');
const only = new Set(args.only.split(',').map((s) => s.trim()));
const baseSeed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 30) : Number(args.seed);

// The campaigns are TypeScript in test/support; bundle them, leaving every package import to Node, so that
// `@finora-auth/*` resolves through node_modules to each package's built dist, as a user's install would.
const outDir = join(root, 'node_modules', '.cache', 'finora-fuzz');
mkdirSync(outDir, { recursive: true });
const bundle = join(outDir, 'campaigns.mjs');
await build({
  stdin: {
    contents: [
      "export { coreCampaign } from './test/support/fuzz-campaign.ts';",
      "export { headerCampaign } from './test/support/fuzz-header-campaign.ts';",
      "export { routingCampaign, adapterPathCampaign, gatewayPathCampaign } from './test/support/fuzz-path-campaign.ts';",
      "export { adapterMiddleware, FRAMEWORKS } from './test/support/fuzz-apps.ts';",
      "export { buildWorld } from './test/support/fuzz-world.ts';",
    ].join('\n'),
    resolveDir: root,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile: bundle,
  logLevel: 'warning',
});

const resolved = import.meta.resolve('@finora-auth/core');
if (!resolved.includes('/dist/')) throw new Error(`@finora-auth/core resolves to ${resolved}, not a built dist: run pnpm run build`);

const core = await import('@finora-auth/core');
const campaigns = await import(pathToFileURL(bundle).href);

const unhandled = [];
process.on('unhandledRejection', (reason) => unhandled.push(`unhandledRejection: ${reason?.stack ?? reason}`));
process.on('uncaughtException', (error) => unhandled.push(`uncaughtException: ${error?.stack ?? error}`));

const results = [];
let seedOffset = 0;
const nextSeed = () => baseSeed + 1_000_003 * seedOffset++;

function line(result) {
  const rate = result.durationMs > 0 ? Math.round((result.runs * 1000) / result.durationMs) : result.runs;
  const findings = result.findingCount === 0 ? 'no findings' : `${result.findingCount} FINDINGS`;
  console.log(
    `${result.name.padEnd(28)} ${String(result.runs).padStart(7)} runs  ${(result.durationMs / 1000).toFixed(1).padStart(6)} s  ` +
      `${String(rate).padStart(6)}/s  seed ${result.seed}  ${findings}`,
  );
  for (const finding of result.findings.slice(0, 5)) console.log(`    ${finding.input}\n      ${finding.problems.join('\n      ')}`);
}

async function run(campaign) {
  const result = await campaign();
  results.push(result);
  line(result);
}

const started = Date.now();
console.log(`finora-auth fuzz: ${new Date(started).toISOString()}, node ${process.version}, base seed ${baseSeed}`);
console.log(`packages from ${resolved.replace(/\/dist\/.*/, '/dist')} and siblings\n`);

if (only.has('core') && runs > 0) {
  await run(() => campaigns.coreCampaign({ runs, seed: nextSeed() }));
}

if (only.has('headers') && httpRuns > 0) {
  // Each adapter package gets httpRuns, shared between the framework majors it supports.
  const shares = { express5: 0.5, express4: 0.5, koa3: 0.5, koa2: 0.5, hono: 1, gateway: 1 };
  for (const [subject, share] of Object.entries(shares)) {
    await run(() => campaigns.headerCampaign(subject, { runs: Math.ceil(httpRuns * share), seed: nextSeed() }));
  }
}

if (only.has('paths') && pathRuns > 0) {
  for (const framework of campaigns.FRAMEWORKS) {
    await run(() => campaigns.routingCampaign(framework, { runs: pathRuns, seed: nextSeed() }));
  }
  for (const framework of campaigns.FRAMEWORKS) {
    const store = new core.MemoryKeyStore();
    const world = await campaigns.buildWorld(store);
    const authenticator = core.createAuthenticator({ store, now: world.now });
    await run(() =>
      campaigns.adapterPathCampaign(framework, {
        runs: pathRuns,
        seed: nextSeed(),
        middleware: campaigns.adapterMiddleware(framework, authenticator),
        retailKey: world.key('live-retail').apiKey,
        enterpriseKey: world.key('live-enterprise').apiKey,
      }),
    );
    await authenticator.close();
  }
  for (const upstream of ['express5', 'koa3', 'hono']) {
    const store = new core.MemoryKeyStore();
    const world = await campaigns.buildWorld(store);
    await run(() =>
      campaigns.gatewayPathCampaign(upstream, {
        runs: pathRuns,
        seed: nextSeed(),
        store,
        now: world.now,
        retailKey: world.key('live-retail').apiKey,
        enterpriseKey: world.key('live-enterprise').apiKey,
      }),
    );
  }
}

// Late rejections (a lookup settling after its campaign) surface a moment later.
await new Promise((resolve) => setTimeout(resolve, 200));

const total = results.reduce((sum, r) => sum + r.runs, 0);
const headerTotal = results.filter((r) => r.name === 'authenticate' || r.name.startsWith('headers:')).reduce((s, r) => s + r.runs, 0);
const findingTotal = results.reduce((sum, r) => sum + r.findingCount, 0) + unhandled.length;
const durationMs = Date.now() - started;
console.log(
  `\n${total} generated inputs (${headerTotal} Authorization headers) in ${(durationMs / 1000).toFixed(1)} s: ` +
    `${findingTotal === 0 ? 'no findings' : `${findingTotal} FINDINGS`}, ${unhandled.length} unhandled rejections or uncaught exceptions`,
);
for (const problem of unhandled.slice(0, 5)) console.log(`  ${problem}`);

if (args.json) {
  const report = {
    date: new Date(started).toISOString(),
    command: `node scripts/fuzz.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    node: process.version,
    baseSeed,
    durationMs,
    total,
    headerTotal,
    findingTotal,
    unhandled,
    campaigns: results,
  };
  writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
}

process.exit(findingTotal === 0 ? 0 : 1);
