// Section 1: authenticate() for a cached key against its floor, one SHA-256 of the key (node:crypto and Web Crypto).
//
// Every candidate runs in the same process, in interleaved rounds (floor, candidate, floor, …), so a noisy
// neighbour slows all of them alike; ratios are taken per round and the median ratio is reported. The Web Crypto
// candidates form a group of their own (see below), so ratios across the groups pair rounds minutes apart.
// Core picks node:crypto at load time through process.getBuiltinModule; a second copy of the built core is loaded
// with that function hidden, which forces the Web Crypto path in the same process for a side-by-side figure.

import { createHash, hash as oneShotHash } from 'node:crypto';
import { distUrl, emit, loadCore, log, machine, median, opsPerSecond, parseArgs, round, issueKeys, sized } from './lib.mjs';

const args = parseArgs();
const ROUNDS = sized(args, 12, 3, 1);
const ROUND_MS = sized(args, 300, 100, 20);

const core = await loadCore();

// A separate module instance (different URL) that evaluates keys.ts without process.getBuiltinModule.
const savedGetBuiltin = process.getBuiltinModule;
process.getBuiltinModule = undefined;
const webCore = await import(`${distUrl('core')}?webcrypto`);
process.getBuiltinModule = savedGetBuiltin;

const { store, keys } = await issueKeys(core, 1);
const apiKey = keys[0];
const authorization = `Bearer ${apiKey}`;
const nodeAuth = core.createAuthenticator({ store });
const webAuth = webCore.createAuthenticator({ store });

// Prove which hash path each instance takes, by counting Web Crypto digests during one authenticate().
async function subtleDigestsDuring(fn) {
  const subtle = globalThis.crypto.subtle;
  const original = subtle.digest;
  let calls = 0;
  subtle.digest = function countedDigest(...digestArgs) {
    calls++;
    return original.apply(this, digestArgs);
  };
  try {
    await fn();
  } finally {
    delete subtle.digest;
  }
  return calls;
}
for (const [name, auth] of [['node', nodeAuth], ['web', webAuth]]) {
  const result = await auth.authenticate({ authorization });
  if (!result.ok) throw new Error(`${name} authenticator refused the bench key: ${result.error.code}`);
}
const digestsNodePath = await subtleDigestsDuring(() => nodeAuth.authenticate({ authorization }));
const digestsWebPath = await subtleDigestsDuring(() => webAuth.authenticate({ authorization }));
if (digestsNodePath !== 0 || digestsWebPath !== 1) {
  throw new Error(`hash path not as expected: node path made ${digestsNodePath} subtle digests, web path ${digestsWebPath}`);
}

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let sink = '';
let sinkResult;

const candidates = [
  {
    id: 'floor-node',
    label: 'floor: node:crypto createHash, sync',
    kind: 'sync',
    fn: () => {
      sink = createHash('sha256').update(apiKey).digest('hex');
    },
  },
  {
    // Not the floor the target names; shown because core could hash this way (Node >= 20.12 has crypto.hash).
    id: 'oneshot-node',
    label: "for reference: node:crypto hash('sha256', key, 'hex'), one-shot, sync",
    kind: 'sync',
    fn: () => {
      sink = oneShotHash('sha256', apiKey, 'hex');
    },
  },
  {
    id: 'floor-node-await',
    label: 'floor: node:crypto createHash in an awaited async function',
    kind: 'async',
    fn: async () => {
      sink = createHash('sha256').update(apiKey).digest('hex');
    },
  },
  {
    id: 'floor-web',
    label: 'floor: await crypto.subtle.digest + hex',
    kind: 'async',
    fn: async () => {
      const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(apiKey)));
      let out = '';
      for (const byte of bytes) out += HEX[byte];
      sink = out;
    },
  },
  {
    id: 'auth-node',
    label: 'authenticate(), cached key, no module (node:crypto path, the default on Node)',
    kind: 'async',
    fn: () => nodeAuth.authenticate({ authorization }),
  },
  {
    id: 'auth-node-module',
    label: "authenticate(), cached key, module 'invoices' (node:crypto path)",
    kind: 'async',
    fn: () => nodeAuth.authenticate({ authorization, module: 'invoices' }),
  },
  {
    // What the Express and Fastify adapters call: the same decision, returned at once for a cached key.
    id: 'auth-node-now',
    label: "authenticateNow(), cached key, module 'invoices' (no promise: what Express and Fastify use)",
    kind: 'sync',
    fn: () => {
      sinkResult = nodeAuth.authenticateNow({ authorization, module: 'invoices' });
    },
  },
  {
    id: 'auth-web',
    label: 'authenticate(), cached key, no module (Web Crypto path, forced)',
    kind: 'async',
    fn: () => webAuth.authenticate({ authorization }),
  },
];

// Two groups, each interleaved on its own: a Web Crypto candidate leaves thread-pool work and garbage behind that
// slows whatever runs next, which would handicap a node:crypto floor scheduled after it. Within a group the order
// rotates every round, so no candidate always runs right after the same neighbour.
const groups = [candidates.filter((c) => !c.id.endsWith('web')), candidates.filter((c) => c.id.endsWith('web'))];
log(`core: ${ROUNDS} rounds of ${ROUND_MS} ms per candidate`);
const samples = Object.fromEntries(candidates.map((c) => [c.id, []]));
for (const group of groups) {
  for (const c of group) await opsPerSecond(c.fn, ROUND_MS, c.kind); // warm-up, not recorded
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < group.length; i++) {
      const c = group[(i + r) % group.length];
      samples[c.id].push(await opsPerSecond(c.fn, ROUND_MS, c.kind));
    }
  }
}
if (sink.length !== 64) throw new Error('floor produced no digest');
if (sinkResult?.ok !== true) throw new Error('authenticateNow did not answer the cached key at once');

// Per-round ratio: how many times longer the candidate takes than its floor in the same round.
const ratio = (candidate, floor) =>
  round(median(samples[candidate].map((ops, i) => samples[floor][i] / ops)), 3);

const rows = candidates.map((c) => ({
  id: c.id,
  label: c.label,
  opsPerSec: Math.round(median(samples[c.id])),
  nsPerOp: round(1e9 / median(samples[c.id]), 0),
  minOpsPerSec: Math.round(Math.min(...samples[c.id])),
  maxOpsPerSec: Math.round(Math.max(...samples[c.id])),
}));

// The target is judged against the faster of the two createHash floors in each round: oddly, a synchronous burst of
// createHash calls runs slower per call than the same calls awaited one at a time (the native Hash objects pile up
// for the collector), and an awaited floor is also the like-for-like one for an awaited authenticate().
const fastestFloorRatio = (candidate) =>
  round(median(samples[candidate].map((ops, i) => Math.max(samples['floor-node'][i], samples['floor-node-await'][i]) / ops)), 3);
const ratios = {
  authNodeVsFastestNodeFloor: fastestFloorRatio('auth-node'),
  authNodeModuleVsFastestNodeFloor: fastestFloorRatio('auth-node-module'),
  authNodeNowVsFastestNodeFloor: fastestFloorRatio('auth-node-now'),
  authNodeVsNodeFloor: ratio('auth-node', 'floor-node'),
  authNodeModuleVsNodeFloor: ratio('auth-node-module', 'floor-node'),
  authNodeVsAwaitedNodeFloor: ratio('auth-node', 'floor-node-await'),
  authNodeVsOneShotHash: ratio('auth-node', 'oneshot-node'),
  createHashVsOneShotHash: ratio('floor-node', 'oneshot-node'),
  authWebVsWebFloor: ratio('auth-web', 'floor-web'),
  authWebVsNodeFloor: ratio('auth-web', 'floor-node'),
  authWebVsAuthNode: ratio('auth-web', 'auth-node'),
  webFloorVsNodeFloor: ratio('floor-web', 'floor-node'),
};

// The pieces of a cached authenticate() and of an adapter's module derivation, each alone in a tight loop: not
// additive (a tight loop keeps caches warm that a server's request does not), but they rank where the time goes.
const { LRUCache } = await import('lru-cache');
const lru = new LRUCache({ max: 10_000, ttl: 30_000, ttlResolution: 0, perf: { now: Date.now }, fetchMethod: async () => ({ record: {} }) });
const cacheKey = createHash('sha256').update(apiKey).digest('hex');
await lru.fetch(cacheKey);
let sinkValue;
const components = [
  { id: 'parse', label: 'parseAuthorization(header) (Bearer rules and key format regex)', kind: 'sync', fn: () => (sinkValue = core.parseAuthorization(authorization)) },
  { id: 'createHash', label: "createHash('sha256').update(key).digest('hex') (what core does on Node)", kind: 'sync', fn: () => (sinkValue = createHash('sha256').update(apiKey).digest('hex')) },
  { id: 'oneShotHash', label: "hash('sha256', key, 'hex') (node:crypto one-shot, Node >= 20.12)", kind: 'sync', fn: () => (sinkValue = oneShotHash('sha256', apiKey, 'hex')) },
  { id: 'lruFetchHit', label: 'lru-cache fetch() of a cached entry, awaited, with a status object (what core does)', kind: 'async', fn: async () => (sinkValue = await lru.fetch(cacheKey, { forceRefresh: false, status: {} })) },
  { id: 'lruGetHit', label: 'lru-cache get() of the same entry', kind: 'sync', fn: () => (sinkValue = lru.get(cacheKey)) },
  { id: 'moduleFromPath', label: "moduleFromPath('/v1/invoices')", kind: 'sync', fn: () => (sinkValue = core.moduleFromPath('/v1/invoices')) },
  { id: 'moduleFromPathMount', label: "moduleFromPath('/v1/invoices', '/api') (under a mount)", kind: 'sync', fn: () => (sinkValue = core.moduleFromPath('/v1/invoices', '/api')) },
  { id: 'authenticate', label: 'authenticate(), cached key, no module (as above)', kind: 'async', fn: () => nodeAuth.authenticate({ authorization }) },
];
const COMPONENT_ROUNDS = Math.max(1, Math.ceil(ROUNDS / 2));
for (const c of components) await opsPerSecond(c.fn, ROUND_MS / 2, c.kind);
const componentSamples = Object.fromEntries(components.map((c) => [c.id, []]));
for (let r = 0; r < COMPONENT_ROUNDS; r++) {
  for (const c of components) componentSamples[c.id].push(await opsPerSecond(c.fn, ROUND_MS / 2, c.kind));
}
void sinkValue;
const componentRows = components.map((c) => ({ id: c.id, label: c.label, nsPerOp: round(1e9 / median(componentSamples[c.id]), 0) }));

await nodeAuth.close();
await webAuth.close();

emit({
  section: 'core',
  quick: args.quick,
  rounds: ROUNDS,
  roundMs: ROUND_MS,
  hashPathCheck: { subtleDigestsNodePath: digestsNodePath, subtleDigestsWebPath: digestsWebPath },
  rows,
  ratios,
  components: componentRows,
  target: { metric: 'authNodeVsFastestNodeFloor', max: 1.5, met: ratios.authNodeVsFastestNodeFloor <= 1.5 },
  machine: machine(),
  measuredAt: new Date().toISOString(),
});
