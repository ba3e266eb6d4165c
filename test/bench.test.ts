// Keeps `pnpm bench` from rotting: runs every section at smoke size and checks the results are well-formed (never speed).

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

// The sections that need a service: under CI a missing service fails the run; elsewhere they are left out, said aloud.
const SERVICES: Record<string, number> = { 'stores-redis': 6379, 'stores-postgres': 5432 };

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

type Section = { id: string; status: 'ok' | 'failed' | 'not-present'; command: string; result?: any; error?: string; stderrTail?: string };
type Results = { mode: string; machine: Record<string, unknown>; sections: Record<string, Section> };

let results: Results;
let dir: string;
const left: string[] = [];
const finite = (n: unknown) => typeof n === 'number' && Number.isFinite(n);

beforeAll(async () => {
  const sections = ['core', 'cold', 'flood', 'memory', 'http', 'stores-sqlite', 'stores-redis', 'stores-postgres', 'gateway'];
  for (const [id, port] of Object.entries(SERVICES)) {
    if (process.env.CI !== 'true' && !(await reachable(port))) {
      console.warn(`bench test: nothing listens on 127.0.0.1:${port}; ${id} left out (it is required under CI=true)`);
      left.push(id);
    }
  }
  dir = mkdtempSync(join(tmpdir(), 'finora-bench-test-'));
  const json = join(dir, 'results.json');
  const only = sections.filter((id) => !left.includes(id)).join(',');
  await new Promise<void>((resolve) => {
    execFile(process.execPath, ['bench/run.mjs', '--smoke', '--no-write', '--json', json, '--only', only], { cwd: root, maxBuffer: 64 * 2 ** 20 }, () => resolve());
  });
  results = JSON.parse(readFileSync(json, 'utf8'));
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('pnpm bench --smoke', () => {
  it('runs every section without a failure', () => {
    const failed = Object.values(results.sections).filter((s) => s.status === 'failed');
    expect(failed.map((s) => `${s.id}: ${s.error}\n${s.stderrTail}`)).toEqual([]);
    for (const id of ['core', 'cold', 'flood', 'memory', 'http']) expect(results.sections[id]?.status, id).toBe('ok');
    expect(results.machine).toMatchObject({ cores: expect.any(Number), node: process.version });
  });

  it('core: every candidate measured, ratios finite, each hash path proven', () => {
    const core = results.sections.core!.result;
    expect(core.rows.map((r: { id: string }) => r.id)).toEqual(['floor-node', 'oneshot-node', 'floor-node-await', 'floor-web', 'auth-node', 'auth-node-module', 'auth-web']);
    for (const row of core.rows) expect(finite(row.opsPerSec) && row.opsPerSec > 0, row.id).toBe(true);
    for (const [name, value] of Object.entries(core.ratios)) expect(finite(value) && (value as number) > 0, name).toBe(true);
    expect(core.hashPathCheck).toEqual({ subtleDigestsNodePath: 0, subtleDigestsWebPath: 1 });
    expect(typeof core.target.met).toBe('boolean');
  });

  it('http: three frameworks, four variants each, no errors, auth really on', () => {
    const http = results.sections.http!.result;
    expect(http.frameworks.map((f: { framework: string }) => f.framework)).toEqual(['hono', 'express', 'koa']);
    for (const f of http.frameworks) {
      expect(f.measured, `${f.framework}: ${f.reason}`).toBe(true);
      expect(f.checks).toEqual({
        floor: { validKeyStatus: 200, unknownKeyStatus: 200 },
        async: { validKeyStatus: 200, unknownKeyStatus: 200 },
        finora: { validKeyStatus: 200, unknownKeyStatus: 401 },
        peer: { validKeyStatus: 200, unknownKeyStatus: 401 },
      });
      expect(f.variants.map((v: { variant: string }) => v.variant)).toEqual(['floor', 'async', 'finora', 'peer']);
      for (const v of f.variants) {
        expect(v.rps, `${f.framework}/${v.variant}`).toBeGreaterThan(0);
        expect(finite(v.cpuMicrosPerRequest)).toBe(true);
        expect({ errors: v.errors, non2xx: v.non2xx }).toEqual({ errors: 0, non2xx: 0 });
      }
      for (const ratio of Object.values(f.ratios) as { median: number }[]) expect(finite(ratio.median)).toBe(true);
    }
    expect(http.targets).toHaveLength(3);
  });

  it('cold: one store lookup for each burst of 1,000 concurrent requests, latency figures present', () => {
    const cold = results.sections.cold!.result;
    expect(cold.coalescing).toHaveLength(5);
    for (const c of cold.coalescing) {
      expect(c.requests).toBe(1_000);
      expect(c.storeLookups, c.via).toBe(1);
      expect(Object.values(c.statuses).reduce((a: number, b) => a + (b as number), 0)).toBe(1_000);
    }
    expect(cold.latency[0]).toMatchObject({ store: 'memory', storeLookups: cold.latency[0].samples });
    expect(finite(cold.latency[0].coldP99Us)).toBe(true);
  });

  it('flood: hit rate, lookups per random key and heap readings', () => {
    const flood = results.sections.flood!.result;
    expect(flood.check.hotHitRate).toBeGreaterThanOrEqual(0);
    expect(flood.check.hotHitRate).toBeLessThanOrEqual(1);
    expect(flood.check.repeatedRandomLookups).toBe(0);
    expect(flood.check.randomLookups).toBe(flood.check.randomRequests);
    expect(flood.heapPass.heap).toHaveLength(11);
    for (const reading of flood.heapPass.heap) expect(reading.heapMiB).toBeGreaterThan(0);
    expect(flood.targets).toHaveLength(3);
  });

  it('memory: both record kinds measured, the cache held every key', () => {
    const memory = results.sections.memory!.result;
    expect(memory.variants).toHaveLength(2);
    for (const v of memory.variants) {
      expect(v.bytesPerCachedKey).toBeGreaterThan(0);
      expect(v.storeLookupsFill).toBe(memory.keys);
      expect(v.storeLookupsSecondPass).toBe(0);
    }
    expect(finite(memory.mibPer100kKeys)).toBe(true);
  });

  it('store and gateway scripts, when present, print JSON the report can read', async () => {
    const { storeFigures } = await import('../bench/report.mjs');
    for (const store of ['sqlite', 'redis', 'postgres']) {
      const section = results.sections[`stores-${store}`];
      if (left.includes(`stores-${store}`) || section?.status === 'not-present') continue;
      expect(section?.status, store).toBe('ok');
      const figures = storeFigures(section!.result);
      expect(finite(figures?.fleet?.p50Ms), `${store} fleet revocation`).toBe(true);
      expect(finite((figures?.findByHash ?? figures?.authenticateMiss)?.p50Ms), `${store} cold lookup`).toBe(true);
    }
    const gateway = results.sections.gateway;
    if (gateway && gateway.status !== 'not-present') expect(typeof gateway.result).toBe('object');
  });

  it('renders BENCHMARKS.md and the charts from the results', async () => {
    const { renderMarkdown, renderSvgs } = await import('../bench/report.mjs');
    const markdown: string = renderMarkdown(results);
    for (const heading of ['## Targets', '## 1. Core', '## 2. HTTP', '## 3. Cold path', '## 4. Flood', '## 5. Memory', '## 6. Fleet revocation', '## 7. Gateway']) {
      expect(markdown).toContain(heading);
    }
    expect(markdown).not.toMatch(/undefined|NaN/);
    const svgs: Record<string, string> = renderSvgs(results);
    expect(Object.keys(svgs).sort()).toEqual(['core.svg', 'http-cpu.svg', 'http.svg']);
    for (const svg of Object.values(svgs)) {
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(svg).not.toMatch(/undefined|NaN/);
    }
  });
});
