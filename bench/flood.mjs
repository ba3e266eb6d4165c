// Section 4: a flood of distinct random well-formed keys mixed with a hot set of valid keys. The hot keys must stay
// cached (hit rate >= 99%), each random key may cost at most one store lookup, and the heap must stay bounded.
// Run with node --expose-gc (bench/run.mjs does).
//
// Two passes over fresh authenticators with default cache options: the first checks lookups per random key with a
// Set of the hashes the store was asked for (which grows with the flood, so it would spoil a heap reading); the
// second keeps only counters and reads the heap, after a full collection, at every tenth of the flood.

import { countingStore, emit, issueKeys, loadCore, log, machine, MiB, parseArgs, randomKey, round, settledHeap, sized } from './lib.mjs';

const args = parseArgs();
const RANDOM = sized(args, 100_000, 10_000, 2_000);
const HOT = 1_000;
const WAVE = 100; // requests in flight at once: half random, half hot
const core = await loadCore();

const { store: inner, keys: hotKeys } = await issueKeys(core, HOT);
const hotHeaders = hotKeys.map((k) => `Bearer ${k}`);
const hotHashes = new Set(await Promise.all(hotKeys.map((k) => core.sha256Hex(k))));

async function pass({ trackHashes, heapCheckpoints }) {
  const randomLookupHashes = trackHashes ? new Set() : undefined;
  let randomLookups = 0;
  let repeatedRandomLookups = 0;
  let hotLookups = 0;
  const { store } = countingStore(inner, {
    onLookup(hash) {
      if (hotHashes.has(hash)) return void hotLookups++;
      randomLookups++;
      if (randomLookupHashes) {
        if (randomLookupHashes.has(hash)) repeatedRandomLookups++;
        randomLookupHashes.add(hash);
      }
    },
  });
  const counts = { hot: { hit: 0, other: 0 }, random: { refused: 0, allowed: 0 }, hotRefused: 0 };
  let phase = 'warm';
  const auth = core.createAuthenticator({
    store,
    onDecision(event) {
      if (phase !== 'flood') return;
      if (event.reason === 'ok') counts.hot[event.cache === 'hit' ? 'hit' : 'other']++;
      else if (event.reason === 'unknown') counts.random.refused++;
    },
  });
  // Warm: every hot key once (the compulsory misses), before the flood starts.
  for (const authorization of hotHeaders) await auth.authenticate({ authorization });
  phase = 'flood';
  const hotLookupsBeforeFlood = hotLookups;
  const heap = [];
  if (heapCheckpoints) heap.push({ randomSent: 0, heapMiB: round((await settledHeap()) / MiB, 1) });
  let segmentStart = performance.now();
  let sent = 0;
  let floodMs = 0;
  while (sent < RANDOM) {
    const wave = [];
    for (let i = 0; i < WAVE / 2 && sent < RANDOM; i++, sent++) {
      wave.push(auth.authenticate({ authorization: `Bearer ${randomKey()}` }));
      wave.push(auth.authenticate({ authorization: hotHeaders[(Math.random() * HOT) | 0] }));
    }
    for (const result of await Promise.all(wave)) if (!result.ok && result.error.status !== 401) counts.hotRefused++;
    if (heapCheckpoints && sent % (RANDOM / 10) === 0) {
      floodMs += performance.now() - segmentStart;
      heap.push({ randomSent: sent, heapMiB: round((await settledHeap()) / MiB, 1) });
      segmentStart = performance.now();
    }
  }
  if (!heapCheckpoints) floodMs = performance.now() - segmentStart;
  await auth.close();
  const hotRequests = counts.hot.hit + counts.hot.other;
  return {
    randomRequests: RANDOM,
    hotRequests,
    hotHitRate: round(counts.hot.hit / hotRequests, 5),
    hotLookupsDuringFlood: hotLookups - hotLookupsBeforeFlood,
    randomLookups,
    randomRefused: counts.random.refused,
    repeatedRandomLookups: trackHashes ? repeatedRandomLookups : undefined,
    maxLookupsPerRandomKey: trackHashes ? (repeatedRandomLookups > 0 ? '>1' : randomLookups > 0 ? 1 : 0) : undefined,
    non401Refusals: counts.hotRefused,
    // Flood time excludes the heap readings; wall-clock for everything in flight, two requests per random key.
    requestsPerSecond: Math.round(((RANDOM + hotRequests) * 1000) / floodMs),
    heap: heapCheckpoints ? heap : undefined,
  };
}

log(`flood: ${RANDOM} random keys + as many requests over ${HOT} hot keys, ${WAVE} in flight`);
const check = await pass({ trackHashes: true, heapCheckpoints: false });
const heapPass = await pass({ trackHashes: false, heapCheckpoints: true });
const heapValues = heapPass.heap.map((h) => h.heapMiB);
const heapGrowthSecondHalfMiB = round(heapValues.at(-1) - heapValues[Math.floor(heapValues.length / 2)], 1);

emit({
  section: 'flood',
  quick: args.quick,
  hotKeys: HOT,
  inFlight: WAVE,
  cacheOptions: 'defaults (max 10,000 keys, negativeMax 10,000 hashes, ttl 30 s, negativeTtl 5 s)',
  check,
  heapPass,
  heapPeakMiB: Math.max(...heapValues),
  heapGrowthSecondHalfMiB,
  targets: [
    { what: 'hot keys cache hit rate >= 99%', value: check.hotHitRate, met: check.hotHitRate >= 0.99 && heapPass.hotHitRate >= 0.99 },
    { what: 'at most one store lookup per random key', value: check.repeatedRandomLookups, met: check.repeatedRandomLookups === 0 && check.randomLookups <= RANDOM },
    // Bounded: once the negative cache is full, more random keys add nothing lasting.
    { what: 'heap bounded (second half of the flood adds < 5 MiB)', value: heapGrowthSecondHalfMiB, met: heapGrowthSecondHalfMiB < 5 },
  ],
  machine: machine(),
  measuredAt: new Date().toISOString(),
});
