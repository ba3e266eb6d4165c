// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self and inclusive time per function, and per file.
//
//   node bench/run.mjs --only http --cpu-prof --quick   # servers write .tmp/profiles/<framework>-<variant>.cpuprofile
//   node bench/profile-summary.mjs .tmp/profiles/hono-finora.cpuprofile [--top 25] [--filter finora] [--requests N]
//
// Self time: samples whose top frame is the function. Inclusive: samples with the function anywhere on the stack
// (counted once per sample). "By package" charges each sample to the package of the innermost JavaScript frame, so
// native work (hashing, writev, GC excepted) is charged to the code that asked for it. Percentages are of busy
// time: idle samples are left out.

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { rootDir } from './lib.mjs';

const argv = process.argv.slice(2);
const file = argv.find((a) => !a.startsWith('--'));
const option = (name, fallback) => {
  const at = argv.indexOf(`--${name}`);
  return at === -1 ? fallback : argv[at + 1];
};
if (!file) {
  console.error('usage: node bench/profile-summary.mjs PROFILE.cpuprofile [--top N] [--filter TEXT]');
  process.exit(2);
}
const top = Number(option('top', 25));
// With --requests N (how many requests the profiled run served), times are also shown per request.
const requests = Number(option('requests', 0));
const filter = option('filter', undefined);

const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const shortUrl = (url) => {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const rel = relative(rootDir, path);
  const pnpm = rel.match(/node_modules\/\.pnpm\/[^/]+\/node_modules\/(.*)$/);
  return pnpm ? pnpm[1] : rel.startsWith('..') ? path : rel;
};
const label = (n) => {
  const f = n.callFrame;
  return `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
};

const packageOf = (url) => {
  const short = shortUrl(url);
  if (short === '(native)') return undefined;
  const ws = short.match(/^packages\/([^/]+)\//);
  if (ws) return `@finora-auth/${ws[1]}`;
  if (short.startsWith('node:')) return short.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  const dep = short.match(/^((?:@[^/]+\/)?[^/]+)\//);
  return dep ? dep[1] : short;
};

// Time per sample: timeDeltas[i] belongs to samples[i].
const self = new Map();
const inclusive = new Map();
const selfFile = new Map();
const byPackage = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const node = byId.get(id);
  if (node.callFrame.functionName === '(idle)') return;
  total += dt;
  let owner = ['(garbage collector)', '(program)'].includes(node.callFrame.functionName) ? node.callFrame.functionName : undefined;
  for (let cur = id; owner === undefined && cur !== undefined; cur = parent.get(cur)) owner = packageOf(byId.get(cur).callFrame.url);
  byPackage.set(owner ?? '(native, no JS caller)', (byPackage.get(owner ?? '(native, no JS caller)') ?? 0) + dt);
  const key = label(node);
  self.set(key, (self.get(key) ?? 0) + dt);
  const fileKey = shortUrl(node.callFrame.url);
  selfFile.set(fileKey, (selfFile.get(fileKey) ?? 0) + dt);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = label(byId.get(cur));
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
  }
});

const show = (title, map) => {
  console.log(`\n${title}`);
  const rows = [...map.entries()].filter(([k]) => !filter || k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, v] of rows) {
    const perRequest = requests ? `  ${(v / requests).toFixed(2).padStart(7)} µs/req` : '';
    console.log(`${((v / total) * 100).toFixed(1).padStart(6)}%  ${(v / 1000).toFixed(0).padStart(7)} ms${perRequest}  ${k}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s busy (idle left out)`);
show('by package (natives charged to their JS caller)', byPackage);
show('self time by file', selfFile);
show('self time by function', self);
show('inclusive time by function', inclusive);
