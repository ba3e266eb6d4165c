// bench/report.mjs: BENCHMARKS.md and the console targets show the size, credits, credits-fleet and scale sections.

import { describe, expect, it } from 'vitest';
import { renderMarkdown, summarizeText, targets } from '../bench/report.mjs';

const machine = { commit: 'abc1234', cores: 2, cpuModel: 'Test CPU', memoryGiB: 8, node: 'v20.20.2', v8: '11.3', os: 'linux', loadAverage: [1.5, 1, 1] };
const section = (id: string, script: string, result: unknown) => ({
  id,
  status: 'ok',
  command: `node bench/${script}`,
  seconds: 12.5,
  result,
  measuredAt: '2026-12-02T01:01:40.420Z',
  commit: 'abc1234',
});

// Shapes as the scripts emit them (from a --quick run), trimmed to a few rows.
const size = {
  section: 'size',
  how: 'esbuild bundle of the built packages; gzip -9',
  rows: [
    { id: 'core+hono', what: "finora-auth's own code", minifiedBytes: 32599, gzipBytes: 11737, budgetGzipBytes: 12288, nodePolyfills: [], largestInputs: [{ input: 'packages/core/dist/index.js', minifiedBytes: 31024 }] },
    { id: 'core+hono+lru-cache', what: 'with lru-cache', minifiedBytes: 51260, gzipBytes: 19000, budgetGzipBytes: 18432, nodePolyfills: [], largestInputs: [] },
    { id: 'worker', what: 'a whole Worker', minifiedBytes: 84675, gzipBytes: 29272, nodePolyfills: [], largestInputs: [] },
  ],
  target: { what: 'core + Hono under 12 KB gzipped, 18 KB with lru-cache', gzipBytes: 11737, met: false, failures: ['core+hono+lru-cache: 18.55 KB over 18 KB'] },
  machine,
};
const credits = {
  machine,
  target: 0.9,
  inProcess: { cpuNsPerCall: { unmetered: 1242, metered: 1356, limited: 1405, expiring: 2055 }, meteredRatio: 0.919, limitedRatio: 0.886, expiringRatio: 0.604, processesPerBuild: 3, perProcess: { metered: [0.919, 0.93, 0.9], limited: [0.886, 0.87, 0.91] } },
  http: {
    rps: { unmetered: 13413, metered: 13704, limited: 13350, expiring: 7828 },
    serverCpuMicrosPerRequest: { unmetered: 45.4, metered: 47.6, limited: 49.3, expiring: 56.9 },
    meteredRatio: 1.022,
    limitedRatio: 0.995,
    meteredCpuRatio: 0.955,
    limitedCpuRatio: 0.921,
    expiringRatio: 0.584,
    expiringCpuRatio: 0.799,
  },
  met: false,
};
const creditsFleet = {
  machine,
  processes: 4,
  stores: [
    {
      store: 'PostgreSQL',
      measured: true,
      processes: 4,
      exactness: { grant: 8000, allowed: 8000, overshoot: 0, unavailable503: 0, balanceBeforeClose: 0, balanceAfterClose: 0, allowedPerSecond: 20151 },
      crash: { allowed: 90380, lost: 1968, boundPerProcess: 500, bound: 2000, withinBound: true },
      refill: { amount: 2000, clockSkewMs: 180000, sameDayAllowed: 2000, acrossMidnightAllowed: 2000, exact: true },
      rateLimit: { limit: { requests: 1000, perSeconds: 2 }, syncMs: 50, offeredPerSecond: 312472, windowCounts: [4000, 1024, 498], maxOvershoot: 24, maxOvershootShare: 0.024, boundEstimate: 15624 },
    },
    { store: 'Redis', measured: false, reason: 'Redis not reachable' },
  ],
};
const growthRow = (keys: number, lookupP50: number) => ({
  keys,
  issueMs: { p50: 0.3, p99: 0.7 },
  lookupMs: { p50: lookupP50, p99: 0.2 },
  expiringMs: { p50: 0.31, p99: 0.5 },
  expiringKeys: 100,
  listMs: { p50: 0.32, p99: 0.65 },
  listKeys: 100,
  bytesPerKey: 405.1,
  fillSeconds: 0.4,
});
const scaleStore = (store: string, lookupP50: number) => ({
  store,
  bytesLabel: 'file bytes',
  sizes: [2000, 20000],
  rows: [growthRow(2000, 0.1), growthRow(20000, lookupP50)],
  growth: { issueP50: 1, lookupP50: lookupP50 / 0.1, lookupP99: 1, expiringP50: 1, listP50: 1, bytesPerKey: 1 },
  target: 'flat: <= 1.5x from 2000 to 20000 keys',
  verdicts: { issueP50: true, lookupP50: lookupP50 / 0.1 <= 1.5, lookupP99: true, expiringP50: true, listP50: true, bytesPerKey: true },
});
const scale = {
  flat: 1.5,
  issuesPerSize: 100,
  lookupsPerSize: 500,
  stores: [scaleStore('sqlite', 0.12), scaleStore('redis', 0.31)],
  leftOut: [{ store: 'postgres', reason: 'nothing listens at 127.0.0.1:5432' }],
  met: false,
};

const results = {
  mode: 'quick',
  seconds: 40,
  machine,
  sections: {
    size: section('size', 'size.mjs', size),
    credits: section('credits', 'credits.mjs', credits),
    'credits-fleet': section('credits-fleet', 'credits-fleet.mjs', creditsFleet),
    scale: section('scale', 'scale.mjs', scale),
  },
};

type Row = { n: number; what: string; value?: string; met?: boolean | 'reported' };
const rowsOf = (n: number) => (targets(results) as Row[]).filter((row) => row.n === n);

describe('bench/report.mjs', () => {
  it('adds target rows for credits, credits-fleet and scale after the size row', () => {
    expect(rowsOf(9)).toHaveLength(1);
    expect(rowsOf(9)[0]).toMatchObject({ value: 'core+hono 11.46 KB, core+hono+lru-cache 18.55 KB', met: false });

    expect(rowsOf(10).map((row) => [row.value, row.met])).toEqual([
      ['91.9%', true],
      ['88.6%', false],
      ['102.2% (at equal server CPU: 95.5%)', true],
      ['99.5% (at equal server CPU: 92.1%)', true],
    ]);

    const fleet = rowsOf(11);
    expect(fleet.map((row) => row.met)).toEqual([true, 'reported', undefined, undefined]);
    expect(fleet[0]?.value).toBe('overshoot 0 of 8,000; crash lost 1,968 (bound 2,000); refill 2,000 / 2,000 of 2,000');
    expect(fleet[1]?.value).toBe('+24 (+2.4%) over 1,000 per 2 s; bound ~15,624');
    expect(fleet[2]?.value).toBe('not measured: Redis not reachable');

    const growth = rowsOf(12);
    expect(growth.map((row) => row.met)).toEqual([true, false, undefined]);
    expect(growth[0]?.what).toContain('sqlite (2,000 → 20,000 keys)');
    expect(growth[1]?.value).toContain('uncached lookup p50 3.10x (grows)');
    expect(growth[2]?.value).toBe('not measured: nothing listens at 127.0.0.1:5432');
  });

  it('renders a section for each, with its figures, verdicts and how to rerun it', () => {
    const markdown = renderMarkdown(results);
    expect(markdown).not.toMatch(/undefined|NaN/);
    for (const heading of ['## 9. Worker bundle size', '## 10. Credits', '## 11. Credits and rate limits across a fleet', '## 12. Costs as a store grows']) {
      expect(markdown).toContain(heading);
    }
    for (const script of ['size', 'credits', 'credits-fleet', 'scale']) expect(markdown).toContain(`\`pnpm run build && node bench/${script}.mjs\``);
    expect(markdown).toContain('Measured 2026-12-02 at commit `abc1234`');

    expect(markdown).toContain('| 10 | credits, in process: rate-limited throughput >= 90% of an unmetered key\'s | 88.6% | **MISSED** |');
    expect(markdown).toContain("In process, each process's median ratio (3 processes): metered 0.919 / 0.930 / 0.900; limited 0.886 / 0.870 / 0.910.");
    expect(markdown).toMatch(/\| 11 \| rate limit across 4 processes, PostgreSQL: .* \| reported \(no target\) \|/);
    expect(markdown).toMatch(/\| 12 \| per-write and lookup costs flat as the store grows, redis .* \| \*\*MISSED\*\* \|/);

    expect(markdown).toContain('| core+hono+lru-cache: with lru-cache | 50.06 KB | **18.55 KB** | 18.00 KB: **MISSED** |');
    expect(markdown).toContain('(core+hono+lru-cache: 18.55 KB over 18 KB)');
    expect(markdown).toContain('| limited | 1,405 | 0.886 | 13,350 | 0.995 | 49.3 | 0.921 |');
    expect(markdown).toContain('1,968 (bound 4 × 500 = 2,000): met');
    expect(markdown).toContain('Redis: not measured (Redis not reachable).');
    expect(markdown).toContain('| redis | 2,000 → 20,000 | 1.00x | 3.10x **grows** |');
    expect(markdown).toContain('postgres: not measured (nothing listens at 127.0.0.1:5432).');
    expect(markdown).toContain('Every figure flat on every store: **MISSED**.');
  });

  it('prints the new targets in the console summary', () => {
    const text = summarizeText(results);
    expect(text).toContain('[MISS] 10. credits, in process: rate-limited throughput');
    expect(text).toContain('[info] 11. rate limit across 4 processes, PostgreSQL');
    expect(text).toContain('[ok  ] 12. per-write and lookup costs flat as the store grows, sqlite');
  });

  it('says "not yet measured" for a section absent from results.json, and shows a failed run as failed', () => {
    const markdown = renderMarkdown({
      ...results,
      sections: { scale: { id: 'scale', status: 'failed', command: 'node bench/scale.mjs', error: 'exit code 1', seconds: 1 } },
    });
    expect(markdown).not.toMatch(/undefined|NaN/);
    for (const id of ['size', 'credits', 'credits-fleet']) expect(markdown).toContain(`**Not yet measured**: the ${id} section was not run.`);
    expect(markdown).toContain('**Not measured: the run failed** (exit code 1). Command: `node bench/scale.mjs`.');
    expect(markdown).toMatch(/\| 10 \| credits, in process: metered throughput .* \| not yet measured \| not measured \|/);
  });
});
