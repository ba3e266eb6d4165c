// Section 5: heap held by an authenticator whose cache holds 100,000 keys. Run with node --expose-gc.
//
// The store and the plaintext keys exist before the first reading, so the difference is what the authenticator
// itself holds: lru-cache's preallocated arrays for `max` entries, and per key the entry, the record the store
// returned (key and account objects, their strings) and the 64-character hash used as the cache key.
// MemoryKeyStore returns records whose strings are shared with the store, which would understate a real
// deployment; a database driver allocates every string afresh. So the cache is measured twice: once on the memory
// store as it is, once with each record's strings copied (Buffer round trip, as pg and better-sqlite3 produce them).
// The target is judged on the larger reading.

import { countingStore, emit, issueKeys, loadCore, log, machine, MiB, parseArgs, round, settledHeap, sized } from './lib.mjs';

const args = parseArgs();
const KEYS = sized(args, 100_000, 10_000, 2_000);
const PER = 100_000;
const core = await loadCore();

log(`memory: issuing ${KEYS} keys`);
const { store: inner, keys } = await issueKeys(core, KEYS);
const headers = keys.map((k) => `Bearer ${k}`);

const fresh = (value) => (typeof value === 'string' ? Buffer.from(value, 'utf8').toString('utf8') : value);
const freshObject = (object) => Object.fromEntries(Object.entries(object).map(([k, v]) => [k, fresh(v)]));
const driverLike = {
  ...inner,
  subscribe: (listener) => inner.subscribe(listener),
  async findByHash(hash) {
    const record = await inner.findByHash(hash);
    return record && { key: freshObject(record.key), account: freshObject(record.account) };
  },
};

async function fillAll(auth) {
  for (let i = 0; i < headers.length; i += 100) {
    const results = await Promise.all(headers.slice(i, i + 100).map((authorization) => auth.authenticate({ authorization })));
    if (results.some((r) => !r.ok)) throw new Error('a cached key was refused');
  }
}

async function measure(variant, base) {
  const { store, counter } = countingStore(base);
  const before = await settledHeap();
  let auth = core.createAuthenticator({ store, cache: { max: KEYS, ttlMs: 600_000 } });
  const empty = await settledHeap();
  await fillAll(auth);
  const filled = await settledHeap();
  // Every key again: all must be hits, or the reading above was not of a full cache. V8 sometimes compacts the
  // entries' layout on this second touch, so the reading after it can be lower; the first reading is the one judged.
  const lookupsAfterFill = counter.lookups;
  await fillAll(auth);
  const lookupsOnSecondPass = counter.lookups - lookupsAfterFill;
  const afterSecondPass = await settledHeap();
  await auth.close();
  auth = undefined;
  return {
    variant,
    heapBeforeMiB: round(before / MiB, 1),
    emptyAuthenticatorMiB: round((empty - before) / MiB, 2),
    filledDeltaMiB: round((filled - before) / MiB, 1),
    afterSecondPassDeltaMiB: round((afterSecondPass - before) / MiB, 1),
    bytesPerCachedKey: Math.round((filled - before) / KEYS),
    mibPer100kKeys: round((((filled - before) / KEYS) * PER) / MiB, 1),
    storeLookupsFill: lookupsAfterFill,
    storeLookupsSecondPass: lookupsOnSecondPass,
  };
}

log('memory: filling the cache (memory store, shared strings)');
const shared = await measure('MemoryKeyStore records (strings shared with the store)', inner);
log('memory: filling the cache (driver-like fresh strings)');
const driver = await measure('records with fresh strings, as a database driver returns them', driverLike);
const worst = Math.max(shared.mibPer100kKeys, driver.mibPer100kKeys);

emit({
  section: 'memory',
  quick: args.quick,
  keys: KEYS,
  cacheOptions: { max: KEYS, ttlMs: 600_000 },
  variants: [shared, driver],
  mibPer100kKeys: worst,
  target: {
    what: 'heap per 100,000 cached keys < 64 MB',
    value: worst,
    unit: 'MiB',
    met: worst * MiB < 64e6 && shared.storeLookupsSecondPass === 0 && driver.storeLookupsSecondPass === 0,
  },
  machine: machine(),
  measuredAt: new Date().toISOString(),
});
